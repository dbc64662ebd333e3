using System.Runtime.CompilerServices;
using OciPS.Core.Build.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>What an instruction needs to know about one path of a stage: its type, mode, owner and link target.</summary>
internal readonly record struct TreeNode(TarEntryKind Kind, int Mode, long Uid, long Gid, string? LinkTarget)
{
    public bool IsDirectory => Kind == TarEntryKind.Directory;
}

/// <summary>A path of the stage after following its symbolic links, and what is there (null: nothing yet).</summary>
internal readonly record struct ResolvedPath(string Path, TreeNode? Node)
{
    public bool IsDirectory => Node is { IsDirectory: true };
}

/// <summary>
/// The stage's filesystem as COPY, ADD and WORKDIR see it, so they behave as in Docker: existing
/// directories are copied into and left untouched, symbolic links of the base are followed, and
/// only missing directories are written. Two parts: an index of the base (path → type, mode, owner,
/// link target; no content), built by streaming the base's merge once, on the first instruction that
/// asks; and the entries this stage's layers wrote since. Scratch stages never read anything.
/// </summary>
internal sealed class StageTree(OciImage? baseImage, string fileName)
{
    private const int MaxLinks = 255;

    private readonly Dictionary<string, TreeNode> _written = new(StringComparer.Ordinal);
    private readonly List<(Task Layer, List<(string Path, TreeNode Node)> Entries)> _pending = [];
    private readonly Dictionary<string, string> _baseAccounts = new(StringComparer.Ordinal);
    private Dictionary<string, TreeNode>? _base;

    /// <summary>How many paths the base index holds (0 until it is built).</summary>
    public int BaseEntries => _base?.Count ?? 0;

    /// <summary>Builds the base index if needed and takes in what earlier layers of the stage wrote while streaming.</summary>
    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        _base ??= baseImage is { Layers.Count: > 0 } image ? await IndexAsync(image, _baseAccounts, cancellationToken).ConfigureAwait(false) : [];
        foreach (var (layer, entries) in _pending)
        {
            await layer.ConfigureAwait(false);
            foreach (var (path, node) in entries)
            {
                _written[path] = node;
            }
        }

