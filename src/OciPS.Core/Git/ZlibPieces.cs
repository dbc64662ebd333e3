using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Reflection;
using OciPS.Core.Content;

namespace OciPS.Core.Git;

/// <summary>
/// One object's zlib stream cut into pieces that compress independently, so several cores can
/// compress one large file (and many small ones) at once. Each piece is raw deflate ending on a byte
/// boundary (a sync flush: an empty stored block), the last one with the final block; concatenated
/// behind the zlib header they are one valid zlib stream. The Adler-32 each piece's compressor computed
/// (SIMD in the native zlib) is combined into the object's trailer (<see cref="CombineAdler"/>).
/// </summary>
/// <remarks>
/// A piece starts with an empty window, so it cannot refer back into the piece before it: with pieces
/// of a mebibyte that costs well under 0.1% of the compressed size.
/// </remarks>
internal static class ZlibPieces
{
    /// <summary>
    /// The deflate level objects are compressed with. <c>git gc</c> keeps the compressed bytes of an
    /// object it does not turn into a delta, so this level is what the repository weighs even after a
    /// gc. The runtime's zlib (zlib-ng since .NET 9) at 7 compresses a Debian root filesystem about as
    /// well as git's zlib at its default level 6, at half the time of level 9.
    /// </summary>
    public const int Level = 7;

    private static readonly Func<Stream, ZLibStream> Create = CompressorFactory(Level);

    /// <summary>The zlib header's length: what a piece's output starts with.</summary>
    public const int HeaderLength = 2;

    private const int StoredBlock = 65535;

    /// <summary>
    /// Compresses <paramref name="input"/> into <paramref name="output"/>, as a zlib stream of its own:
    /// the header, the deflate data up to <c>End</c>, then (ignored) whatever the stream ends with.
    /// </summary>
    /// <param name="stored">Zlib's uncompressed blocks instead of deflate (content that does not compress).</param>
    /// <param name="last">The object's last piece: ends with the final block; otherwise with a sync flush.</param>
    /// <returns>The Adler-32 of the input, and where the deflate data that belongs in the object ends.</returns>
    public static (uint Adler, int End) Compress(ReadOnlySpan<byte> input, bool stored, bool last, PieceBuffer output)
    {
        output.Reset();
        if (stored)
        {
            return (Store(input, last, output), (int)output.Length);
        }

        int cut;
        using (var zlib = Create(output))
        {
            zlib.Write(input);
            if (!last)
            {
                zlib.Flush();
            }

            cut = (int)output.Length;
        }

        // After the cut a piece that is not the last has an empty final block; the stream always ends
        // with the Adler-32 of the piece's input.
        var span = output.Span;
        return (BinaryPrimitives.ReadUInt32BigEndian(span[^4..]), last ? span.Length - 4 : cut);
    }

    /// <summary>The Adler-32 of two pieces' inputs one after the other, from theirs and the second's length.</summary>
    public static uint CombineAdler(uint first, uint second, long secondLength)
    {
        // A = 1 + sum of bytes; B = sum over positions of A so far. Appending n bytes adds their sum to
        // A, and to B their own B plus n times the first part's (A - 1).
        const long Modulus = 65521;
        long a1 = first & 0xFFFF, b1 = first >> 16, a2 = second & 0xFFFF, b2 = second >> 16;
        var n = secondLength % Modulus;
        var a = (a1 + a2 + Modulus - 1) % Modulus;
        var b = (b1 + b2 + (n * ((a1 + Modulus - 1) % Modulus))) % Modulus;
        return (uint)((b << 16) | a);
    }

    /// <summary>
    /// Zlib's uncompressed blocks of the largest size (65,535 bytes, 5 bytes of header each; the zlib
    /// compressor cuts them to its output buffer, 8 KiB in .NET), the last one flagged final.
    /// </summary>
    private static uint Store(ReadOnlySpan<byte> input, bool last, PieceBuffer output)
    {
        output.Write([0x78, 0x01]);
        Span<byte> header = stackalloc byte[5];
        var adler = Adler32(input);
        while (input.Length > 0)
        {
            var block = Math.Min(StoredBlock, input.Length);
            header[0] = last && block == input.Length ? (byte)1 : (byte)0;
            BinaryPrimitives.WriteUInt16LittleEndian(header[1..], (ushort)block);
            BinaryPrimitives.WriteUInt16LittleEndian(header[3..], (ushort)~block);
            output.Write(header);
            output.Write(input[..block]);
            input = input[block..];
        }

        return adler;
    }

    private static uint Adler32(ReadOnlySpan<byte> data)
    {
        const uint Modulus = 65521;
        uint a = 1, b = 0;
        while (data.Length > 0)
        {
            // 5552 bytes is the most that can be summed before b could overflow 32 bits.
            var chunk = data[..Math.Min(data.Length, 5552)];
            foreach (var value in chunk)
            {
                a += value;
                b += a;
            }

            a %= Modulus;
            b %= Modulus;
            data = data[chunk.Length..];
        }

        return (b << 16) | a;
    }

    /// <summary>
    /// ZLibStream at a numeric level. The engine targets .NET 8, whose API offers only the named levels
    /// (6 and 9); the level options came with .NET 9 and are found at run time. On .NET 8 the strongest
    /// named level is used, which is slower but never larger.
    /// </summary>
    private static Func<Stream, ZLibStream> CompressorFactory(int level)
    {
        var optionsType = typeof(ZLibStream).Assembly.GetType("System.IO.Compression.ZLibCompressionOptions");
        var constructor = optionsType is null ? null : typeof(ZLibStream).GetConstructor([typeof(Stream), optionsType, typeof(bool)]);
        var levelProperty = optionsType?.GetProperty("CompressionLevel", BindingFlags.Public | BindingFlags.Instance);
        if (constructor is null || levelProperty is null)
        {
            return static stream => new ZLibStream(stream, CompressionLevel.SmallestSize, leaveOpen: true);
        }

        var options = Activator.CreateInstance(optionsType!);
        levelProperty.SetValue(options, level);
        return stream => (ZLibStream)constructor.Invoke([stream, options, true]);
    }
}

/// <summary>A write-only stream into a pooled, growing buffer: one piece's compressed bytes.</summary>
internal sealed class PieceBuffer : WriteOnlyStream
{
    private byte[] _buffer;
    private int _length;

    /// <param name="capacity">The size expected (grows past it when needed).</param>
    public PieceBuffer(int capacity) => _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 256));

    public override long Length => _length;

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _length);

    public void Reset() => _length = 0;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_length + buffer.Length > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + buffer.Length));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        buffer.CopyTo(_buffer.AsSpan(_length));
        _length += buffer.Length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }

        base.Dispose(disposing);
    }
}
