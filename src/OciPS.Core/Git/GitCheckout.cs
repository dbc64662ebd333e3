using LibGit2Sharp;
using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>
/// Checks a converted branch out into the repository's work tree (libgit2's checkout: files,
/// symlinks and executable bits as git records them, and an index that matches them, so
/// <c>git status</c> is clean afterwards). libgit2 reads a blob whole to write it, so into a fresh
/// work tree the large files are streamed out of the pack here first, and staged.
/// </summary>
internal static class GitCheckout
{
    /// <summary>Files at least this large are streamed out of the pack rather than checked out by libgit2, which reads a blob whole.</summary>
    internal const long StreamedSize = 16L << 20;

    /// <summary>Makes HEAD the branch and the work tree and index its last commit.</summary>
    /// <remarks>
    /// A work tree that was never checked out (an empty index) is written over: nothing there is
    /// git's yet. Otherwise the checkout is git's safe one: a file changed since the last checkout
    /// stops it before anything is written, rather than being overwritten.
    /// </remarks>
    public static void Run(Repository repository, string branch, IProgress<OciProgress>? progress, string parentKey, CancellationToken cancellationToken)
    {
        if (repository.Info.IsBare)
        {
            throw new OciException("GitRepoBare", OciErrorKind.InvalidArgument, $"'{repository.Info.Path}' is a bare repository; it has no work tree to check '{branch}' out into.", repository.Info.Path);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var target = repository.Branches[branch] ?? throw new InvalidOperationException($"The branch '{branch}' was just written and is missing.");
        var key = parentKey + ":checkout";
        var activity = $"Checking out '{branch}'";
        var fresh = repository.Index.Count == 0;
        if (fresh)
        {
            // HEAD names the branch first, so libgit2 compares the work tree with the branch itself
            // and leaves alone the large files written here, with index entries that match them.
            repository.Refs.UpdateTarget("HEAD", target.CanonicalName);
            WriteLargeFiles(repository, target.Tip.Tree, cancellationToken);
        }

        var options = new CheckoutOptions
        {
            CheckoutModifiers = fresh ? CheckoutModifiers.Force : CheckoutModifiers.None,
            OnCheckoutProgress = (_, completed, total) =>
            {
                if (completed % 500 == 0 || completed == total)
                {
                    progress?.Report(new OciProgress(key, parentKey, activity, $"{completed} of {total} files", completed, total, false, completed == total));
                }
            },
        };

        try
        {
            Commands.Checkout(repository, target, options);
        }
        catch (CheckoutConflictException ex)
        {
            throw new OciException(
                "GitCheckoutConflict",
                OciErrorKind.ResourceExists,
                $"The work tree of '{repository.Info.WorkingDirectory}' has changes that checking out '{branch}' would overwrite ({ex.Message}); commit, stash or discard them (git stash, git checkout -- .) and convert again with -Checkout. The branch itself was converted.",
                repository.Info.WorkingDirectory,
                ex);
        }
    }

    /// <summary>Writes the tree's large regular files in chunks, straight from the pack, and stages them.</summary>
    private static void WriteLargeFiles(Repository repository, Tree tree, CancellationToken cancellationToken)
    {
        var objects = Path.Combine(repository.Info.Path, "objects");
        var staged = false;
        foreach (var entry in Walk(tree))
        {
            if (entry.Mode is not (Mode.NonExecutableFile or Mode.ExecutableFile) ||
                repository.ObjectDatabase.RetrieveObjectMetadata(entry.Target.Id).Size < StreamedSize)
            {
                continue;
            }

            cancellationToken.ThrowIfCancellationRequested();
            using var content = PackBlobReader.Open(objects, entry.Target.Id);
            if (content is null)
            {
                continue;
            }

            var path = Path.Combine(repository.Info.WorkingDirectory, entry.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                content.CopyTo(file, 1 << 18);
            }

            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, entry.Mode == Mode.ExecutableFile
                    ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute
                    : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            repository.Index.Add(entry.Path);
            staged = true;
        }

        if (staged)
        {
            repository.Index.Write();
        }
    }

    private static IEnumerable<TreeEntry> Walk(Tree tree)
    {
        foreach (var entry in tree)
        {
            if (entry.Target is Tree subtree)
            {
                foreach (var inner in Walk(subtree))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return entry;
            }
        }
    }
}
