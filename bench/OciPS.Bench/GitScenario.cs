using OciPS.Core.Git;

namespace OciPS.Bench;

/// <summary>Image → git repository, as <c>ConvertTo-OciGitRepo</c> does it.</summary>
public sealed class ConvertGitScenario : IBenchScenario
{
    public string Name => "convert-git";

    public string Usage => "<location> <repository> [branch] [--checkout]";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var checkout = arguments.Contains("--checkout");
        var rest = arguments.Where(a => a != "--checkout").ToList();
        var image = await BenchImages.LoadAsync(rest[0], cancellationToken);
        var result = await GitRepoConverter.ConvertAsync(
            image,
            Path.GetFullPath(rest[1]),
            new GitConversionOptions { Branch = rest.Count > 2 ? rest[2] : null, Checkout = checkout },
            null,
            null,
            warning => Console.Error.WriteLine("warning: " + warning),
            cancellationToken);
        Console.Error.WriteLine($"{result.Commits.Count} commits ({result.ReusedCommits} reused), branch {result.Branch}, changed: {result.Changed}");
    }
}
