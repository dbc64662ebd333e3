namespace OciPS.Core.Sinks.SquashFs;

/// <summary>The compressors a squashfs image can use (both readable by every kernel since 4.14).</summary>
public enum SquashFsCompression
{
    Gzip,
    Zstd,
}

/// <summary>How a merged filesystem is written as a squashfs 4.0 image.</summary>
public sealed record SquashFsSinkOptions
{
    public const int DefaultBlockSize = 128 * 1024;

    public SquashFsCompression Compression { get; init; }

    /// <summary>gzip 1–9 (1 fastest, 6 default, 9 smallest), zstd 1–22 (default 3); null for the default.</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>The data block size: a power of two from 4 KiB to 1 MiB.</summary>
    public int BlockSize { get; init; } = DefaultBlockSize;

    /// <summary>Clamp every modification time (and the image's own time) to this Unix time: the same image then gives the same bytes.</summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Write the inode lookup table that lets the kernel export the filesystem over NFS.</summary>
    public bool ExportTable { get; init; } = true;

    /// <summary>Blocks compressed at once; null for one per processor.</summary>
    public int? Parallelism { get; init; }

    /// <summary>Replace an existing file at the destination (only once the new one is complete).</summary>
    public bool Force { get; init; }

    /// <summary>The hash that finds duplicate candidates (<see cref="LaneHash"/> when null); tests give a colliding one.</summary>
    internal Func<DuplicateHash>? DuplicateHash { get; init; }

    internal void Validate()
    {
        if (BlockSize < 4096 || BlockSize > 1 << 20 || (BlockSize & (BlockSize - 1)) != 0)
        {
            throw new OciException("SquashFsBlockSizeInvalid", OciErrorKind.InvalidArgument, $"The squashfs block size must be a power of two from 4 KiB to 1 MiB (4096 … 1048576), not {BlockSize}.", BlockSize);
        }

        var (low, high) = Compression == SquashFsCompression.Gzip ? (1, 9) : (1, 22);
        if (CompressionLevel is { } level && (level < low || level > high))
        {
            throw new OciException("SquashFsCompressionLevelInvalid", OciErrorKind.InvalidArgument, $"{Compression} takes compression levels {low} to {high}, not {level}.", level);
        }
    }
}
