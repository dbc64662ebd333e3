using System.Runtime.CompilerServices;
using OciPS.Core.Content;

namespace OciPS.Core.Layers.Tar;

/// <summary>
/// A forward-only view of the archive stream that knows its position. Over a <see cref="ReadAheadStream"/>
/// it reads from the read-ahead blocks themselves; over any other stream, through a buffer of its own.
/// Each operation has a synchronous part that uses the bytes ready now (<c>Try…</c>, <see cref="Peek"/>),
/// so that the common case runs no async machinery; the async forms wait only when nothing is ready.
/// </summary>
internal sealed class TarInput(Stream stream, bool leaveOpen) : IAsyncDisposable
{
    private readonly IBufferedSource _source = stream as IBufferedSource ?? new StreamBufferedSource(stream);

    public long Position { get; private set; }

    /// <summary>The bytes ready now (empty when the next must be waited for, or at the end); valid until the next read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<byte> Peek() => _source.Peek();

    /// <summary>Marks the first <paramref name="count"/> bytes of <see cref="Peek"/> as read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Consume(int count)
    {
        if (count > 0)
        {
            _source.Consume(count);
            Position += count;
        }
    }

    /// <summary>Waits until bytes are ready; false at the end of the stream.</summary>
    public ValueTask<bool> FillAsync(CancellationToken cancellationToken) => _source.FillAsync(cancellationToken);

    /// <summary>Copies what is ready now, up to <paramref name="destination"/>'s length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int TryRead(Span<byte> destination)
    {
        var ready = _source.Peek();
        var count = Math.Min(ready.Length, destination.Length);
        ready[..count].CopyTo(destination);
        Consume(count);
        return count;
    }

    /// <summary>Skips what is ready now, up to <paramref name="count"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int TrySkip(long count)
    {
        var step = (int)Math.Min(_source.Peek().Length, count);
        Consume(step);
        return step;
    }

    /// <summary>Fills <paramref name="destination"/> completely; returns the number of bytes read, less only at the end of the stream.</summary>
    public async ValueTask<int> ReadFullyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = TryRead(destination.Span[total..]);
            if (read == 0 && !await _source.FillAsync(cancellationToken).ConfigureAwait(false))
            {
                break;
            }

            total += read;
        }

        return total;
    }

    /// <summary>Reads up to <paramref name="destination"/>'s length, waiting only when nothing is ready.</summary>
    public ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        var read = TryRead(destination.Span);
        return read > 0 || destination.IsEmpty ? ValueTask.FromResult(read) : ReadAfterWaitAsync(destination, cancellationToken);
    }

    /// <summary>The synchronous twin of <see cref="ReadAsync"/>, for consumers that read content synchronously (LibGit2Sharp, StreamReader).</summary>
    public int Read(Span<byte> destination)
    {
        var read = TryRead(destination);
        return read > 0 || destination.IsEmpty || !_source.Fill() ? read : TryRead(destination);
    }

    /// <summary>Skips bytes; returns how many could be skipped (less only at the end of the stream).</summary>
    public async ValueTask<long> SkipAsync(long count, CancellationToken cancellationToken)
    {
        var skipped = 0L;
        while (skipped < count)
        {
            var step = TrySkip(count - skipped);
            if (step == 0 && !await _source.FillAsync(cancellationToken).ConfigureAwait(false))
            {
                break;
            }

            skipped += step;
        }

        return skipped;
    }

    /// <summary>Reads whatever follows to the end of the stream (so that a verifying stream underneath sees its end).</summary>
    public async ValueTask<long> DrainAsync(CancellationToken cancellationToken) =>
        await SkipAsync(long.MaxValue, cancellationToken).ConfigureAwait(false);

    public ValueTask DisposeAsync() => leaveOpen ? ValueTask.CompletedTask : stream.DisposeAsync();

    private async ValueTask<int> ReadAfterWaitAsync(Memory<byte> destination, CancellationToken cancellationToken) =>
        await _source.FillAsync(cancellationToken).ConfigureAwait(false) ? TryRead(destination.Span) : 0;
}
