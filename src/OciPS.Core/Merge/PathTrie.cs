using OciPS.Core.Model;
using System.Runtime.CompilerServices;

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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Node GetOrAdd(string path)
    {
        var node = _root;
        for (var (from, length) = First(path); length >= 0; (from, length) = Next(path, from, length))
        {
            node.Children ??= new Dictionary<NameKey, Node>(NameKey.Comparer);
            var key = new NameKey(path, from, length);
            if (!node.Children.TryGetValue(key, out var child))
            {
                var name = path.Substring(from, length);
                child = new Node(node, name);
                node.Children[new NameKey(name, 0, name.Length)] = child;
            }

            node = child;
        }

        return node;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Node? Find(string path)
    {
        var node = _root;
        for (var (from, length) = First(path); length >= 0; (from, length) = Next(path, from, length))
        {
            if (node.Children is null || !node.Children.TryGetValue(new NameKey(path, from, length), out node))
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool IsHidden(string path, int layer, int view = int.MaxValue)
    {
        var node = _root;
        for (var (from, length) = First(path); length >= 0; (from, length) = Next(path, from, length))
        {
            if (node.HidesChildren(layer, view))
            {
                return true;
            }

            if (node.Children is null || !node.Children.TryGetValue(new NameKey(path, from, length), out var child))
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Node? NonDirectoryAncestor(string path)
    {
        var node = _root;
        for (var (from, length) = First(path); length >= 0 && from + length < path.Length; (from, length) = Next(path, from, length))
        {
            if (node.Children is null || !node.Children.TryGetValue(new NameKey(path, from, length), out node))
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

    // The components of a normalised path, walked without allocating: (start, length) of the first,
    // then of each next; length -1 when there is none. "." (the root) has none. Every entry of every
    // layer walks the trie a few times, so splitting into strings showed up as most of the merge's garbage.
    private static (int From, int Length) First(string path) => path == "." ? (0, -1) : Component(path, 0);

    private static (int From, int Length) Next(string path, int from, int length) =>
        from + length >= path.Length ? (0, -1) : Component(path, from + length + 1);

    private static (int From, int Length) Component(string path, int from)
    {
        var slash = path.IndexOf('/', from);
        return (from, (slash < 0 ? path.Length : slash) - from);
    }

    /// <summary>A child's name as a slice of some string, so a lookup needs no substring.</summary>
    internal readonly struct NameKey(string source, int start, int length)
    {
        public static readonly IEqualityComparer<NameKey> Comparer = new KeyComparer();

        public ReadOnlySpan<char> Span => source.AsSpan(start, length);

        private sealed class KeyComparer : IEqualityComparer<NameKey>
        {
            [MethodImpl(MethodImplOptions.AggressiveOptimization)]
            public bool Equals(NameKey x, NameKey y) => x.Span.SequenceEqual(y.Span);

            [MethodImpl(MethodImplOptions.AggressiveOptimization)]
            public int GetHashCode(NameKey key) => string.GetHashCode(key.Span, StringComparison.Ordinal);
        }
    }

    /// <summary>What the merge emitted at a path.</summary>
    internal sealed record EmittedInfo(OciFileType Type, int Layer, string? LinkGroup);

    internal sealed class Node(Node? parent, string name)
    {
        private List<int>? _selfHiders;
        private List<int>? _childHiders;

        public Node? Parent { get; } = parent;

        public string Name { get; } = name;

        public Dictionary<NameKey, Node>? Children { get; set; }

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
