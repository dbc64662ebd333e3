using System.Text;
using LibGit2Sharp;
using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>
/// The root filesystem of one commit, in memory: for each path its metadata and, for what git can
/// hold, the id of its blob (written to the object database as the layer streamed by). Layers are
/// applied to it oldest first; <see cref="WriteTree"/> writes only the trees of directories that
/// changed since the last commit, so a layer costs what it touches, not the size of the image.
/// </summary>
internal sealed class RootfsTree
{
    private readonly Dir _root = new(RootfsMeta.ImplicitDirectory);

    /// <summary>Hardlink groups: the first path of each group and the paths linked to it.</summary>
    private readonly Dictionary<string, List<string>> _linkGroups = new(StringComparer.Ordinal);

    /// <summary>Makes <paramref name="path"/> (any type but a hardlink) hold <paramref name="meta"/> and, for a file or symlink, <paramref name="blob"/>.</summary>
    public void Put(string path, RootfsMeta meta, ObjectId? blob, Action<string, string> report)
    {
        var (parent, name) = WalkToParent(path, create: true, report)!.Value;
        parent.Children.TryGetValue(name, out var existing);
        if (meta.Type == OciFileType.Directory)
        {
            if (existing is Dir directory)
            {
                directory.Meta = meta;
                return;
            }

            if (existing is not null)
            {
                Detach(existing, path);
            }

            parent.Children[name] = new Dir(meta);
            return;
        }

        if (existing is not null)
        {
            Detach(existing, path);
        }

        parent.Children[name] = new Leaf(meta, blob);
    }

    /// <summary>A hardlink: <paramref name="path"/> shares the inode (content, mode, owner) of <paramref name="target"/>.</summary>
    public bool Link(string path, string target, Action<string, string> report)
    {
        if (Find(target) is not Leaf file)
        {
            report(path, $"the hardlink points to '{target}', which is not a file in the filesystem so far; it is left out");
            return false;
        }

        if (path == target)
        {
            return true;
        }

        if (file.Meta.Type != OciFileType.File)
        {
            // A hard link to a symlink or device shares that inode: record a copy of it.
            Put(path, file.Meta, file.Blob, report);
            return true;
        }

        var group = file.Meta.HardlinkTo ?? target;
        Put(path, file.Meta with { HardlinkTo = group }, file.Blob, report);
        if (!_linkGroups.TryGetValue(group, out var members))
        {
            members = [];
            _linkGroups[group] = members;
        }

        members.Add(path);
        return true;
    }

    /// <summary>A whiteout: the path and everything below it are gone.</summary>
    public void Remove(string path)
    {
        if (WalkToParent(path, create: false, null) is { } found && found.Parent.Children.Remove(found.Name, out var node))
        {
            Detach(node, path);
        }
    }

    /// <summary>An opaque directory: everything lower layers put below it is gone, the directory stays.</summary>
    public void ClearChildren(string path)
    {
        var node = path == "." ? _root : Find(path, markDirty: true);
        if (node is not Dir directory)
        {
            return;
        }

        foreach (var (name, child) in directory.Children)
        {
            Detach(child, Join(path, name));
        }

        directory.Children.Clear();
    }

    /// <summary>Writes the trees of changed directories; returns the id of the root's tree, or null when nothing git can hold is left.</summary>
    public ObjectId? WriteTree(PackWriter pack) => Write(_root, pack);

    /// <summary>The <c>rootfs.meta</c> text: a header, then one line per path, parents before children, names in ordinal order.</summary>
    public void WriteMeta(TextWriter writer)
    {
        writer.Write(RootfsMeta.Header);
        writer.Write('\n');
        WriteMeta(_root, null, writer);
    }

    /// <summary>Rebuilds the model of a commit this converter wrote, from its rootfs tree and rootfs.meta.</summary>
    public static RootfsTree Load(Repository repository, Commit commit)
    {
        var tree = new RootfsTree();
        var blobs = new Dictionary<string, ObjectId>(StringComparer.Ordinal);
        if (commit[GitRepoConverter.RootfsDirectory]?.Target is Tree rootfs)
        {
            Collect(rootfs, null, blobs);
        }

        if (commit[RootfsMeta.FileName]?.Target is not Blob metaBlob)
        {
            throw new CorruptContentException("GitRepoMetaMissing", $"The commit {commit.Sha} has no {RootfsMeta.FileName}; it was not written by ConvertTo-OciGitRepo.", commit.Sha);
        }

        using var reader = new StreamReader(metaBlob.GetContentStream(), Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            if (RootfsMeta.Parse(line) is not { } parsed)
            {
                continue;
            }

            var (path, meta) = parsed;
            blobs.TryGetValue(path, out var blob);
            tree.Put(path, meta, blob, static (_, _) => { });
            if (meta.HardlinkTo is { } group)
            {
                if (!tree._linkGroups.TryGetValue(group, out var members))
                {
                    members = [];
                    tree._linkGroups[group] = members;
                }

                members.Add(path);
            }
        }

        _ = repository;
        return tree;
    }

    private static void Collect(Tree tree, string? prefix, Dictionary<string, ObjectId> blobs)
    {
        foreach (var entry in tree)
        {
            var path = prefix is null ? GitNames.Unescape(entry.Name) : prefix + "/" + GitNames.Unescape(entry.Name);
            if (entry.Target is Tree subtree)
            {
                Collect(subtree, path, blobs);
            }
            else
            {
                blobs[path] = entry.Target.Id;
            }
        }
    }

