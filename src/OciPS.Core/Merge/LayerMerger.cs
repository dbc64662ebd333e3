using System.Runtime.CompilerServices;
using OciPS.Core.Layers;
using OciPS.Core.Model;

namespace OciPS.Core.Merge;

/// <summary>
/// The streaming overlay merge: layers are read newest first, so each path is emitted once, in its
/// final version, and nothing that a later layer replaces or deletes is ever written. Whiteouts and
/// opaque markers hide only what lower layers hold; a non-directory replaces everything a lower layer
/// had below it. Hardlinks are followed as inodes: a link whose target a later layer changed or deleted
/// becomes a regular file with the content the target had when the link was made.
/// </summary>
/// <remarks>
/// Output honours <see cref="Sinks.IRootfsSink"/>'s contract: normalised paths inside the root, no
/// whiteouts, no entry below a non-directory, a hardlink only after its target file. Entries that cannot
/// be kept safely are reported through <c>report</c> and dropped or neutralised.
/// </remarks>
public sealed partial class LayerMerger
{
    private const int MaxLinkChain = 32;

    private readonly IReadOnlyList<MergeLayer> _layers;
    private readonly Action<MergeIssue>? _report;
    private readonly IProgress<OciProgress>? _progress;
    private readonly string _activity;
    private readonly PathTrie _trie = new();
    private readonly Dictionary<string, List<PendingLink>> _pending = new(StringComparer.Ordinal);
    private readonly List<PendingLink> _rereads = [];
    private readonly Dictionary<string, ContentOrigin> _origins = new(StringComparer.Ordinal);

    /// <param name="layers">The layers, bottom first.</param>
    /// <param name="report">Receives each problem entry (the merge goes on).</param>
    /// <param name="progress">Receives progress per layer.</param>
    /// <param name="activity">Names the work in progress reports.</param>
    public LayerMerger(IReadOnlyList<MergeLayer> layers, Action<MergeIssue>? report = null, IProgress<OciProgress>? progress = null, string activity = "Merging layers")
    {
        _layers = layers;
        _report = report;
        _progress = progress;
        _activity = activity;
    }

    /// <summary>Merges an image's layers.</summary>
    public static LayerMerger For(OciImage image, Action<MergeIssue>? report = null, IProgress<OciProgress>? progress = null) =>
        new(MergeLayer.Of(image), report, progress, "Merging " + image.Reference);

