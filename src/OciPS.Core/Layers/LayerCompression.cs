using System.IO.Compression;
using OciPS.Core.Content;

namespace OciPS.Core.Layers;

/// <summary>How a layer blob is compressed, as found by looking at its first bytes.</summary>
public enum LayerCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>
/// Opens layer blobs as uncompressed tar streams. The compression is sniffed from the magic bytes,
/// never taken from the media type alone: registries and archives mislabel layers often enough.
/// </summary>
public static class LayerDecompressor
{
    private const int SniffLength = 6;

    /// <summary>The compression the first bytes of a blob show.</summary>
    public static LayerCompression Sniff(ReadOnlySpan<byte> header)
    {
        if (header.Length >= 2 && header[0] == 0x1f && header[1] == 0x8b)
        {
            return LayerCompression.Gzip;
        }

        if (header.Length >= 4 && header[0] == 0x28 && header[1] == 0xb5 && header[2] == 0x2f && header[3] == 0xfd)
        {
            return LayerCompression.Zstd;
        }

        if (header.Length >= 3 && header[0] == (byte)'B' && header[1] == (byte)'Z' && header[2] == (byte)'h')
        {
            throw new UnsupportedContentException("LayerCompressionUnsupported", "The layer is bzip2-compressed, which OCI layers never are; only gzip, zstd and uncompressed layers are supported.");
        }

        if (header.Length >= 6 && header[0] == 0xfd && header[1] == (byte)'7' && header[2] == (byte)'z' && header[3] == (byte)'X' && header[4] == (byte)'Z' && header[5] == 0)
        {
            throw new UnsupportedContentException("LayerCompressionUnsupported", "The layer is xz-compressed, which OCI layers never are; only gzip, zstd and uncompressed layers are supported.");
        }

        return LayerCompression.None;
    }

    /// <summary>
    /// Wraps <paramref name="blob"/> in the decompressor its first bytes call for. The returned stream
    /// owns <paramref name="blob"/>; reading it to the end also reads the blob to its end.
    /// </summary>
    public static async Task<(Stream Stream, LayerCompression Compression)> OpenAsync(Stream blob, CancellationToken cancellationToken)
    {
        var header = new byte[SniffLength];
        var filled = 0;
        while (filled < header.Length)
        {
            var read = await blob.ReadAsync(header.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        var compression = Sniff(header.AsSpan(0, filled));
        Stream replayed = new PrefixedStream(header.AsMemory(0, filled), blob);
        Stream stream = compression switch
        {
            LayerCompression.Gzip => new GZipStream(replayed, CompressionMode.Decompress, leaveOpen: false),
            LayerCompression.Zstd => new ZstdSharp.DecompressionStream(replayed, leaveOpen: false),
            _ => replayed,
        };
        return (stream, compression);
    }
}
