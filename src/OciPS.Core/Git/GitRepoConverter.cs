using System.Text;
using LibGit2Sharp;
using OciPS.Core.Layers;
using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>
/// Converts an image into a git repository: one commit per history step (empty steps as empty
/// commits), then one commit adding <c>Image.md</c>. Each layer's entries are applied to the
/// in-memory tree of the previous commit as they stream by, blobs going straight into the object
/// database: no work tree, no index, no rescans. Commits are deterministic, so images sharing a base
/// share its commits; a step whose commit is already in the repository is not read again.
/// </summary>
public static class GitRepoConverter
{
    public const string RootfsDirectory = "rootfs";

    /// <summary>Converts <paramref name="image"/> into the repository at <paramref name="path"/> (created when missing).</summary>
    /// <param name="progress">Progress per history step (entries read).</param>
    /// <param name="log">Verbose messages (reused commits, branch moves).</param>
    /// <param name="warn">Entries that could not be kept as they are.</param>
    public static async Task<GitConversionResult> ConvertAsync(
        OciImage image,
        string path,
        GitConversionOptions options,
        IProgress<OciProgress>? progress,
        Action<string>? log,
        Action<string>? warn,
        CancellationToken cancellationToken)
    {
        var fullPath = Path.GetFullPath(path);
        var branch = options.Branch ?? GitNames.BranchName(image.Reference);
        var refName = "refs/heads/" + branch;
        if (!Reference.IsValidName(refName))
        {
            throw new OciException("GitBranchNameInvalid", OciErrorKind.InvalidArgument, $"'{branch}' is not a valid git branch name.", branch);
        }

        using var repository = OpenOrCreate(fullPath, out var created);
        var objects = Path.Combine(repository.Info.Path, "objects");
        Func<ObjectId, bool>? stored = created ? null : repository.ObjectDatabase.Contains;
        var written = new HashSet<ObjectId>();
        var known = IndexCommits(repository);
        var oldTip = repository.Refs[refName]?.ResolveToDirectReference()?.Target?.Id;
        var commits = new List<string>();
        var reused = 0;
        var activity = $"Converting {image.Reference} to git";
        var parentKey = "git:" + image.Digest;

        ObjectId? parent = null;
        RootfsTree? tree = null;
        var steps = image.History;
        for (var position = 0; position < steps.Count; position++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var step = steps[position];
            var message = HistoryMessage.For(step, position);
            var when = step.Created ?? image.Created ?? DateTimeOffset.UnixEpoch;
            progress?.Report(new OciProgress(parentKey, null, activity, $"step {position + 1} of {steps.Count}: {HistoryMessage.Clean(step.CreatedBy)}", position, steps.Count, false, false));
            if (tree is null && known.TryGetValue(GitObjects.Key(parent, when, message), out var existing))
            {
                parent = existing;
                commits.Add(existing.Sha);
                reused++;
                continue;
            }

            if (tree is null)
            {
                tree = parent is null ? new RootfsTree() : RootfsTree.Load(repository.Lookup<Commit>(parent));
                if (parent is not null)
                {
                    log?.Invoke($"{reused} history step(s) of {image.Reference} are already in the repository; converting from step {position}.");
                    Advance(repository, refName, parent, image);
                }
            }

            using (var pack = new PackWriter(objects, stored, written))
            {
                if (!step.EmptyLayer)
                {
                    await ApplyLayerAsync(step, tree, pack, progress, parentKey, warn, cancellationToken).ConfigureAwait(false);
                }

                var root = WriteRoot(pack, tree, null);
                parent = GitObjects.WriteCommit(pack, root, parent, when, message);
                pack.Complete();
            }

            commits.Add(parent.Sha);
            Advance(repository, refName, parent, image);
        }

        var imageMessage = ImageMessage(image);
        var imageCreated = image.Created ?? (steps.Count > 0 ? steps[^1].Created : null) ?? DateTimeOffset.UnixEpoch;
        if (tree is null && known.TryGetValue(GitObjects.Key(parent, imageCreated, imageMessage), out var imageCommit))
        {
            commits.Add(imageCommit.Sha);
            reused++;
            parent = imageCommit;
        }
        else
        {
            tree ??= parent is null ? new RootfsTree() : RootfsTree.Load(repository.Lookup<Commit>(parent));
            using (var pack = new PackWriter(objects, stored, written))
            {
                var markdown = GitObjects.WriteBlob(pack, Encoding.UTF8.GetBytes(ImageMarkdown.Render(image)));
                var root = WriteRoot(pack, tree, markdown);
                parent = GitObjects.WriteCommit(pack, root, parent, imageCreated, imageMessage);
                pack.Complete();
            }

            commits.Add(parent.Sha);
        }

        Advance(repository, refName, parent, image);
        if (options.Checkout)
        {
            GitCheckout.Run(repository, branch, progress, parentKey, cancellationToken);
        }

        progress?.Report(new OciProgress(parentKey, null, activity, "done", steps.Count, steps.Count, false, true));
        var changed = oldTip != parent;
        if (!changed)
        {
            log?.Invoke($"{image.Reference} ({image.Digest}) is already converted on branch '{branch}' of {fullPath}; nothing changed.");
        }
        else if (oldTip is not null)
        {
            log?.Invoke($"Branch '{branch}' moved from {oldTip.Sha} to {parent.Sha}.");
        }

        return new GitConversionResult(fullPath, branch, image.Reference, image.Digest, commits, reused, changed);
    }

