using System.Collections.Concurrent;
using System.IO.Compression;
using OciPS.Core.Native;

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

    /// <param name="reproducible">
    /// Output must be the same on every machine (-SourceDateEpoch): zstd then always uses ZstdSharp,
    /// never the system's libzstd, whose version, and so whose exact output, varies between machines.
    /// </param>
    public static Func<BlockCompressor> Factory(SquashFsCompression compression, int? level, bool reproducible) => compression switch
    {
        SquashFsCompression.Zstd when !reproducible && NativeZstd.IsAvailable => () => new NativeZstdBlockCompressor(level ?? 3),
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

    /// <summary>zstd through the system's libzstd (<see cref="NativeZstd"/>).</summary>
    private sealed class NativeZstdBlockCompressor(int level) : BlockCompressor
    {
        private readonly NativeZstd.Context _context = NativeZstd.CreateContext(level);

        public override ushort Id => 6;

        public override int Compress(ReadOnlySpan<byte> input, byte[] output) => _context.Compress(input, output);

        public override void Dispose()
        {
            _context.Dispose();
            base.Dispose();
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

/// <summary>
/// Decompresses blocks this writer wrote (a fragment read back when a tail may repeat an earlier one).
/// Decompression gives the same bytes whichever library does it, so libzstd serves here even for reproducible images.
/// </summary>
internal sealed class BlockDecompressor(SquashFsCompression compression) : IDisposable
{
    private ZstdSharp.Decompressor? _zstd;

    /// <summary>Decompresses <paramref name="length"/> bytes of <paramref name="input"/> into <paramref name="output"/>; returns the length written.</summary>
    public int Decompress(byte[] input, int length, byte[] output)
    {
        if (compression == SquashFsCompression.Zstd)
        {
            if (NativeZstd.IsAvailable)
            {
                return NativeZstd.Decompress(input.AsSpan(0, length), output);
            }

            _zstd ??= new ZstdSharp.Decompressor();
            return _zstd.Unwrap(input.AsSpan(0, length), output);
        }

        using var zlib = new ZLibStream(new MemoryStream(input, 0, length, writable: false), CompressionMode.Decompress);
        return zlib.ReadAtLeast(output, output.Length, throwOnEndOfStream: false);
    }

    public void Dispose() => _zstd?.Dispose();
}
