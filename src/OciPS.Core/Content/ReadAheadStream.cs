using System.Buffers;
using System.Threading.Channels;
using System.Runtime.CompilerServices;

namespace OciPS.Core.Content;

/// <summary>
/// Reads its source on another thread, a few blocks ahead of the reader: the work behind the source
/// (reading the blob, checking its digest, decompressing, checking the diffID) runs on one core while
/// the reader (tar parsing, the merge, the sink's writes) runs on another. Memory is bounded by
/// <c>blockSize × depth</c>. A failure of the source surfaces at the read that reaches it.
/// </summary>
/// <remarks>
/// Blocks are filled completely (but the last), so a reader of fixed-size records that divide the
/// block size (tar's 512 bytes) finds each record whole in one block. Through
/// <see cref="IBufferedSource"/> a reader takes the bytes from the block itself, without a copy.
/// </remarks>
public sealed class ReadAheadStream : ReadOnlyStream, IBufferedSource
{
    private readonly Stream _source;
    private readonly Channel<Block> _blocks;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _producer;
    private Block? _current;
    private int _offset;
    private bool _ended;
    private bool _stopped;

    public ReadAheadStream(Stream source, int blockSize = 1 << 20, int depth = 4)
    {
        _source = source;
        _blocks = Channel.CreateBounded<Block>(new BoundedChannelOptions(depth) { SingleReader = true, SingleWriter = true });
        _producer = Task.Run(() => ProduceAsync(blockSize));
    }

    public override int Read(Span<byte> buffer) =>
        buffer.IsEmpty || Peek().IsEmpty && !Fill() ? 0 : Copy(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty ? ValueTask.FromResult(0)
        : !Peek().IsEmpty ? ValueTask.FromResult(Copy(buffer.Span))
        : ReadAfterWaitAsync(buffer, cancellationToken);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<byte> Peek()
    {
        if (_current is null && !_ended && _blocks.Reader.TryRead(out var block))
        {
            Take(block);
        }

        return _current is null ? default : _current.Buffer.AsSpan(_offset, _current.Length - _offset);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Consume(int count)
    {
        var block = _current!;
        _offset += count;
        if (_offset == block.Length)
        {
            ArrayPool<byte>.Shared.Return(block.Buffer);
            _current = null;
        }
    }

    public async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        while (_current is null && !_ended)
        {
            if (_blocks.Reader.TryRead(out var block))
            {
                Take(block);
                break;
            }

            if (!await _blocks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                await EndAsync().ConfigureAwait(false);
            }
        }

        return _current is not null;
    }

    public bool Fill()
    {
        while (_current is null && !_ended)
        {
            if (_blocks.Reader.TryRead(out var block))
            {
                Take(block);
                break;
            }

            if (!_blocks.Reader.WaitToReadAsync(_stop.Token).AsTask().GetAwaiter().GetResult())
            {
                EndAsync().GetAwaiter().GetResult();
            }
        }

        return _current is not null;
    }

    private async ValueTask<int> ReadAfterWaitAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        await FillAsync(cancellationToken).ConfigureAwait(false) ? Copy(buffer.Span) : 0;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            StopAsync().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _producer.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException || !_ended)
        {
            // The reader stopped early (or already saw the failure): what the source was doing no longer matters.
        }

        while (_blocks.Reader.TryRead(out var block))
        {
            ArrayPool<byte>.Shared.Return(block.Buffer);
        }

        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current.Buffer);
            _current = null;
        }

        await _source.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task ProduceAsync(int blockSize)
    {
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(blockSize);
                var filled = 0;
                int read;
                while (filled < blockSize && (read = await _source.ReadAsync(buffer.AsMemory(filled, blockSize - filled), _stop.Token).ConfigureAwait(false)) > 0)
                {
                    filled += read;
                }

                if (filled == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }

                await _blocks.Writer.WriteAsync(new Block(buffer, filled), _stop.Token).ConfigureAwait(false);
                if (filled < blockSize)
                {
                    break;
                }
            }

            _blocks.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _blocks.Writer.TryComplete(ex);
            throw;
        }
    }

    private void Take(Block block)
    {
        _current = block;
        _offset = 0;
    }

    /// <summary>The source ended: rethrows its failure, if that is why.</summary>
    private async Task EndAsync()
    {
        _ended = true;
        await _blocks.Reader.Completion.ConfigureAwait(false);
    }

    private int Copy(Span<byte> destination)
    {
        var ready = Peek();
        var count = Math.Min(destination.Length, ready.Length);
        ready[..count].CopyTo(destination);
        Consume(count);
        return count;
    }

    private sealed record Block(byte[] Buffer, int Length);
}