    /// <summary>The message of the commit that adds Image.md.</summary>
    private static string ImageMessage(OciImage image)
    {
        var text = new StringBuilder();
        text.Append("Image ").Append(image.Reference).Append("\n\n");
        text.Append("Image-Reference: ").Append(image.Reference).Append('\n');
        text.Append("Image-Digest: ").Append(image.Digest).Append('\n');
        text.Append("Config-Digest: ").Append(image.ConfigDigest).Append('\n');
        if (image.Platform is not null)
        {
            text.Append("Platform: ").Append(image.Platform).Append('\n');
        }

        return text.ToString();
    }

    private static Repository OpenOrCreate(string path, out bool created)
    {
        created = false;
        if (Directory.Exists(path) && Repository.IsValid(path))
        {
            return new Repository(path);
        }

        if (File.Exists(path) || (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any()))
        {
            throw new OciException("GitRepoPathInUse", OciErrorKind.ResourceExists, $"'{path}' exists and is not a git repository; give an empty or new directory, or a repository made by ConvertTo-OciGitRepo.", path);
        }

        Repository.Init(path);
        created = true;
        return new Repository(path);
    }

    /// <summary>Every commit reachable from a branch, by parent, date and message, to find steps already converted.</summary>
    private static Dictionary<string, ObjectId> IndexCommits(Repository repository)
    {
        var known = new Dictionary<string, ObjectId>(StringComparer.Ordinal);
        var tips = repository.Branches.Where(b => !b.IsRemote && b.Tip is not null).Select(b => b.Tip).ToArray();
        if (tips.Length == 0)
        {
            return known;
        }

        foreach (var commit in repository.Commits.QueryBy(new CommitFilter { IncludeReachableFrom = tips }))
        {
            var parent = commit.Parents.FirstOrDefault()?.Id;
            known.TryAdd(GitObjects.Key(parent, commit.Author.When, commit.Message), commit.Id);
        }

        return known;
    }

    /// <summary>Points the branch at the newest complete commit, so a stopped conversion leaves a consistent branch.</summary>
    private static void Advance(Repository repository, string refName, ObjectId commit, OciImage image)
    {
        var existing = repository.Refs[refName];
        if (existing is null)
        {
            repository.Refs.Add(refName, commit, $"ConvertTo-OciGitRepo {image.Reference}");
            if (repository.Info.IsHeadUnborn)
            {
                repository.Refs.UpdateTarget("HEAD", refName);
            }
        }
        else if (existing.ResolveToDirectReference()?.Target?.Id != commit)
        {
            repository.Refs.UpdateTarget(existing, commit, $"ConvertTo-OciGitRepo {image.Reference}");
        }
    }

    private static ObjectId WriteRoot(PackWriter pack, RootfsTree tree, ObjectId? imageMarkdown)
    {
        var rootfs = tree.WriteTree(pack);
        using var meta = new MemoryStream();
        using (var writer = new StreamWriter(meta, new UTF8Encoding(false), 65536, leaveOpen: true))
        {
            tree.WriteMeta(writer);
        }

        var items = new List<TreeItem> { TreeItem.Of(RootfsMeta.FileName, "100644", GitObjects.WriteBlob(pack, meta.ToArray())) };
        if (rootfs is not null)
        {
            items.Add(TreeItem.Of(RootfsDirectory, TreeItem.DirectoryMode, rootfs));
        }

        if (imageMarkdown is not null)
        {
            items.Add(TreeItem.Of(ImageMarkdown.FileName, "100644", imageMarkdown));
        }

        return GitObjects.WriteTree(pack, items);
    }

