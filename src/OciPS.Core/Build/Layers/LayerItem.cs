using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;

namespace OciPS.Core.Build.Layers;

/// <summary>
/// One entry of a layer being built: where it goes in the image, what it is, its owner, mode and
/// time, and for a regular file how to read its bytes (a stream valid while the entry is written).
/// </summary>
public sealed record LayerItem
{
    /// <summary>The path in the image, relative ('usr/bin/app'), no trailing slash.</summary>
    public required string Path { get; init; }

    public required TarEntryKind Kind { get; init; }

    /// <summary>Permission bits with setuid, setgid and sticky (07777).</summary>
    public int Mode { get; init; }

    public long Uid { get; init; }

    public long Gid { get; init; }

    public UnixTime ModifiedTime { get; init; }

    public long Size { get; init; }

    public string? LinkTarget { get; init; }

    public IReadOnlyDictionary<string, byte[]>? Xattrs { get; init; }

    /// <summary>Opens a regular file's content; the writer reads exactly <see cref="Size"/> bytes and disposes it.</summary>
    public Func<CancellationToken, Task<Stream>>? Open { get; init; }
}

/// <summary>How new layers are compressed.</summary>
public enum BuildCompression
{
    Gzip,
    Zstd,
}

/// <summary>A layer written to the staging directory: its blob descriptor and the digest of its uncompressed tar.</summary>
public sealed record BuiltLayer(Descriptor Blob, Digest DiffId);
