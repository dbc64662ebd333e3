using System.Globalization;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>How a merged filesystem is written as an ext4 image.</summary>
public sealed record Ext4SinkOptions
{
    public const int DefaultInodeRatio = 16384;

    /// <summary>The image size in bytes; null for Auto (the content plus headroom).</summary>
    public long? Size { get; init; }

    /// <summary>1024, 2048 or 4096.</summary>
    public int BlockSize { get; init; } = 4096;

    /// <summary>The volume label, at most 16 bytes of UTF-8.</summary>
    public string? Label { get; init; }

    /// <summary>The filesystem UUID; null for a random one.</summary>
    public Guid? Uuid { get; init; }

    /// <summary>Bytes per inode: the image gets Size / InodeRatio inodes (more when Auto needs them).</summary>
    public int InodeRatio { get; init; } = DefaultInodeRatio;

    /// <summary>Adds an internal journal (inode 8); without it the image has none, like a read-only root.</summary>
    public bool Journal { get; init; }

    /// <summary>crc32c checksums on every metadata structure (metadata_csum), as mkfs.ext4 does today.</summary>
    public bool MetadataChecksums { get; init; } = true;

    /// <summary>Clamp every modification time to this Unix time (reproducible output).</summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Replace an existing file at the destination (only once the new one is complete).</summary>
    public bool Force { get; init; }

    /// <summary>Parses "512M", "1G", "300000K", "2T", a plain byte count, or "Auto" (null).</summary>
    public static long? ParseSize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        if (trimmed.Equals("Auto", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var unit = trimmed.Length > 0 ? char.ToUpperInvariant(trimmed[^1]) : '\0';
        var shift = unit switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        var number = shift == 0 ? trimmed : trimmed[..^1];
        if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0 || value > (long.MaxValue >> shift))
        {
            throw new OciException("Ext4SizeInvalid", OciErrorKind.InvalidArgument, $"'{text}' is not an image size: give bytes or a number with K, M, G or T (512M, 1G), or Auto.", text);
        }

        return value << shift;
    }
}