    /// <summary>
    /// Streams one layer: file contents go to the object database at once; the layer's deletions
    /// (whiteouts, opaque directories) are applied to the lower layers' tree first, then its entries in
    /// order, which is the overlay rule (a whiteout never deletes what its own layer adds).
    /// </summary>
    private static async Task ApplyLayerAsync(
        OciLayer step,
        RootfsTree tree,
        PackWriter pack,
        IProgress<OciProgress>? progress,
        string parentKey,
        Action<string>? warn,
        CancellationToken cancellationToken)
    {
        var key = parentKey + ":" + step.Index;
        var activity = $"Layer {step.Index} ({step.Digest?.Short})";
        void Report(string entry, string reason) => warn?.Invoke($"{step.DisplayName}, entry '{entry}': {reason}.");

        var whiteouts = new List<string>();
        var opaque = new List<string>();
        var additions = new List<(OciFileEntry Entry, string Path, ObjectId? Blob)>();
        long count = 0, bytes = 0;
        await foreach (var raw in LayerReader.ReadAsync(step, cancellationToken).ConfigureAwait(false))
        {
            var entry = raw.Entry;
            count++;
            if (count % 500 == 0)
            {
                progress?.Report(new OciProgress(key, parentKey, activity, $"{count} entries, {ImageMarkdown.FormatSize(bytes)}", count, null, false, false));
            }

            if (Confine(entry.Path, entry.RawName ?? entry.Path, Report) is not { } path)
            {
                continue;
            }

            switch (entry.Type)
            {
                case OciFileType.Whiteout when path == ".":
                    Report(entry.RawName ?? path, "a whiteout of the root directory is ignored");
                    continue;
                case OciFileType.Whiteout:
                    whiteouts.Add(path);
                    continue;
                case OciFileType.OpaqueWhiteout:
                    opaque.Add(path);
                    continue;
            }

            if (EntryName.FileName(path).StartsWith(LayerReader.WhiteoutPrefix, StringComparison.Ordinal))
            {
                Report(path, "a whiteout marker that names nothing is ignored");
                continue;
            }

            if (path == ".")
            {
                continue;
            }

            ObjectId? blob = null;
            switch (entry.Type)
            {
                case OciFileType.File:
                    blob = raw.Content is null || entry.Size == 0 ? GitObjects.WriteBlob(pack, []) : pack.WriteBlob(raw.Content, entry.Size);
                    bytes += entry.Size;
                    break;
                case OciFileType.Symlink:
                    blob = GitObjects.WriteBlob(pack, EntryName.Encode(entry.LinkTarget ?? string.Empty));
                    break;
                case OciFileType.Hardlink:
                    if (Confine(entry.LinkTarget ?? string.Empty, path, Report) is not { } target || target == ".")
                    {
                        Report(path, $"the hardlink points to '{entry.LinkTarget}', which is not a file; it is left out");
                        continue;
                    }

                    entry = entry.With(linkTarget: target);
                    break;
            }

            additions.Add((entry, path, blob));
        }

        foreach (var directory in opaque)
        {
            tree.ClearChildren(directory);
        }

        foreach (var deleted in whiteouts)
        {
            tree.Remove(deleted);
        }

        foreach (var (entry, path, blob) in additions)
        {
            if (entry.Type == OciFileType.Hardlink)
            {
                tree.Link(path, entry.LinkTarget!, Report);
            }
            else
            {
                tree.Put(path, RootfsMeta.Of(entry), blob, Report);
            }
        }

        progress?.Report(new OciProgress(key, parentKey, activity, $"{count} entries, {ImageMarkdown.FormatSize(bytes)}", count, count, false, true));
    }

    /// <summary>Keeps ".." inside the root (as containerd does) and refuses NUL; null for names that cannot be used.</summary>
    private static string? Confine(string path, string rawName, Action<string, string> report)
    {
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            report(rawName, "the name holds a NUL character; the entry is left out");
            return null;
        }

        var normalised = EntryName.Normalize(path);
        if (!normalised.Split('/').Contains(".."))
        {
            return normalised;
        }

        var clamped = EntryName.ClampInside(normalised, out var escaped);
        if (escaped)
        {
            report(rawName, $"the name leads out of the root; it is kept inside, as '{clamped}'");
        }

        return clamped;
    }
}