    /// <summary>
    /// Starts every layer's fetch, newest first (the order the merge reads them), so lower layers
    /// download while upper ones are merged. A failed fetch surfaces when its layer is opened.
    /// </summary>
    private void StartPrefetching(CancellationToken cancellationToken)
    {
        for (var position = _layers.Count - 1; position >= 0; position--)
        {
            if (_layers[position].Prefetch is { } prefetch)
            {
                _ = prefetch(cancellationToken).ContinueWith(static task => _ = task.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }
    }

    /// <summary>The merged entries, newest layer first. A file's content is readable until the next entry is requested.</summary>
    /// <remarks>
    /// The enumerator is written out (see <see cref="Enumerator"/>) rather than an async iterator: it
    /// runs no async machinery for an entry whose bytes are ready, which is almost every entry.
    /// </remarks>
    public IAsyncEnumerable<MergedEntry> MergeAsync(CancellationToken cancellationToken = default) => new Sequence(this, cancellationToken);

    /// <summary>Merges one raw entry: what it makes appear in the merged tree is added to <paramref name="outputs"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Process(LayerState state, LayerEntry raw, List<MergedEntry> outputs)
    {
        var layer = state.Layer.Index;
        var entry = raw.Entry;
        var path = Neutralise(state, entry.Path, entry.RawName ?? entry.Path);
        if (path is null)
        {
            return;
        }

        switch (entry.Type)
        {
            case OciFileType.Whiteout:
                if (path == ".")
                {
                    Report(state, "MergeWhiteoutOfRoot", MergeIssueSeverity.Error, entry.RawName ?? path, "a whiteout of the root directory is ignored");
                }
                else
                {
                    _trie.GetOrAdd(path).HideSelf(layer);
                }

                return;
            case OciFileType.OpaqueWhiteout:
                _trie.GetOrAdd(path).HideChildren(layer);
                return;
        }

        var fileName = EntryName.FileName(path);
        if (fileName.StartsWith(LayerReader.WhiteoutPrefix, StringComparison.Ordinal))
        {
            // ".wh." alone (image-spec#1301) or AUFS metadata such as ".wh..wh.plnk": never part of the filesystem.
            Report(state, "MergeWhiteoutInvalid", MergeIssueSeverity.Warning, path, "a whiteout marker that names nothing is ignored");
            return;
        }

        if (path == ".")
        {
            if (entry.Type != OciFileType.Directory)
            {
                Report(state, "MergeEntryReplacesRoot", MergeIssueSeverity.Error, entry.RawName ?? path, $"a {entry.Type} cannot replace the root directory; it is left out");
            }

            return;
        }

        entry = path == entry.Path ? entry : entry.With(path: path);
        var isFile = entry.Type == OciFileType.File;
        if (_trie.IsHidden(path, layer))
        {
            if (isFile)
            {
                state.Files.TryAdd(path, false);
            }

            if (isFile)
            {
                TryResolvePending(state, entry, raw.Content, emittedAsFinal: false, outputs);
            }

            return;
        }

        var node = _trie.GetOrAdd(path);
        if (node.Emitted is { } earlier)
        {
            if (earlier.Layer > layer)
            {
                // A later layer has this path; a non-directory here still replaced what lower layers had below it.
                if (entry.Type != OciFileType.Directory)
                {
                    node.HideChildren(layer);
                }

                if (isFile)
                {
                    state.Files.TryAdd(path, false);
                }

                if (isFile)
                {
                    TryResolvePending(state, entry, raw.Content, emittedAsFinal: false, outputs);
                }

                return;
            }

            if (!CanReplace(state, node, earlier, entry))
            {
                return;
            }
        }

        if (_trie.NonDirectoryAncestor(path) is { } blocker)
        {
            Report(state, "MergeEntryUnderNonDirectory", MergeIssueSeverity.Error, path, $"it lies below '{blocker.Path}', which this layer made a {blocker.Emitted!.Type}; it is left out (no write ever follows a link)");
            return;
        }

        if (entry.Type != OciFileType.Directory && node.HasEmittedDescendant)
        {
            Report(state, "MergeEntryConflictsWithDirectory", MergeIssueSeverity.Error, path, $"this layer makes it a {entry.Type}, but later layers put entries below it; it stays a directory");
            node.HideChildren(layer);
            return;
        }

        if (entry.Type == OciFileType.Hardlink)
        {
            Link(state, node, entry, outputs);
            return;
        }

        node.MarkEmitted(new PathTrie.EmittedInfo(entry.Type, layer, isFile ? path : null));
        if (entry.Type != OciFileType.Directory)
        {
            node.HideChildren(layer);
        }

        ContentOrigin? origin = null;
        if (isFile)
        {
            state.Files[path] = true;
            origin = new ContentOrigin(state.Layer, path);
            _origins[path] = origin;
        }

        outputs.Add(new MergedEntry(entry, isFile ? raw.Content : null, origin));
        if (isFile)
        {
            TryResolvePending(state, entry, null, emittedAsFinal: true, outputs);
        }
        else if (entry.Type != OciFileType.Directory)
        {
            ResolvePendingToCopies(state, entry, outputs);
        }
    }

    /// <summary>A hardlink that survives: linked now when its target is this layer's final file, otherwise resolved later.</summary>
    private void Link(LayerState state, PathTrie.Node node, OciFileEntry entry, List<MergedEntry> outputs)
    {
        var layer = state.Layer.Index;
        var target = Neutralise(state, entry.LinkTarget ?? string.Empty, entry.Path);
        if (target is null || target == ".")
        {
            Report(state, "MergeHardlinkBroken", MergeIssueSeverity.Error, entry.Path, $"the hardlink points to '{entry.LinkTarget}', which is not a file; it is left out");
            return;
        }

        for (var hops = 0; state.Links.TryGetValue(target, out var next); hops++)
        {
            if (hops == MaxLinkChain)
            {
                Report(state, "MergeHardlinkBroken", MergeIssueSeverity.Error, entry.Path, "the hardlink is part of a loop of links; it is left out");
                return;
            }

            target = next;
        }

        node.MarkEmitted(new PathTrie.EmittedInfo(OciFileType.Hardlink, layer, null));
        node.HideChildren(layer);
        state.Links[entry.Path] = target;
        var link = new PendingLink(state, entry, target);
        if (state.Files.TryGetValue(target, out var final))
        {
            if (final)
            {
                var group = _trie.Find(target)?.Emitted?.LinkGroup ?? target;
                outputs.Add(new MergedEntry(entry.With(linkTarget: group), null, _origins.GetValueOrDefault(group)));
            }
            else
            {
                // The target this layer linked to was replaced by a later layer, and its content has
                // streamed by: read this layer again at the end to recover it.
                _rereads.Add(link);
            }

            return;
        }

        if (!_pending.TryGetValue(target, out var waiting))
        {
            waiting = [];
            _pending[target] = waiting;
        }

        waiting.Add(link);
    }

    /// <summary>
    /// Links waiting for a file at this path, from this layer or above and not cut off by a whiteout in
    /// between, are resolved by it: as hardlinks when the file is the final version, else the first
    /// link becomes a file with this content and the others link to it.
    /// </summary>
    private bool TryResolvePending(LayerState state, OciFileEntry file, Stream? content, bool emittedAsFinal, List<MergedEntry> outputs)
    {
        if (!_pending.TryGetValue(file.Path, out var waiting))
        {
            return false;
        }

        var layer = state.Layer.Index;
        var resolved = waiting.Where(link => link.State.Layer.Index >= layer && !_trie.IsHidden(file.Path, layer, link.State.Layer.Index)).ToList();
        foreach (var link in waiting.Where(link => !resolved.Contains(link)))
        {
            Report(link.State, "MergeHardlinkBroken", MergeIssueSeverity.Error, link.Entry.Path, $"the hardlink points to '{file.Path}', which a layer below it deleted; it is left out");
        }

        _pending.Remove(file.Path);
        if (resolved.Count == 0)
        {
            return false;
        }

        var group = emittedAsFinal ? file.Path : resolved[0].Entry.Path;
        var first = emittedAsFinal ? 0 : 1;
        if (!emittedAsFinal)
        {
            _origins[group] = new ContentOrigin(state.Layer, file.Path);
            outputs.Add(new MergedEntry(AsFileAt(file, resolved[0].Entry), content, _origins[group]));
        }

        var origin = _origins.GetValueOrDefault(group);
        for (var i = first; i < resolved.Count; i++)
        {
            outputs.Add(new MergedEntry(resolved[i].Entry.With(linkTarget: group), null, origin));
        }

        SetGroup(group, resolved);
        return true;
    }

    /// <summary>Links to a symlink, device or FIFO become copies of it (a hard link shares the inode, whatever it is).</summary>
    private void ResolvePendingToCopies(LayerState state, OciFileEntry target, List<MergedEntry> outputs)
    {
        if (!_pending.Remove(target.Path, out var waiting))
        {
            return;
        }

        foreach (var link in waiting.Where(link => link.State.Layer.Index >= state.Layer.Index))
        {
            outputs.Add(new MergedEntry(target.With(path: link.Entry.Path, layerIndex: link.Entry.LayerIndex), null));
        }
    }

    private async IAsyncEnumerable<MergedEntry> RereadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var group in _rereads.GroupBy(link => link.State.Layer.Index).OrderByDescending(g => g.Key))
        {
            var wanted = group.GroupBy(link => link.Target).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
            var layer = group.First().State.Layer;
            await foreach (var raw in layer.Open(cancellationToken).ConfigureAwait(false))
            {
                if (raw.Entry.Type != OciFileType.File || !wanted.Remove(EntryName.Normalize(raw.Entry.Path), out var links))
                {
                    continue;
                }

                var origin = new ContentOrigin(layer, EntryName.Normalize(raw.Entry.Path));
                yield return new MergedEntry(AsFileAt(raw.Entry, links[0].Entry), raw.Content, origin);
                foreach (var link in links.Skip(1))
                {
                    yield return new MergedEntry(link.Entry.With(linkTarget: links[0].Entry.Path), null, origin);
                }

                SetGroup(links[0].Entry.Path, links);
                if (wanted.Count == 0)
                {
                    break;
                }
            }

            foreach (var link in wanted.Values.SelectMany(links => links))
            {
                Report(link.State, "MergeHardlinkBroken", MergeIssueSeverity.Error, link.Entry.Path, $"the hardlink's target '{link.Target}' could not be found again; it is left out");
            }
        }

        _rereads.Clear();
    }

