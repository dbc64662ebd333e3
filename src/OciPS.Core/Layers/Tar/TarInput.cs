namespace OciPS.Core.Layers.Tar;

/// <summary>A forward-only buffered view of the archive stream that knows its position.</summary>
internal sealed class TarInput(Stream stream, bool leaveOpen) : IAsyncDisposable
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _start;
    private int _end;

    public long Position { get; private set; }

    /// <summary>Fills <paramref name="destination"/> completely; returns the number of bytes read, less only at the end of the stream.</summary>
    public async ValueTask<int> ReadFullyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = await ReadAsync(destination[total..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    /// <summary>Reads up to <paramref name="destination"/>'s length; large reads bypass the buffer.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.Length == 0)
        {
            return 0;
        }

        if (_start == _end)
        {
            if (destination.Length >= _buffer.Length)
            {
                var direct = await stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
                Position += direct;
                return direct;
            }

            _start = 0;
            _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
            if (_end == 0)
            {
                return 0;
            }
        }

        var count = Math.Min(destination.Length, _end - _start);
        _buffer.AsMemory(_start, count).CopyTo(destination);
        _start += count;
        Position += count;
        return count;
    }

    /// <summary>The synchronous twin of <see cref="ReadAsync"/>, for consumers that read content synchronously (LibGit2Sharp, StreamReader).</summary>
    public int Read(Span<byte> destination)
    {
        if (destination.Length == 0)
        {
            return 0;
        }

        if (_start == _end)
        {
            if (destination.Length >= _buffer.Length)
            {
                var direct = stream.Read(destination);
                Position += direct;
                return direct;
            }

            _start = 0;
            _end = stream.Read(_buffer);
            if (_end == 0)
            {
                return 0;
            }
        }

        var count = Math.Min(destination.Length, _end - _start);
        _buffer.AsSpan(_start, count).CopyTo(destination);
        _start += count;
        Position += count;
        return count;
    }

    /// <summary>Skips bytes; returns how many could be skipped (less only at the end of the stream).</summary>
    public async ValueTask<long> SkipAsync(long count, CancellationToken cancellationToken)
    {
        var skipped = 0L;
        while (skipped < count)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (_end == 0)
                {
                    break;
                }
            }

            var step = (int)Math.Min(count - skipped, _end - _start);
            _start += step;
            skipped += step;
            Position += step;
        }

        return skipped;
    }

    /// <summary>Reads whatever follows to the end of the stream (so that a verifying stream underneath sees its end).</summary>
    public async ValueTask<long> DrainAsync(CancellationToken cancellationToken) =>
        await SkipAsync(long.MaxValue, cancellationToken).ConfigureAwait(false);

    public ValueTask DisposeAsync() => leaveOpen ? ValueTask.CompletedTask : stream.DisposeAsync();
}
