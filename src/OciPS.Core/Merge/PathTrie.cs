using OciPS.Core.Model;

namespace OciPS.Core.Merge;

/// <summary>
/// The merge's memory of paths: what upper layers emitted, and what they hide from the layers below
/// (whiteouts, opaque directories, non-directories replacing directories). Hiders remember the layer
/// that made them, because a whiteout hides only lower layers, never its own.
/// </summary>
internal sealed class PathTrie
{
    private readonly Node _root = new(null, string.Empty);

    public Node Root => _root;

    public Node GetOrAdd(string path)
    {
        var node = _root;
        foreach (var part in Split(path))
        {
            node.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            if (!node.Children.TryGetValue(part, out var child))
            {
                child = new Node(node, part);
                node.Children[part] = child;
            }

            node = child;
        }

        return node;
    }

    public Node? Find(string path)
    {
        var node = _root;
        foreach (var part in Split(path))
        {
            if (node.Children is null || !node.Children.TryGetValue(part, out node))
            {
                return null;
            }
        }

        return node;
    }

    /// <summary>
    /// Whether an entry at <paramref name="path"/> in layer <paramref name="layer"/> is hidden, as seen
    /// from layer <paramref name="view"/>: by a hider made in a layer above <paramref name="layer"/> and
    /// not above <paramref name="view"/> (int.MaxValue: the final image).
    /// </summary>
    public bool IsHidden(string path, int layer, int view = int.MaxValue)
    {
        var node = _root;
        var parts = Split(path);
        for (var i = 0; i < parts.Length; i++)
        {
            if (node.HidesChildren(layer, view))
            {
                return true;
            }

            if (node.Children is null || !node.Children.TryGetValue(parts[i], out var child))
            {
                return false;
            }

            node = child;
            if (node.HidesSelf(layer, view))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The nearest strict ancestor of <paramref name="path"/> that was emitted as something other than a directory.</summary>
    public Node? NonDirectoryAncestor(string path)
    {
        var node = _root;
        var parts = Split(path);
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (node.Children is null || !node.Children.TryGetValue(parts[i], out node))
            {
                return null;
            }

            if (node.Emitted is { } emitted && emitted.Type != OciFileType.Directory)
            {
                return node;
            }
        }

        return null;
    }

    private static string[] Split(string path) => path == "." ? [] : path.Split('/');

    /// <summary>What the merge emitted at a path.</summary>
    internal sealed record EmittedInfo(OciFileType Type, int Layer, string? LinkGroup);

    internal sealed class Node(Node? parent, string name)
    {
        private List<int>? _selfHiders;
        private List<int>? _childHiders;

        public Node? Parent { get; } = parent;

        public string Name { get; } = name;

        public Dictionary<string, Node>? Children { get; set; }

        public EmittedInfo? Emitted { get; set; }

        public bool HasEmittedDescendant { get; private set; }

        public string Path => Parent is null ? "." : Parent.Parent is null ? Name : Parent.Path + "/" + Name;

        /// <summary>A whiteout in <paramref name="layer"/>: this path and everything below it are gone for lower layers.</summary>
        public void HideSelf(int layer) => Add(ref _selfHiders, layer);

        /// <summary>An opaque marker or a non-directory in <paramref name="layer"/>: what lower layers put below this path is gone.</summary>
        public void HideChildren(int layer) => Add(ref _childHiders, layer);

        public bool HidesSelf(int layer, int view) => Any(_selfHiders, layer, view);

        public bool HidesChildren(int layer, int view) => Any(_childHiders, layer, view);

        public void MarkEmitted(EmittedInfo info)
        {
            Emitted = info;
            for (var ancestor = Parent; ancestor is not null && !ancestor.HasEmittedDescendant; ancestor = ancestor.Parent)
            {
                ancestor.HasEmittedDescendant = true;
            }
        }

        private static void Add(ref List<int>? hiders, int layer)
        {
            hiders ??= new List<int>(1);
            if (!hiders.Contains(layer))
            {
                hiders.Add(layer);
            }
        }

        private static bool Any(List<int>? hiders, int layer, int view)
        {
            if (hiders is null)
            {
                return false;
            }

            foreach (var hider in hiders)
            {
                if (hider > layer && hider <= view)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