        _pending.Clear();
    }

    /// <summary>
    /// Streams the merge of an image's layers into an index of its paths. File contents are skipped,
    /// except /etc/passwd and /etc/group, kept for --chown and USER names (so the base is read once).
    /// </summary>
    internal static async Task<Dictionary<string, TreeNode>> IndexAsync(OciImage image, Dictionary<string, string>? accounts, CancellationToken cancellationToken)
    {
        var index = new Dictionary<string, TreeNode>(StringComparer.Ordinal);
        var merger = new LayerMerger(MergeLayer.Of(image), report: null, progress: null, activity: "Reading the base image's file list");
        await foreach (var merged in merger.MergeAsync(cancellationToken).ConfigureAwait(false))
        {
            var entry = merged.Entry;
            if (entry.Path is "." or "" || entry.IsWhiteout)
            {
                continue;
            }

            var kind = entry.Type switch
            {
                OciFileType.Directory => TarEntryKind.Directory,
                OciFileType.Symlink => TarEntryKind.Symlink,
                _ => TarEntryKind.File,
            };
            if (accounts is not null && entry.Path is "etc/passwd" or "etc/group" && entry.Type == OciFileType.File && merged.Content is { } content && entry.Size < 16 << 20)
            {
                using var reader = new StreamReader(content, System.Text.Encoding.UTF8, leaveOpen: true);
                accounts[entry.Path] = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            }

            index[entry.Path] = new TreeNode(kind, entry.Mode & 0xFFF, entry.Uid, entry.Gid, kind == TarEntryKind.Symlink ? entry.LinkTarget : null);
        }

        return index;
    }

    /// <summary>
    /// The base's /etc/passwd or /etc/group text ('etc/passwd'), when no layer of this stage wrote to
    /// /etc; <c>Found</c> is false when the stage's own layers must be read instead.
    /// </summary>
    public (bool Found, string? Text) BaseAccountFile(string path) =>
        _written.Keys.Any(p => p == "etc" || p.StartsWith("etc/", StringComparison.Ordinal)) || Lookup("etc") is { IsDirectory: false }
            ? (false, null)
            : (true, _baseAccounts.GetValueOrDefault(path));

    /// <summary>Records an entry a layer of this stage writes (known when the instruction is planned).</summary>
    public void Record(LayerItem item) =>
        _written[item.Path] = new TreeNode(item.Kind == TarEntryKind.Hardlink ? TarEntryKind.File : item.Kind, item.Mode & 0xFFF, item.Uid, item.Gid, item.Kind == TarEntryKind.Symlink ? item.LinkTarget : null);

    /// <summary>
    /// Wraps a layer's lazily produced entries (an archive, another image) so they are recorded as they
    /// are written; <see cref="Attach"/> then ties them to the layer task, awaited before the next lookup.
    /// </summary>
    public static (Func<CancellationToken, IAsyncEnumerable<LayerItem>> Items, List<(string Path, TreeNode Node)> Entries) Recording(Func<CancellationToken, IAsyncEnumerable<LayerItem>> items)
    {
        var entries = new List<(string Path, TreeNode Node)>();
        return (ct => RecordAsync(items(ct), entries, ct), entries);
    }

    /// <summary>Takes in what was planned in another tree (a --link COPY, resolved on its own).</summary>
    public void Absorb(StageTree other)
    {
        foreach (var (path, node) in other._written)
        {
            _written[path] = node;
        }
    }

    public void Attach(Task layer, List<(string Path, TreeNode Node)> entries) => _pending.Add((layer, entries));

    private static async IAsyncEnumerable<LayerItem> RecordAsync(IAsyncEnumerable<LayerItem> items, List<(string Path, TreeNode Node)> entries, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var item in items.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            entries.Add((item.Path, new TreeNode(item.Kind == TarEntryKind.Hardlink ? TarEntryKind.File : item.Kind, item.Mode & 0xFFF, item.Uid, item.Gid, item.Kind == TarEntryKind.Symlink ? item.LinkTarget : null)));
            yield return item;
        }
    }

    /// <summary>What is at a path, without following a link there ('' is the root, always a directory).</summary>
    public TreeNode? Lookup(string path)
    {
        if (path.Length == 0)
        {
            return new TreeNode(TarEntryKind.Directory, 0x1ED, 0, 0, null);
        }

        return _written.TryGetValue(path, out var node) || (_base ?? throw new InvalidOperationException("EnsureAsync first")).TryGetValue(path, out node) ? node : null;
    }

    /// <summary>
    /// Follows symbolic links in every component, the last included, as Docker resolves a destination
    /// inside the image's root: absolute targets start again at the root and '..' never climbs above it.
    /// A component that is a file (not a directory) is an error naming the instruction's line.
    /// </summary>
    public ResolvedPath Resolve(string path, int line)
    {
        var resolved = FollowLinks(
            path,
            Lookup,
            current => NotADirectory(path, current, line),
            () => new BuildException("BuildDestinationLinkLoop", OciErrorKind.InvalidData, $"{fileName}:{line}: too many levels of symbolic links in '/{path}'.", "/" + path));
        return new ResolvedPath(resolved, Lookup(resolved));
    }

    /// <summary>
    /// The walk behind <see cref="Resolve"/>, over any view of a tree: each component that is a link is
    /// replaced by its target (absolute targets restart at the root, '..' stops at the root).
    /// </summary>
    internal static string FollowLinks(string path, Func<string, TreeNode?> lookup, Func<string, Exception> notADirectory, Func<Exception> tooManyLinks)
    {
        var remaining = new Stack<string>(Enumerable.Reverse(path.Split('/', StringSplitOptions.RemoveEmptyEntries)));
        var current = string.Empty;
        var links = 0;
        while (remaining.TryPop(out var component))
        {
            if (component == ".")
            {
                continue;
            }

            if (component == "..")
            {
                current = Parent(current);
                continue;
            }

            if (current.Length > 0 && lookup(current) is { IsDirectory: false })
            {
                throw notADirectory(current);
            }

            var next = current.Length == 0 ? component : current + "/" + component;
            if (lookup(next) is { Kind: TarEntryKind.Symlink, LinkTarget: { } target })
            {
                if (++links > MaxLinks)
                {
                    throw tooManyLinks();
                }

                foreach (var part in Enumerable.Reverse(target.Split('/', StringSplitOptions.RemoveEmptyEntries)))
                {
                    remaining.Push(part);
                }

                if (target.StartsWith('/'))
                {
                    current = string.Empty;
                }

                continue;
            }

            current = next;
        }

        return current;
    }

    /// <summary>
    /// The directories to write so that a resolved path is a directory, as BuildKit's MkdirAll: only
    /// missing ones, 0755, owned by <paramref name="owner"/>; existing directories are left as they are.
    /// The new directories are recorded and returned parents first.
    /// </summary>
    public List<LayerItem> MakeDirectories(string resolved, (long Uid, long Gid) owner, UnixTime time, int line)
    {
        var created = new List<LayerItem>();
        var current = string.Empty;
        foreach (var component in resolved.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current = current.Length == 0 ? component : current + "/" + component;
            switch (Lookup(current))
            {
                case { IsDirectory: true }:
                    continue;
                case { } other:
                    throw NotADirectory(resolved, current, line, other.Kind);
            }

            var item = new LayerItem { Path = current, Kind = TarEntryKind.Directory, Mode = 0x1ED, Uid = owner.Uid, Gid = owner.Gid, ModifiedTime = time };
            Record(item);
            created.Add(item);
        }

        return created;
    }

    internal static string Parent(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? string.Empty : path[..slash];
    }

    private BuildException NotADirectory(string path, string component, int line, TarEntryKind? kind = null) =>
        new("BuildDestinationNotDirectory", OciErrorKind.InvalidData,
            $"{fileName}:{line}: cannot use '/{path}': '/{component}' is {((kind ?? Lookup(component)?.Kind) == TarEntryKind.Symlink ? "a symbolic link that does not lead to a directory" : "not a directory")} in the image.",
            "/" + path);
}
