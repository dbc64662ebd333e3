using OciPS.Core.Model;

namespace OciPS.Core.Layers.Tar;

/// <summary>The kind of a tar entry, after PAX and GNU extension records are applied.</summary>
public enum TarEntryKind
{
    File,
    Hardlink,
    Symlink,
    CharDevice,
    BlockDevice,
    Directory,
    Fifo,
}

/// <summary>Between the merge's file types and tar entry kinds.</summary>
public static class TarEntryKinds
{
    /// <summary>The tar kind of a merged entry's type; null for what a tar cannot hold (sockets, whiteout markers).</summary>
    public static TarEntryKind? From(OciFileType type) => type switch
    {
        OciFileType.File => TarEntryKind.File,
        OciFileType.Directory => TarEntryKind.Directory,
        OciFileType.Symlink => TarEntryKind.Symlink,
        OciFileType.Hardlink => TarEntryKind.Hardlink,
        OciFileType.CharDevice => TarEntryKind.CharDevice,
        OciFileType.BlockDevice => TarEntryKind.BlockDevice,
        OciFileType.Fifo => TarEntryKind.Fifo,
        _ => null,
    };
}

/// <summary>The tar dialect an entry was written in.</summary>
public enum TarFormat
{
    V7,
    Ustar,
    Pax,
    Gnu,
}

/// <summary>
/// One logical tar entry: the header with every PAX and GNU extension applied. Names keep their exact
/// bytes (see <see cref="EntryName"/>), extended attribute values are exact bytes, times have nanoseconds.
/// </summary>
public sealed class TarHeader
{
    private static readonly IReadOnlyDictionary<string, byte[]> None = new Dictionary<string, byte[]>();

    /// <summary>The name as written (not normalised): <c>./etc/passwd</c>, <c>usr/</c>.</summary>
    public required string Name { get; init; }

    public TarEntryKind Kind { get; init; }

    /// <summary>The raw type flag byte ('0', '5', 'S'…).</summary>
    public byte TypeFlag { get; init; }

    public string? LinkName { get; init; }

    /// <summary>Permission bits with setuid, setgid and sticky (07777).</summary>
    public int Mode { get; init; }

    public long Uid { get; init; }

    public long Gid { get; init; }

    public string? UserName { get; init; }

    public string? GroupName { get; init; }

    /// <summary>The logical size of the content (for sparse files, holes included).</summary>
    public long Size { get; init; }

    public UnixTime ModifiedTime { get; init; }

    public UnixTime? AccessTime { get; init; }

    public UnixTime? ChangeTime { get; init; }

    public int DeviceMajor { get; init; }

    public int DeviceMinor { get; init; }

    public IReadOnlyDictionary<string, byte[]> Xattrs { get; init; } = None;

    /// <summary>The data regions of a sparse file, or null for a dense one.</summary>
    public IReadOnlyList<SparseRegion>? SparseMap { get; init; }

    /// <summary>Every PAX record that applied to the entry (global and local), with its exact bytes.</summary>
    public IReadOnlyDictionary<string, byte[]> PaxRecords { get; init; } = None;

    public TarFormat Format { get; init; }

    /// <summary>Where the entry's first header starts in the (uncompressed) archive.</summary>
    public long Offset { get; init; }

    public override string ToString() => $"{Kind} {Name}";
}
