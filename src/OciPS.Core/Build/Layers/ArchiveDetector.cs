using System.IO.Compression;
using OciPS.Core.Content;

namespace OciPS.Core.Build.Layers;

/// <summary>
/// Recognises what ADD unpacks: a tar archive, plain or compressed with gzip, bzip2 or xz (found by
/// the bytes, not the file name, as Docker does). Anything else is copied as a file.
/// </summary>
public static class ArchiveDetector
{
    /// <summary>Opens the file as an uncompressed tar stream, or returns null when it is not a tar archive.</summary>
    public static async Task<Stream?> TryOpenTarAsync(string path, CancellationToken cancellationToken)
    {
        if (!await IsTarAsync(path, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return Decompress(File.OpenRead(path), await SniffAsync(path, cancellationToken).ConfigureAwait(false));
    }

    private static async Task<bool> IsTarAsync(string path, CancellationToken cancellationToken)
    {
        var kind = await SniffAsync(path, cancellationToken).ConfigureAwait(false);
        try
        {
            var stream = Decompress(File.OpenRead(path), kind);
            await using (stream.ConfigureAwait(false))
            {
                var header = new byte[512];
                var filled = 0;
                while (filled < header.Length)
                {
                    var read = await stream.ReadAsync(header.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        return false;
                    }

                    filled += read;
                }

                return HasValidChecksum(header);
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or FormatException or NotSupportedException or ArgumentException || ex.GetType().Namespace?.StartsWith("SharpCompress", StringComparison.Ordinal) == true)
        {
            return false;
        }
    }

    private static async Task<string> SniffAsync(string path, CancellationToken cancellationToken)
    {
        var magic = new byte[6];
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            var read = await stream.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            var span = magic.AsSpan(0, read);
            return span switch
            {
                [0x1f, 0x8b, ..] => "gzip",
                [(byte)'B', (byte)'Z', (byte)'h', ..] => "bzip2",
                [0xfd, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0] => "xz",
                _ => "none",
            };
        }
    }

    private static Stream Decompress(Stream file, string kind) => kind switch
    {
        "gzip" => new GZipStream(file, CompressionMode.Decompress),
        "bzip2" => SharpCompress.Compressors.BZip2.BZip2Stream.Create(file, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false),
        "xz" => new SharpCompress.Compressors.Xz.XZStream(file),
        _ => file,
    };

    /// <summary>A tar header block: the checksum field matches the sum of its bytes (checksum field as spaces).</summary>
    private static bool HasValidChecksum(byte[] block)
    {
        var field = System.Text.Encoding.ASCII.GetString(block, 148, 8).Trim('\0', ' ');
        if (field.Length == 0)
        {
            return false;
        }

        long stored;
        try
        {
            stored = Convert.ToInt64(field, 8);
        }
        catch (FormatException)
        {
            return false;
        }

        long sum = 0;
        for (var i = 0; i < block.Length; i++)
        {
            sum += i is >= 148 and < 156 ? (byte)' ' : block[i];
        }

        return sum == stored;
    }
}
