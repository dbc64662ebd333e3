using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>How an image is converted into a git repository.</summary>
public sealed record GitConversionOptions
{
    /// <summary>The branch to write; by default a name made from the image's reference.</summary>
    public string? Branch { get; init; }

    /// <summary>Whether to check the branch out into the repository's work tree afterwards (HEAD then names it).</summary>
    public bool Checkout { get; init; }
}

/// <summary>What a conversion did.</summary>
/// <param name="RepositoryPath">The repository's directory.</param>
/// <param name="Branch">The branch that now points at the image.</param>
/// <param name="Image">The image's reference.</param>
/// <param name="ImageDigest">The image's manifest digest.</param>
/// <param name="Commits">Every commit of the image, oldest first: one per history step, then the Image.md commit.</param>
/// <param name="ReusedCommits">How many of them were already in the repository (a shared base, or the same image again).</param>
/// <param name="Changed">Whether the branch moved; false when the image was already converted there.</param>
public sealed record GitConversionResult(
    string RepositoryPath,
    string Branch,
    string Image,
    Digest ImageDigest,
    IReadOnlyList<string> Commits,
    int ReusedCommits,
    bool Changed)
{
    /// <summary>The commit the branch points at.</summary>
    public string Head => Commits[^1];

    public int NewCommits => Commits.Count - ReusedCommits;
}
