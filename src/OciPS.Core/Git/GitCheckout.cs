using LibGit2Sharp;
using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>
/// Checks a converted branch out into the repository's work tree (libgit2's checkout: files,
/// symlinks and executable bits as git records them, and an index that matches them, so
/// <c>git status</c> is clean afterwards).
/// </summary>
internal static class GitCheckout
{
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
        var options = new CheckoutOptions
        {
            CheckoutModifiers = repository.Index.Count == 0 ? CheckoutModifiers.Force : CheckoutModifiers.None,
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
}