    /// <summary>A link made into the file it shares an inode with: the file's metadata, the link's name.</summary>
    private static OciFileEntry AsFileAt(OciFileEntry file, OciFileEntry link) =>
        file.With(path: link.Path, layerIndex: link.LayerIndex);

    private void SetGroup(string group, IEnumerable<PendingLink> links)
    {
        foreach (var link in links)
        {
            if (_trie.Find(link.Entry.Path) is { } node)
            {
                node.Emitted = new PathTrie.EmittedInfo(link.Entry.Path == group ? OciFileType.File : OciFileType.Hardlink, link.State.Layer.Index, group);
            }
        }
    }

    /// <summary>A layer holding the same path twice (malformed, but real): the later entry wins when it can.</summary>
    private bool CanReplace(LayerState state, PathTrie.Node node, PathTrie.EmittedInfo earlier, OciFileEntry entry)
    {
        if (earlier.Type == OciFileType.Hardlink)
        {
            Report(state, "MergeDuplicateEntry", MergeIssueSeverity.Error, entry.Path, "the layer holds this path twice, first as a hardlink; the second entry is left out");
            return false;
        }

        if (earlier.Type == OciFileType.Directory && entry.Type != OciFileType.Directory && node.HasEmittedDescendant)
        {
            Report(state, "MergeDuplicateEntry", MergeIssueSeverity.Error, entry.Path, $"the layer holds this path twice, first as a directory with entries; the {entry.Type} is left out");
            return false;
        }

        Report(state, "MergeDuplicateEntry", MergeIssueSeverity.Warning, entry.Path, "the layer holds this path twice; the later entry wins");
        return true;
    }

