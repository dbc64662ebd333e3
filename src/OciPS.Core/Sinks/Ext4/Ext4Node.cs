using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>
/// One inode as the writer keeps it between the entry's arrival and the image's completion: metadata,
/// the blocks its data was written to, and for a directory its names. Several names may share one
/// node (hardlinks). Content is never kept, only where it went.
/// </summary>
internal sealed class Ext4Node
{
    public required OciFileType Type { get; set; }

    public int Mode { get; set; }

    public uint Uid { get; set; }

    public uint Gid { get; set; }

    public UnixTime ModifiedTime { get; set; }

    public UnixTime AccessTime { get; set; }

    public UnixTime ChangeTime { get; set; }

    /// <summary>Bytes of a file or a block symlink; a directory's size is set when its blocks are laid out.</summary>
    public long Size { get; set; }

    /// <summary>Where the data is: file content, a long symlink's target, a directory's entries.</summary>
    public Ext4Extent[] Extents { get; set; } = [];

    /// <summary>Blocks holding the extent tree when the extents do not fit in the inode (leaves first).</summary>
    public uint[] TreeBlocks { get; set; } = [];

    /// <summary>A symlink target short enough to live in the inode itself.</summary>
    public byte[]? InlineTarget { get; set; }

    public int DeviceMajor { get; set; }

    public int DeviceMinor { get; set; }

    /// <summary>The in-inode extended attribute area (after the magic), or null.</summary>
    public byte[]? InodeXattrs { get; set; }

    /// <summary>The block holding the attributes that did not fit in the inode, or 0.</summary>
    public uint XattrBlock { get; set; }

    /// <summary>Names in a directory, by name; null for every other type.</summary>
    public Dictionary<string, Ext4Node>? Children { get; set; }

    /// <summary>A parent that no entry has described (yet): 0755, root-owned.</summary>
    public bool Implicit { get; set; }

    /// <summary>Whether the directory is laid out as a hashed tree.</summary>
    public bool Indexed { get; set; }

    public uint Number { get; set; }

    public int Links { get; set; }

    public bool IsDirectory => Type == OciFileType.Directory;

    /// <summary>Every block the node owns: data, extent tree, xattr block.</summary>
    public long BlockCount => Extents.Sum(e => (long)e.Length) + TreeBlocks.Length + (XattrBlock != 0 ? 1 : 0);

    public byte FileType => Type switch
    {
        OciFileType.File => 1,
        OciFileType.Directory => 2,
        OciFileType.CharDevice => 3,
        OciFileType.BlockDevice => 4,
        OciFileType.Fifo => 5,
        OciFileType.Socket => 6,
        OciFileType.Symlink => 7,
        _ => 0,
    };

    public int ModeWithType => (Mode & 0xFFF) | Type switch
    {
        OciFileType.File => 0x8000,
        OciFileType.Directory => 0x4000,
        OciFileType.Symlink => 0xA000,
        OciFileType.CharDevice => 0x2000,
        OciFileType.BlockDevice => 0x6000,
        OciFileType.Fifo => 0x1000,
        OciFileType.Socket => 0xC000,
        _ => 0,
    };

    public static Ext4Node Directory(int mode, uint uid, uint gid, UnixTime time, bool isImplicit) => new()
    {
        Type = OciFileType.Directory,
        Mode = mode,
        Uid = uid,
        Gid = gid,
        ModifiedTime = time,
        AccessTime = time,
        ChangeTime = time,
        Children = new Dictionary<string, Ext4Node>(StringComparer.Ordinal),
        Implicit = isImplicit,
    };
}
