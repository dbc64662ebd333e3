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
    private readonly int _blockSize;
    private byte[]? _ours;
    private byte[]? _theirs;
    private long _position;

    public DataBlockWriter(SafeFileHandle output, long start, BlockCompressor.Pool compressors, int blockSize, int parallelism)
    {
        _output = output;
        _position = start;
        _compressors = compressors;
        _blockSize = blockSize;
        Buffers = ArrayPool<byte>.Create(BlockCompressor.Bound(blockSize), 4 * parallelism + 8);
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(2 * parallelism) { SingleReader = true, SingleWriter = true });
        _writer = Task.Run(WriteAllAsync);
    }

    public ArrayPool<byte> Buffers { get; }

    /// <summary>Whether a file's blocks were found to be another's and taken back (after <see cref="CompleteAsync"/>).</summary>
    public bool Deduplicated { get; private set; }

    /// <summary>The fragment blocks written so far (start, on-disk size); complete after <see cref="CompleteAsync"/>.</summary>
    public IReadOnlyList<(long Start, uint Size)> Fragments => _fragments;

    /// <summary>Queues block <paramref name="index"/> of <paramref name="file"/>; the buffer now belongs to the writer.</summary>
    public ValueTask AddBlockAsync(FileData file, int index, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        var zeros = buffer.AsSpan(0, length).IndexOfAnyExcept((byte)0) < 0;
        if (zeros)
        {
            Buffers.Return(buffer);
            return EnqueueAsync(new Pending(file, index, null, null, length), cancellationToken);
        }

        return EnqueueAsync(new Pending(file, index, buffer, Compress(buffer, length), length), cancellationToken);
    }

    /// <summary>
    /// Queues a fragment block; its entry in the fragment table gets the next index. The task returned
    /// completes with where it was written (start, on-disk size), so it can be read back.
    /// </summary>
    public async ValueTask<Task<(long Start, uint Size)>> AddFragmentAsync(byte[] buffer, int length, CancellationToken cancellationToken)
    {
        var written = new TaskCompletionSource<(long Start, uint Size)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await EnqueueAsync(new Pending(null, -1, buffer, Compress(buffer, length), length, Written: written), cancellationToken).ConfigureAwait(false);
        return written.Task;
    }

    /// <summary>
    /// <paramref name="file"/>, the last file queued, may hold the same bytes as <paramref name="original"/> (their
    /// hashes matched). Once both are written their stored blocks are compared byte for byte: if equal, the
    /// file takes the original's blocks and its own are taken back; if not (a hash collision), it keeps its own.
    /// Equal stored blocks mean equal content whatever the compressor, so a collision can never merge two files.
    /// </summary>
    public ValueTask ConfirmDuplicateAsync(FileData file, FileData original, CancellationToken cancellationToken) =>
        EnqueueAsync(new Pending(file, -1, null, null, 0, Original: original), cancellationToken);

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
                try
                {
                    await WriteAsync(pending).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    pending.Written?.TrySetException(ex);
                    throw;
                }
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
        if (pending.Original is { } original)
        {
            var duplicate = pending.File!;
            if (await SameBlocksAsync(duplicate, original).ConfigureAwait(false))
            {
                _position = duplicate.BlocksStart;
                duplicate.BlocksStart = original.BlocksStart;
                Deduplicated = true;
            }

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
            pending.Written?.TrySetResult((_position, size));
        }

        _position += size & ~Uncompressed;
    }

    /// <summary>Whether the stored blocks of two files, both written, are the same bytes.</summary>
    private async Task<bool> SameBlocksAsync(FileData file, FileData original)
    {
        if (!file.BlockSizes.AsSpan().SequenceEqual(original.BlockSizes))
        {
            return false;
        }

        long length = 0;
        foreach (var size in file.BlockSizes)
        {
            length += size & ~Uncompressed;
        }

        _ours ??= new byte[_blockSize];
        _theirs ??= new byte[_blockSize];
        for (long done = 0; done < length;)
        {
            var count = (int)Math.Min(_blockSize, length - done);
            await ReadExactlyAsync(_ours.AsMemory(0, count), file.BlocksStart + done).ConfigureAwait(false);
            await ReadExactlyAsync(_theirs.AsMemory(0, count), original.BlocksStart + done).ConfigureAwait(false);
            if (!_ours.AsSpan(0, count).SequenceEqual(_theirs.AsSpan(0, count)))
            {
                return false;
            }

            done += count;
        }

        return true;
    }

    /// <summary>Reads bytes already written to the image.</summary>
    internal async ValueTask ReadExactlyAsync(Memory<byte> buffer, long offset)
    {
        for (var filled = 0; filled < buffer.Length;)
        {
            var read = await RandomAccess.ReadAsync(_output, buffer[filled..], offset + filled).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException($"The image being written ended at {offset + filled} bytes, before what was written there.");
            }

            filled += read;
        }
    }

    /// <summary>After a failure: let running compressions finish so no buffer is used after the sink is gone.</summary>
    private async Task DrainAsync()
    {
        while (_queue.Reader.TryRead(out var pending))
        {
            pending.Written?.TrySetCanceled();
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

    /// <summary>
    /// One thing to write, in order: a block of <see cref="File"/> (<see cref="Index"/> ≥ 0), a fragment block
    /// (<see cref="File"/> null; <see cref="Written"/> told where), or a duplicate to confirm (<see cref="Original"/>).
    /// </summary>
    private sealed record Pending(
        FileData? File,
        int Index,
        byte[]? Input,
        Task<(byte[] Output, int Length)>? Compressed,
        int Length,
        FileData? Original = null,
        TaskCompletionSource<(long Start, uint Size)>? Written = null);
}
