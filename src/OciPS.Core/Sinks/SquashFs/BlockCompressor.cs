using System.Collections.Concurrent;
using System.IO.Compression;

namespace OciPS.Core.Sinks.SquashFs;

/// <summary>
/// Compresses one squashfs block (data, fragment or metadata) on its own, as the format requires. Not
/// thread-safe: <see cref="Pool"/> hands each compressing thread its own.
/// </summary>
internal abstract class BlockCompressor : IDisposable
{
    /// <summary>The compressor id in the superblock.</summary>
    public abstract ushort Id { get; }

    /// <summary>How large the output buffer for <paramref name="length"/> input bytes must be.</summary>
    public static int Bound(int length) => length + (length >> 3) + 1024;

    /// <summary>Compresses <paramref name="input"/> into <paramref name="output"/> (at least <see cref="Bound"/> long); returns the length written.</summary>
    public abstract int Compress(ReadOnlySpan<byte> input, byte[] output);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    public static Func<BlockCompressor> Factory(SquashFsCompression compression, int? level) => compression switch
    {
        SquashFsCompression.Zstd => () => new ZstdBlockCompressor(level ?? 3),
        _ => () => new ZlibBlockCompressor(level switch
        {
            null => CompressionLevel.Optimal,
            <= 3 => CompressionLevel.Fastest,
            >= 8 => CompressionLevel.SmallestSize,
            _ => CompressionLevel.Optimal,
        }),
    };

    /// <summary>Compressors kept for reuse across threads (a zstd context is costly to create).</summary>
    internal sealed class Pool(Func<BlockCompressor> create) : IDisposable
    {
        private readonly ConcurrentBag<BlockCompressor> _idle = [];

        public int Compress(ReadOnlySpan<byte> input, byte[] output)
        {
            if (!_idle.TryTake(out var compressor))
            {
                compressor = create();
            }

            try
            {
                return compressor.Compress(input, output);
            }
            finally
            {
                _idle.Add(compressor);
            }
        }

        public void Dispose()
        {
            while (_idle.TryTake(out var compressor))
            {
                compressor.Dispose();
            }
        }
    }

    /// <summary>"gzip" in squashfs is a bare zlib stream.</summary>
    private sealed class ZlibBlockCompressor(CompressionLevel level) : BlockCompressor
    {
        public override ushort Id => 1;

        public override int Compress(ReadOnlySpan<byte> input, byte[] output)
        {
            using var target = new MemoryStream(output, 0, output.Length, writable: true);
            using (var zlib = new ZLibStream(target, level, leaveOpen: true))
            {
                zlib.Write(input);
            }

            return (int)target.Position;
        }
    }

    private sealed class ZstdBlockCompressor(int level) : BlockCompressor
    {
        private readonly ZstdSharp.Compressor _compressor = new(level);

        public override ushort Id => 6;

        public override int Compress(ReadOnlySpan<byte> input, byte[] output) => _compressor.Wrap(input, output);

        public override void Dispose()
        {
            _compressor.Dispose();
            base.Dispose();
        }
    }
}
