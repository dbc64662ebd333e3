using System.Formats.Tar;
using System.Text;

namespace OciPS.TestSupport.Fixtures;

/// <summary>
/// Builds a small layer tar in memory for tests, with the in-box System.Formats.Tar writer (a second,
/// independent tar implementation next to the engine's reader). Entries keep the order they are added in.
/// </summary>
public sealed class LayerBuilder
{
    private static readonly DateTimeOffset DefaultTime = new(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly List<TarEntry> _entries = [];

    public TarEntryFormat Format { get; init; } = TarEntryFormat.Pax;

    public int Count => _entries.Count;

    public LayerBuilder Directory(string path, int mode = 0x1ED, int uid = 0, int gid = 0) =>
        Add(TarEntryType.Directory, path.EndsWith('/') ? path : path + "/", mode, uid, gid);

    public LayerBuilder File(string path, string content, int mode = 0x1A4, int uid = 0, int gid = 0) =>
        File(path, Encoding.UTF8.GetBytes(content), mode, uid, gid);

    public LayerBuilder File(string path, byte[] content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? modified = null)
    {
        var entry = Create(TarEntryType.RegularFile, path, mode, uid, gid);
        entry.DataStream = new MemoryStream(content, writable: false);
        if (modified is not null)
        {
            entry.ModificationTime = modified.Value;
        }

        _entries.Add(entry);
        return this;
    }

    public LayerBuilder Symlink(string path, string target, int uid = 0, int gid = 0)
    {
        var entry = Create(TarEntryType.SymbolicLink, path, 0x1FF, uid, gid);
        entry.LinkName = target;
        _entries.Add(entry);
        return this;
    }

    public LayerBuilder Hardlink(string path, string target)
    {
        var entry = Create(TarEntryType.HardLink, path, 0x1A4, 0, 0);
        entry.LinkName = target;
        _entries.Add(entry);
        return this;
    }

    /// <summary>A <c>.wh.NAME</c> entry deleting <paramref name="path"/> from lower layers.</summary>
    public LayerBuilder Whiteout(string path)
    {
        var slash = path.LastIndexOf('/');
        var whiteout = slash < 0 ? ".wh." + path : path[..(slash + 1)] + ".wh." + path[(slash + 1)..];
        return File(whiteout, [], 0x1A4);
    }

    /// <summary>A <c>.wh..wh..opq</c> entry hiding everything lower layers put in <paramref name="directory"/>.</summary>
    public LayerBuilder Opaque(string directory) => File(directory.TrimEnd('/') + "/.wh..wh..opq", [], 0x1A4);

    public LayerBuilder Fifo(string path, int mode = 0x1A4) => Add(TarEntryType.Fifo, path, mode, 0, 0);

    public LayerBuilder CharDevice(string path, int major, int minor, int mode = 0x1B6)
    {
        var entry = Create(TarEntryType.CharacterDevice, path, mode, 0, 0);
        ((PosixTarEntry)entry).DeviceMajor = major;
        ((PosixTarEntry)entry).DeviceMinor = minor;
        _entries.Add(entry);
        return this;
    }

    /// <summary>The uncompressed tar.</summary>
    public byte[] ToTar()
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, Format, leaveOpen: true))
        {
            foreach (var entry in _entries)
            {
                if (entry.DataStream is not null)
                {
                    entry.DataStream.Position = 0;
                }

                writer.WriteEntry(entry);
            }
        }

        return buffer.ToArray();
    }

    private LayerBuilder Add(TarEntryType type, string path, int mode, int uid, int gid)
    {
        _entries.Add(Create(type, path, mode, uid, gid));
        return this;
    }

    private TarEntry Create(TarEntryType type, string path, int mode, int uid, int gid)
    {
        TarEntry entry = Format switch
        {
            TarEntryFormat.Gnu => new GnuTarEntry(type, path),
            TarEntryFormat.Ustar => new UstarTarEntry(type, path),
            _ => new PaxTarEntry(type, path),
        };
        entry.Mode = (UnixFileMode)mode;
        entry.Uid = uid;
        entry.Gid = gid;
        entry.ModificationTime = DefaultTime;
        return entry;
    }
}