    private static string Join(string? parent, string name) => parent is null or "." ? name : parent + "/" + name;

    private Node? Find(string path, bool markDirty = false)
    {
        Node node = _root;
        foreach (var part in path.Split('/'))
        {
            if (node is not Dir directory || !directory.Children.TryGetValue(part, out var child))
            {
                return null;
            }

            if (markDirty)
            {
                directory.TreeKnown = false;
            }

            node = child;
        }

        return node;
    }

    /// <summary>
    /// The directory that holds <paramref name="path"/>, every directory on the way marked as changed.
    /// With <paramref name="create"/>, missing parents are made and a non-directory in the way is
    /// replaced by a directory (as extracting the layer would); without, null when the way is not there.
    /// </summary>
    private (Dir Parent, string Name)? WalkToParent(string path, bool create, Action<string, string>? report)
    {
        var parts = path.Split('/');
        var directory = _root;
        directory.TreeKnown = false;
        string? walked = null;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            walked = Join(walked, parts[i]);
            directory.Children.TryGetValue(parts[i], out var child);
            if (child is not Dir next)
            {
                if (!create)
                {
                    return null;
                }

                if (child is not null)
                {
                    report?.Invoke(path, $"it lies below '{walked}', a {child.Meta.Type}; '{walked}' becomes a directory");
                    Detach(child, walked);
                }

                next = new Dir(RootfsMeta.ImplicitDirectory);
                directory.Children[parts[i]] = next;
            }

            next.TreeKnown = false;
            directory = next;
        }

        return (directory, parts[^1]);
    }

    /// <summary>Takes a removed node's files out of their hardlink groups (the next link takes over as the group's first path).</summary>
    private void Detach(Node node, string path)
    {
        if (_linkGroups.Count == 0)
        {
            return;
        }

        if (node is Dir directory)
        {
            foreach (var (name, child) in directory.Children)
            {
                Detach(child, Join(path, name));
            }

            return;
        }

        if (node.Meta.HardlinkTo is { } group && _linkGroups.TryGetValue(group, out var members))
        {
            members.Remove(path);
            if (members.Count == 0)
            {
                _linkGroups.Remove(group);
            }
        }

        if (_linkGroups.Remove(path, out var linked) && linked.Count > 0)
        {
            var successor = linked[0];
            SetGroup(successor, null);
            var rest = linked.Skip(1).ToList();
            foreach (var member in rest)
            {
                SetGroup(member, successor);
            }

            if (rest.Count > 0)
            {
                _linkGroups[successor] = rest;
            }
        }
    }

    private void SetGroup(string path, string? group)
    {
        if (Find(path, markDirty: false) is Leaf leaf)
        {
            leaf.Meta = leaf.Meta with { HardlinkTo = group };
        }
    }

    private static ObjectId? Write(Dir directory, PackWriter pack)
    {
        if (directory.TreeKnown)
        {
            return directory.Tree;
        }

        var entries = new List<TreeItem>(directory.Children.Count);
        foreach (var (name, child) in directory.Children)
        {
            if (child is Dir subdirectory)
            {
                if (Write(subdirectory, pack) is { } id)
                {
                    entries.Add(TreeItem.Of(GitNames.Escape(name), TreeItem.DirectoryMode, id));
                }
            }
            else if (child is Leaf { Blob: { } blob } leaf)
            {
                entries.Add(TreeItem.Of(GitNames.Escape(name), GitMode(leaf.Meta), blob));
            }
        }

        directory.TreeKnown = true;
        if (entries.Count == 0)
        {
            directory.Tree = null;
            return null;
        }

        directory.Tree = GitObjects.WriteTree(pack, entries);
        return directory.Tree;
    }

    /// <summary>Git keeps two file modes: executable when any execute bit is set, else not.</summary>
    private static string GitMode(RootfsMeta meta) => meta.Type switch
    {
        OciFileType.Symlink => "120000",
        _ when (meta.Mode & 0x49) != 0 => "100755",
        _ => "100644",
    };

    private static void WriteMeta(Dir directory, string? path, TextWriter writer)
    {
        foreach (var (name, child) in directory.Children.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var childPath = Join(path, name);
            writer.Write(child.Meta.ToLine(childPath));
            writer.Write('\n');
            if (child is Dir subdirectory)
            {
                WriteMeta(subdirectory, childPath, writer);
            }
        }
    }

    private abstract class Node(RootfsMeta meta)
    {
        public RootfsMeta Meta { get; set; } = meta;
    }

    private sealed class Dir(RootfsMeta meta) : Node(meta)
    {
        public Dictionary<string, Node> Children { get; } = new(StringComparer.Ordinal);

        /// <summary>The tree written for the directory (null when it holds nothing git keeps), valid while <see cref="TreeKnown"/>.</summary>
        public ObjectId? Tree { get; set; }

        public bool TreeKnown { get; set; }
    }

    private sealed class Leaf(RootfsMeta meta, ObjectId? blob) : Node(meta)
    {
        /// <summary>The content (a symlink's target for symlinks); null for devices, FIFOs and sockets, which git cannot hold.</summary>
        public ObjectId? Blob { get; } = blob;
    }
}