    /// <summary>
    /// Clamps ".." components inside the root (as containerd does), reporting the entry when it tried to
    /// leave. Returns null for names that cannot be used at all.
    /// </summary>
    private string? Neutralise(LayerState state, string path, string rawName)
    {
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            Report(state, "MergeEntryNameInvalid", MergeIssueSeverity.Error, rawName, "the name holds a NUL character; the entry is left out");
            return null;
        }

        var normalised = EntryName.Normalize(path);
        if (!EntryName.HasParentComponent(normalised))
        {
            return normalised;
        }

        var clamped = EntryName.ClampInside(normalised, out var escaped);
        if (escaped)
        {
            Report(state, "MergeEntryEscapes", MergeIssueSeverity.Warning, rawName, $"the name leads out of the root; it is kept inside, as '{clamped}'");
        }

        return clamped;
    }

    private void Report(LayerState state, string errorId, MergeIssueSeverity severity, string entry, string reason) =>
        _report?.Invoke(new MergeIssue(errorId, severity, $"{state.Layer.Name}, entry '{entry}': {reason}.", state.Layer.Index, state.Layer.Name, entry));

    private sealed class LayerState(MergeLayer layer)
    {
        public MergeLayer Layer { get; } = layer;

        /// <summary>Regular files this layer holds: true when the merge emitted them (final), false when a later layer shadows them.</summary>
        public Dictionary<string, bool> Files { get; } = new(StringComparer.Ordinal);

        /// <summary>This layer's hardlinks, path to (resolved) target.</summary>
        public Dictionary<string, string> Links { get; } = new(StringComparer.Ordinal);
    }

    private sealed record PendingLink(LayerState State, OciFileEntry Entry, string Target);
}
