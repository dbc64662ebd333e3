using System.Buffers;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace OciPS.Core.Sinks.SquashFs;

/// <summary>Where a regular file's bytes are in the image; filled in by <see cref="DataBlockWriter"/> as its blocks are written.</summary>
internal sealed class FileData(long size, int blockCount)
{
    public const uint NoFragment = 0xFFFFFFFF;

    public long Size { get; } = size;

    /// <summary>The position of the first block (the place it would be, for a file whose blocks are all holes).</summary>
    public long BlocksStart { get; set; }

    /// <summary>The on-disk size of each full block: bit 24 set when stored uncompressed, 0 for a block of zeros.</summary>
    public uint[] BlockSizes { get; } = blockCount == 0 ? [] : new uint[blockCount];

    /// <summary>The fragment block holding the tail (shorter than a block), or <see cref="NoFragment"/>.</summary>
    public uint FragmentIndex { get; set; } = NoFragment;

    public uint FragmentOffset { get; set; }

    /// <summary>Bytes of holes: blocks of zeros that take no space.</summary>
    public long SparseBytes { get; set; }
}

/// <summary>
/// The data area of the image: blocks are compressed in parallel on the thread pool (at most
/// <c>parallelism</c> at once plus as many waiting), and written in the order they were given, so the
/// output does not depend on which block finished first. Input buffers come from and go back to
/// <see cref="Buffers"/>; a caller never holds more than a bounded number of blocks.
/// </summary>
internal sealed class DataBlockWriter : IAsyncDisposable
{
    internal const uint Uncompressed = 1u << 24;
    private readonly SafeFileHandle _output;
    private readonly BlockCompressor.Pool _compressors;
    private readonly Channel<Pending> _queue;
    private readonly Task _writer;
    private readonly List<(long Start, uint Size)> _fragments = [];
    private long _position;

    public DataBlockWriter(SafeFileHandle output, long start, BlockCompressor.Pool compressors, int blockSize, int parallelism)
    {
        _output = output;
        _position = start;
        _compressors = compressors;
        Buffers = ArrayPool<byte>.Create(BlockCompressor.Bound(blockSize), 4 * parallelism + 8);
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(2 * parallelism) { SingleReader = true, SingleWriter = true });
        _writer = Task.Run(WriteAllAsync);
    }

    public ArrayPool<byte> Buffers { get; }

    /// <summary>The fragment blocks written so far (start, on-disk size); complete after <see cref="CompleteAsync"/>.</summary>
    public IReadOnlyList<(long Start, uint Size)> Fragments => _fragments;

    /// <summary>Queues block <paramref name="index"/> of <paramref name="file"/>; the buffer now belongs to the writer.</summary>
    public ValueTask AddBlockAsync(FileData file, int index, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        var zeros = buffer.AsSpan(0, length).IndexOfAnyExcept((byte)0) < 0;
        if (zeros)
        {
            Buffers.Return(buffer);
            return EnqueueAsync(new Pending(file, index, null, null, length, Rewind: false), cancellationToken);
        }

        return EnqueueAsync(new Pending(file, index, buffer, Compress(buffer, length), length, Rewind: false), cancellationToken);
    }

    /// <summary>Queues a fragment block; its entry in the fragment table gets the next index.</summary>
    public ValueTask AddFragmentAsync(byte[] buffer, int length, CancellationToken cancellationToken) =>
        EnqueueAsync(new Pending(null, -1, buffer, Compress(buffer, length), length, Rewind: false), cancellationToken);

    /// <summary>Takes back the blocks of <paramref name="file"/>, the last file queued: it turned out to duplicate another.</summary>
    public ValueTask RewindAsync(FileData file, CancellationToken cancellationToken) =>
        EnqueueAsync(new Pending(file, -1, null, null, 0, Rewind: true), cancellationToken);

    /// <summary>Waits until everything queued is written; returns the end of the data area.</summary>
    public async Task<long> CompleteAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        return _position;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try
        {
            await _writer.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Disposing after a failure: the failure has already been reported where it happened.
        }
    }

    private Task<(byte[] Output, int Length)> Compress(byte[] buffer, int length) => Task.Run(() =>
    {
        var output = Buffers.Rent(BlockCompressor.Bound(length));
        return (output, _compressors.Compress(buffer.AsSpan(0, length), output));
    });

    private async ValueTask EnqueueAsync(Pending pending, CancellationToken cancellationToken)
    {
        try
        {
            await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // The writer failed: its exception is the one to report.
            await _writer.ConfigureAwait(false);
            throw;
        }
    }

    private async Task WriteAllAsync()
    {
        try
        {
            await foreach (var pending in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                await WriteAsync(pending).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            _queue.Writer.TryComplete(ex);
            await DrainAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task WriteAsync(Pending pending)
    {
        if (pending.Rewind)
        {
            _position = pending.File!.BlocksStart;
            return;
        }

        if (pending.File is { } file && pending.Index == 0)
        {
            file.BlocksStart = _position;
        }

        uint size = 0;
        if (pending.Compressed is { } compressing)
        {
            var (output, length) = await compressing.ConfigureAwait(false);
            var input = pending.Input!;
            var stored = length < pending.Length ? output.AsMemory(0, length) : input.AsMemory(0, pending.Length);
            size = (uint)stored.Length | (length < pending.Length ? 0 : Uncompressed);
            await RandomAccess.WriteAsync(_output, stored, _position).ConfigureAwait(false);
            Buffers.Return(output);
            Buffers.Return(input);
        }

        if (pending.File is { } owner)
        {
            owner.BlockSizes[pending.Index] = size;
            if (size == 0)
            {
                owner.SparseBytes += pending.Length;
            }
        }
        else
        {
            _fragments.Add((_position, size));
        }

        _position += size & ~Uncompressed;
    }

    /// <summary>After a failure: let running compressions finish so no buffer is used after the sink is gone.</summary>
    private async Task DrainAsync()
    {
        while (_queue.Reader.TryRead(out var pending))
        {
            if (pending.Compressed is { } compressing)
            {
                try
                {
                    await compressing.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Already failing.
                }
            }
        }
    }

    private sealed record Pending(FileData? File, int Index, byte[]? Input, Task<(byte[] Output, int Length)>? Compressed, int Length, bool Rewind);
}
