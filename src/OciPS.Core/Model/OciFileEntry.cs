using System.Globalization;

namespace OciPS.Core.Model;

/// <summary>The type of an entry in a layer or in the merged filesystem.</summary>
public enum OciFileType
{
    File,
    Directory,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,

    /// <summary>A <c>.wh.NAME</c> entry: NAME (the entry's path) is deleted from lower layers.</summary>
    Whiteout,

    /// <summary>A <c>.wh..wh..opq</c> entry: the directory (the entry's path) hides all lower contents.</summary>
    OpaqueWhiteout,
}

/// <summary>A data region of a sparse file: bytes outside every region are holes (zeros).</summary>
public readonly record struct SparseRegion(long Offset, long Length);

/// <summary>
/// One file, directory, link, device or whiteout: a raw entry of a layer (<c>Get-OciFile</c>) or an
/// entry of the merged filesystem (<c>Merge-OciLayer</c>). Metadata only; a sink receives the bytes
/// of a regular file next to the entry while it streams by.
/// </summary>
public sealed class OciFileEntry
{
    public static readonly IReadOnlyDictionary<string, byte[]> NoXattrs = new Dictionary<string, byte[]>();

    /// <summary>
    /// The path inside the image, normalised ('/'-separated, relative, root "."). For whiteouts, the
    /// path that is deleted (or made opaque), not the <c>.wh.</c> name; see <see cref="RawName"/>.
    /// Bytes that are not UTF-8 are kept as U+DC80..U+DCFF (see <see cref="EntryName"/>).
    /// </summary>
    public required string Path { get; init; }

    public required OciFileType Type { get; init; }

    /// <summary>Permission bits with setuid, setgid and sticky (07777).</summary>
    public int Mode { get; init; }

    public long Uid { get; init; }

    public long Gid { get; init; }

    public string? UserName { get; init; }

    public string? GroupName { get; init; }

    /// <summary>The file's size in bytes (the logical size, holes included, for sparse files); 0 for other types.</summary>
    public long Size { get; init; }

    public UnixTime ModifiedTime { get; init; }

    public UnixTime? AccessTime { get; init; }

    public UnixTime? ChangeTime { get; init; }

    /// <summary>A symlink's target as stored, or a hardlink's target path (normalised).</summary>
    public string? LinkTarget { get; init; }

    public int DeviceMajor { get; init; }

    public int DeviceMinor { get; init; }

    /// <summary>Extended attributes with their exact bytes (<c>security.capability</c> is binary).</summary>
    public IReadOnlyDictionary<string, byte[]> Xattrs { get; init; } = NoXattrs;

    /// <summary>The data regions of a sparse file, or null for a dense one.</summary>
    public IReadOnlyList<SparseRegion>? SparseMap { get; init; }

    /// <summary>The entry's name in the layer's tar exactly as written (with <c>./</c>, <c>.wh.</c> and all).</summary>
    public string? RawName { get; init; }

    /// <summary>The layer the entry comes from (0 = bottom).</summary>
    public int? LayerIndex { get; init; }

    public Digest? LayerDigest { get; init; }

    /// <summary>
    /// For entries from Merge-OciLayer: the bytes of the file (or of a hardlink's target), so that an
    /// export further down the pipeline can write them. Null for raw layer entries.
    /// </summary>
    public EntryContent? Content { get; init; }

    public DateTimeOffset Modified => ModifiedTime.ToDateTimeOffset();

    public bool IsWhiteout => Type is OciFileType.Whiteout or OciFileType.OpaqueWhiteout;

    /// <summary>
    /// The mode as <c>ls -l</c> shows it: <c>drwxr-sr-x</c>, <c>-rwsr-xr-x</c>, <c>lrwxrwxrwx</c>. Hardlinks and
    /// whiteouts are files in the tar and show as such; <see cref="Type"/> tells them apart.
    /// </summary>
    public string Permissions
    {
        get
        {
            Span<char> text = stackalloc char[10];
            text[0] = Type switch
            {
                OciFileType.Directory => 'd',
                OciFileType.Symlink => 'l',
                OciFileType.CharDevice => 'c',
                OciFileType.BlockDevice => 'b',
                OciFileType.Fifo => 'p',
                OciFileType.Socket => 's',
                _ => '-',
            };
            const string Letters = "rwxrwxrwx";
            for (var i = 0; i < 9; i++)
            {
                text[i + 1] = (Mode & (1 << (8 - i))) != 0 ? Letters[i] : '-';
            }

            SetSpecial(text, 3, (Mode & 0x800) != 0, 's');
            SetSpecial(text, 6, (Mode & 0x400) != 0, 's');
            SetSpecial(text, 9, (Mode & 0x200) != 0, 't');
            return new string(text);
        }
    }

    /// <summary>The mode in octal, as chmod takes it: <c>4755</c>.</summary>
    public string ModeOctal => Convert.ToString(Mode & 0xFFF, 8).PadLeft(4, '0');

    public override string ToString() => Type switch
    {
        OciFileType.Symlink => $"{Path} -> {LinkTarget}",
        OciFileType.Hardlink => $"{Path} => {LinkTarget}",
        _ => Path,
    };

    /// <summary>A copy with other values (the model is immutable; <c>with</c> for a class).</summary>
    public OciFileEntry With(
        string? path = null,
        OciFileType? type = null,
        string? linkTarget = null,
        long? size = null,
        int? layerIndex = null,
        EntryContent? content = null) => new()
    {
        Path = path ?? Path,
        Type = type ?? Type,
        Mode = Mode,
        Uid = Uid,
        Gid = Gid,
        UserName = UserName,
        GroupName = GroupName,
        Size = size ?? Size,
        ModifiedTime = ModifiedTime,
        AccessTime = AccessTime,
        ChangeTime = ChangeTime,
        LinkTarget = linkTarget ?? LinkTarget,
        DeviceMajor = DeviceMajor,
        DeviceMinor = DeviceMinor,
        Xattrs = Xattrs,
        SparseMap = SparseMap,
        RawName = RawName,
        LayerIndex = layerIndex ?? LayerIndex,
        LayerDigest = LayerDigest,
        Content = content ?? Content,
    };

    private static void SetSpecial(Span<char> text, int position, bool set, char letter)
    {
        if (set)
        {
            text[position] = text[position] == 'x' ? letter : char.ToUpper(letter, CultureInfo.InvariantCulture);
        }
    }
}
