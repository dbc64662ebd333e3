using System.Runtime.CompilerServices;
using OciPS.Core.Build.Context;
using OciPS.Core.Build.Layers;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>COPY --from: the entries of another stage or image.</summary>
internal sealed partial class CopyPlanner
{
    /// <summary>
    /// The entries of a COPY --from. Sources may be globs; as in BuildKit, a source that is a symbolic
    /// link (or reached through one) is followed inside the --from image and copied under its own name,
    /// which takes a second read of the image only when such a source is met.
    /// </summary>
    private async IAsyncEnumerable<LayerItem> FromImageAsync(StageTree tree, CopyRequest request, string target, bool destinationIsDirectory, LayerItem[] parents, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var from = request.From!;
        var intoDirectory = destinationIsDirectory || request.Sources.Count > 1;
        var sources = request.Sources.Select(s => new FromSource(Normalise(s), null)).ToArray();
        var state = new FromCopyState(tree.Lookup(target) is { IsDirectory: true }, request.Owner ?? (0, 0), options.SourceDateEpoch is { } sde ? new UnixTime(sde, 0) : (UnixTime?)null);
        foreach (var parent in parents)
        {
            state.Emitted.Add(parent.Path);
            yield return parent;
        }

        var symlinks = new Dictionary<string, string>(StringComparer.Ordinal);
        var found = new bool[sources.Length];
        await foreach (var item in CopyFromAsync(from, request, sources, found, target, intoDirectory, state, symlinks, cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }

        // Sources that were links, or not found because a directory on their way is a link: follow the
        // links in the --from image and copy what they lead to, named as the source.
        var followed = new List<FromSource>();
        for (var i = 0; i < sources.Length; i++)
        {
            if (!found[i] && !PathPatterns.HasWildcards(sources[i].Path) && FollowSource(symlinks, sources[i].Path, request.Instruction.StartLine) is { } resolved)
            {
                followed.Add(resolved);
            }
        }

        followed.AddRange(state.LinkedMatches.Where(m => !sources.Any(s => s.Path == m)).Select(m => FollowSource(symlinks, m, request.Instruction.StartLine)).OfType<FromSource>());
        if (followed.Count > 0)
        {
            var foundFollowed = new bool[followed.Count];
            await foreach (var item in CopyFromAsync(from, request, [.. followed], foundFollowed, target, intoDirectory, state, symlinks: null, cancellationToken).ConfigureAwait(false))
            {
                yield return item;
            }

            for (var i = 0; i < sources.Length; i++)
            {
                found[i] |= followed.Select((f, j) => (f, j)).Any(p => p.f.Name == sources[i].Path && foundFollowed[p.j]);
            }
        }

        var missing = sources.Where((s, i) => !found[i]).ToArray();
        if (missing.Length > 0)
        {
            throw new BuildException("BuildSourceNotFound", OciErrorKind.NotFound, $"{_file}:{request.Instruction.StartLine}: {string.Join(", ", missing.Select(m => "/" + m.Path))} not found in {from.Name}.", from.Name);
        }
    }

    /// <summary>A source path with its links followed (null when no link is on its way), keeping the source's path as its name.</summary>
    private FromSource? FollowSource(Dictionary<string, string> symlinks, string source, int line)
    {
        var resolved = StageTree.FollowLinks(
            source,
            p => symlinks.TryGetValue(p, out var link) ? new TreeNode(TarEntryKind.Symlink, 0x1FF, 0, 0, link) : null,
            _ => new InvalidOperationException("unreachable: only links are known"),
            () => new BuildException("BuildSourceLinkLoop", OciErrorKind.InvalidData, $"{_file}:{line}: too many levels of symbolic links in '/{source}'.", "/" + source));
        return resolved == source ? null : new FromSource(resolved, source);
    }

    /// <summary>
    /// One read of the --from image, copying what the sources cover. With <paramref name="symlinks"/>
    /// (the first read) every link is noted there and a source that is itself a link is left for the
    /// second read; glob matches that are links go to <see cref="FromCopyState.LinkedMatches"/>.
    /// </summary>
    private async IAsyncEnumerable<LayerItem> CopyFromAsync(CopyFromImage from, CopyRequest request, FromSource[] sources, bool[] found, string target, bool intoDirectory, FromCopyState state, Dictionary<string, string>? symlinks, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var merger = new LayerMerger(MergeLayer.Of(from.Image), report: null, progress: null, activity: "Reading " + from.Name);
        await foreach (var merged in merger.MergeAsync(cancellationToken).ConfigureAwait(false))
        {
            var entry = merged.Entry;
            if (entry.IsWhiteout)
            {
                continue;
            }

            var entryPath = entry.Path == "." ? string.Empty : entry.Path;
            if (symlinks is not null && entry.Type == OciFileType.Symlink)
            {
                symlinks[entryPath] = entry.LinkTarget ?? string.Empty;
            }

            for (var i = 0; i < sources.Length; i++)
            {
                if (RootOf(sources[i].Path, entryPath) is not { } root)
                {
                    continue;
                }

                if (symlinks is not null && entry.Type == OciFileType.Symlink && root == entryPath)
                {
                    // Docker follows a source that is a link; its target is copied in the second read.
                    if (PathPatterns.HasWildcards(sources[i].Path))
                    {
                        found[i] = true;
                        state.LinkedMatches.Add(entryPath);
                    }

                    continue;
                }

                var name = sources[i].Name is { } original && root == sources[i].Path ? original : root;
                var path = MapFromImage(entryPath, root, name, target, intoDirectory || PathPatterns.HasWildcards(sources[i].Path), entry.Type == OciFileType.Directory);
                if (entry.Type == OciFileType.Directory && path == target)
                {
                    // A source directory's contents go into the destination, made 0755 (--chown's owner) when
                    // missing and left as it is when it exists, as for a directory of the build context.
                    found[i] = true;
                    if (!state.TargetExists && target.Length > 0 && state.Emitted.Add(path))
                    {
                        state.TargetExists = true;
                        yield return new LayerItem { Path = target, Kind = TarEntryKind.Directory, Mode = 0x1ED, Uid = state.Owner.Uid, Gid = state.Owner.Gid, ModifiedTime = state.Epoch ?? UnixTime.FromDateTimeOffset(DateTimeOffset.UtcNow) };
                    }

                    continue;
                }

                if (!state.Emitted.Add(path))
                {
                    continue;
                }

                found[i] = true;
                var kind = TarEntryKinds.From(entry.Type) ?? TarEntryKind.File;
                if (kind == TarEntryKind.Hardlink)
                {
                    var linkTarget = entry.LinkTarget ?? string.Empty;
                    var linked = RootOf(sources[i].Path, linkTarget) is { } linkRoot
                        ? MapFromImage(linkTarget, linkRoot, linkRoot == sources[i].Path ? name : linkRoot, target, intoDirectory || PathPatterns.HasWildcards(sources[i].Path), false)
                        : null;
                    if (linked is null)
                    {
                        options.Warning?.Invoke($"{_file}:{request.Instruction.StartLine}: '{entry.Path}' is a hard link to '{entry.LinkTarget}', which is not copied; it is left out.");
                        continue;
                    }

                    yield return Item(entry, path, kind, request, state.Epoch) with { LinkTarget = linked };
                    continue;
                }

                var content = merged.Content;
                yield return Item(entry, path, kind, request, state.Epoch) with
                {
                    Open = kind == TarEntryKind.File && content is not null ? _ => Task.FromResult<Stream>(new NonClosingStream(content)) : null,
                };
            }
        }
    }

    /// <summary>The part of <paramref name="entryPath"/> a source (a path or a glob, '' for the root) covers: the matching leading components, or null.</summary>
    private static string? RootOf(string source, string entryPath)
    {
        if (source.Length == 0)
        {
            return string.Empty;
        }

        var depth = source.Count(c => c == '/') + 1;
        var end = -1;
        for (var d = 0; d < depth; d++)
        {
            end = entryPath.IndexOf('/', end + 1);
            if (end < 0)
            {
                if (d < depth - 1)
                {
                    return null;
                }

                end = entryPath.Length;
                break;
            }
        }

        var prefix = entryPath[..end];
        if (prefix.Length == 0)
        {
            return null;
        }

        return PathPatterns.HasWildcards(source) ? PathPatterns.MatchesExactly(source, prefix) ? prefix : null : prefix == source ? prefix : null;
    }

    private static LayerItem Item(OciFileEntry entry, string path, TarEntryKind kind, CopyRequest request, UnixTime? epoch) => new()
    {
        Path = path,
        Kind = kind,
        Mode = kind == TarEntryKind.Symlink ? entry.Mode : request.Mode ?? entry.Mode,
        Uid = request.Owner?.Uid ?? entry.Uid,
        Gid = request.Owner?.Gid ?? entry.Gid,
        Size = kind == TarEntryKind.File ? entry.Size : 0,
        ModifiedTime = epoch is { } e && entry.ModifiedTime > e ? e : entry.ModifiedTime,
        LinkTarget = entry.LinkTarget,
        Xattrs = entry.Xattrs,
    };

    /// <summary>
    /// Where an entry under a source root of the --from image lands: the root directory's contents go
    /// into the target; a root that is not a directory becomes target/name (or the target itself).
    /// </summary>
    private static string MapFromImage(string entryPath, string root, string name, string target, bool intoDirectory, bool isDirectory)
    {
        if (entryPath == root)
        {
            return isDirectory ? target : intoDirectory ? Join(target, name.Split('/')[^1]) : target;
        }

        return Join(target, root.Length == 0 ? entryPath : entryPath[(root.Length + 1)..]);
    }

    /// <summary>A --from source: its path (or glob) and, when it was reached by following links, the source as written.</summary>
    private sealed record FromSource(string Path, string? Name);

    /// <summary>What the reads of one COPY --from share: the paths written so far and the target's state.</summary>
    private sealed class FromCopyState(bool targetExists, (long Uid, long Gid) owner, UnixTime? epoch)
    {
        public HashSet<string> Emitted { get; } = new(StringComparer.Ordinal);

        public List<string> LinkedMatches { get; } = [];

        public bool TargetExists { get; set; } = targetExists;

        public (long Uid, long Gid) Owner { get; } = owner;

        public UnixTime? Epoch { get; } = epoch;
    }
}
