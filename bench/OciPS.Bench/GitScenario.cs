using OciPS.Core.Git;

namespace OciPS.Bench;

/// <summary>Image → git repository, as <c>ConvertTo-OciGitRepo</c> does it.</summary>
public sealed class ConvertGitScenario : IBenchScenario
{
    public string Name => "convert-git";

    public string Usage => "<location> <repository> [branch]";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var image = await BenchImages.LoadAsync(arguments[0], cancellationToken);
        var result = await GitRepoConverter.ConvertAsync(
            image,
            Path.GetFullPath(arguments[1]),
            new GitConversionOptions { Branch = arguments.Count > 2 ? arguments[2] : null },
            null,
            null,
            warning => Console.Error.WriteLine("warning: " + warning),
            cancellationToken);
        Console.Error.WriteLine($"{result.Commits.Count} commits ({result.ReusedCommits} reused), branch {result.Branch}, changed: {result.Changed}");
    }
}
