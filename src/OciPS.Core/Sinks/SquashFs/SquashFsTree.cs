using System.Text;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.SquashFs;

/// <summary>One inode of the image: what the inode table says about it, nothing of its content.</summary>
internal sealed class FsNode(OciFileType type)
{
    public OciFileType Type { get; } = type;

    public ushort Mode { get; set; }

    public uint Uid { get; set; }

    public uint Gid { get; set; }

    public uint ModifiedTime { get; set; }

    /// <summary>The index of the node's xattr set, or -1.</summary>
    public int XattrSet { get; set; } = -1;

    public byte[]? LinkTarget { get; init; }

    public uint Device { get; init; }

    public FileData? Data { get; init; }

    /// <summary>A directory's entries by name, in the order they came.</summary>
    public Dictionary<string, FsNode>? Children { get; init; }

    // Filled in while the image is laid out.
    public (byte[] Name, FsNode Node)[] Sorted { get; set; } = [];

    public uint InodeNumber { get; set; }

    public uint ParentNumber { get; set; }

    public uint LinkCount { get; set; }

    public long InodeReference { get; set; } = -1;
}

/// <summary>
/// The directory tree as entries arrive: paths to inodes, parents created when missing (and given
/// their own metadata when they come), later entries replacing earlier ones, hardlinks sharing one node.
/// </summary>
internal sealed class SquashFsTree(uint implicitTime)
{
    private readonly Dictionary<string, FsNode> _nodes = new(StringComparer.Ordinal);

    public FsNode Root { get; } = NewDirectory(implicitTime);

    public static FsNode NewDirectory(uint time) =>
        new(OciFileType.Directory) { Mode = 0x1ED, ModifiedTime = time, Children = new Dictionary<string, FsNode>(StringComparer.Ordinal) };

    public FsNode? Find(string path) => _nodes.GetValueOrDefault(path);

    /// <summary>Puts <paramref name="node"/> at <paramref name="path"/>; a directory over a directory only updates its metadata.</summary>
    public void Put(string path, FsNode node)
    {
        var parent = Directory(EntryName.Parent(path));
        var name = EntryName.FileName(path);
        if (parent.Children!.TryGetValue(name, out var existing))
        {
            if (existing.Type == OciFileType.Directory && node.Type == OciFileType.Directory)
            {
                existing.Mode = node.Mode;
                existing.Uid = node.Uid;
                existing.Gid = node.Gid;
                existing.ModifiedTime = node.ModifiedTime;
                existing.XattrSet = node.XattrSet;
                return;
            }

            if (existing.Type == OciFileType.Directory)
            {
                var prefix = path + "/";
                foreach (var below in _nodes.Keys.Where(p => p.StartsWith(prefix, StringComparison.Ordinal)).ToList())
                {
                    _nodes.Remove(below);
                }
            }
        }

        parent.Children[name] = node;
        _nodes[path] = node;
    }

    /// <summary>The directory at <paramref name="path"/>, created (0755, root-owned) with its missing parents.</summary>
    private FsNode Directory(string path)
    {
        if (path == ".")
        {
            return Root;
        }

        if (_nodes.TryGetValue(path, out var node))
        {
            return node.Type == OciFileType.Directory
                ? node
                : throw new OciException("ExportParentNotDirectory", OciErrorKind.InvalidData, $"'{path}' is a {node.Type}, but entries below it were given.", path);
        }

        var directory = NewDirectory(implicitTime);
        Put(path, directory);
        return directory;
    }
}

/// <summary>
/// The distinct xattr sets of the image, each stored once and shared by every inode that has it.
/// squashfs holds the user., trusted. and security. namespaces; others are left out with a warning.
/// </summary>
internal sealed class XattrSets(Action<string>? warn)
{
    private static readonly string[] Prefixes = ["user.", "trusted.", "security."];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    public List<(byte[] Bytes, int Count)> Sets { get; } = [];

    /// <summary>The index of the set, or -1 for none.</summary>
    public int Add(IReadOnlyDictionary<string, byte[]> xattrs, string path)
    {
        if (xattrs.Count == 0)
        {
            return -1;
        }

        using var bytes = new MemoryStream();
        using var writer = new BinaryWriter(bytes);
        var count = 0;
        foreach (var (key, value) in xattrs.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            var type = Array.FindIndex(Prefixes, p => key.StartsWith(p, StringComparison.Ordinal) && key.Length > p.Length);
            if (type < 0)
            {
                var ns = key.Contains('.', StringComparison.Ordinal) ? key[..(key.IndexOf('.', StringComparison.Ordinal) + 1)] : key;
                if (_warned.Add(ns))
                {
                    warn?.Invoke($"squashfs cannot hold '{ns}' extended attributes; they are left out (first: '{key}' on '{path}').");
                }

                continue;
            }

            var name = EntryName.Encode(key[Prefixes[type].Length..]);
            writer.Write((ushort)type);
            writer.Write((ushort)name.Length);
            writer.Write(name);
            writer.Write((uint)value.Length);
            writer.Write(value);
            count++;
        }

        if (count == 0)
        {
            return -1;
        }

        writer.Flush();
        var serialised = bytes.ToArray();
        var key2 = Encoding.Latin1.GetString(serialised);
        if (!_index.TryGetValue(key2, out var index))
        {
            index = Sets.Count;
            Sets.Add((serialised, count));
            _index[key2] = index;
        }

        return index;
    }
}
