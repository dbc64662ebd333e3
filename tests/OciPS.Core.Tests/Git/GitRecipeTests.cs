using System.Text.RegularExpressions;
using OciPS.Core.Content;
using OciPS.Core.Git;
using OciPS.Core.Model;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Git;

/// <summary>
/// Every recipe line of docs/git-conversion.md runs with the git CLI against a converted repository
/// of two images sharing a base, succeeds and prints something; the ones with one right answer give it.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed partial class GitRecipeTests : IDisposable
{
    private readonly TempDirectory _temp = new("git-recipes");

    public void Dispose() => _temp.Dispose();

    private async Task<OciImage> BuildAsync(string name, TarLayer top)
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("layout-" + name));
        await new ImageBuilder()
            .LayerTar(new TarLayer().Dir("etc").File("etc/os-release", "ID=test\nVERSION=1\n").Dir("bin").File("bin/sh", "#!sh", mode: 0x1ED).ToTar(), "/bin/sh -c #(nop) ADD file:0123 in / ")
            .LayerTar(new TarLayer().Dir("opt/app").File("opt/app/old", "old\n").ToTar(), "/bin/sh -c mkdir /opt/app")
            .EmptyStep("/bin/sh -c #(nop)  ENV APP=1")
            .LayerTar(top.ToTar(), "RUN /bin/sh -c ./configure # buildkit")
            .WriteAsync(layout, name);
        return (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:{name}"), null, CancellationToken.None);
    }

    private static IEnumerable<string> RecipeLines()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "git-conversion.md"));
        var recipes = text[text.IndexOf("\n## Recipes", StringComparison.Ordinal)..];
        foreach (Match block in ShellBlock().Matches(recipes))
        {
            foreach (var line in block.Groups["code"].Value.Split('\n'))
            {
                if (line.Length > 0 && !line.StartsWith('#'))
                {
                    yield return line;
                }
            }
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "OciPS.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("OciPS.sln not found above the test binaries.");
    }

    [Fact]
    public async Task EveryRecipe_RunsAndAnswers()
    {
        var image = await BuildAsync("image", new TarLayer().Whiteout("opt/app/old").File("etc/os-release", "ID=test\nVERSION=2\n", mode: 0x180, uid: 0, gid: 4));
        var other = await BuildAsync("other", new TarLayer().File("opt/app/other", "other\n"));
        var repository = _temp.Combine("repo");
        var converted = await GitRepoConverter.ConvertAsync(image, repository, new GitConversionOptions { Branch = "image" }, null, null, null, CancellationToken.None);
        await GitRepoConverter.ConvertAsync(other, repository, new GitConversionOptions { Branch = "other" }, null, null, null, CancellationToken.None);

        var environment = new Dictionary<string, string?>
        {
            ["FILE"] = "etc/os-release",
            ["DELETED"] = "opt/app/old",
            ["IMAGE"] = "image",
            ["OTHER"] = "other",
            ["WORKTREE"] = _temp.Combine("worktree"),
            ["GIT_PAGER"] = "cat",
        };
        var lines = RecipeLines().ToArray();
        Assert.True(lines.Length >= 14, "docs/git-conversion.md lost its recipes");
        var outputs = new Dictionary<string, string>();
        foreach (var line in lines)
        {
            var result = ProcessRunner.Run("sh", ["-c", line], workingDirectory: repository, environment: environment, check: false);
            Assert.True(result.ExitCode == 0, $"'{line}' failed: {result}");
            Assert.False(string.IsNullOrWhiteSpace(result.StandardOutput), $"'{line}' printed nothing: {result}");
            outputs[line] = result.StandardOutput;
        }

        string Output(string fragment) => outputs.Single(o => o.Key.Contains(fragment, StringComparison.Ordinal)).Value;
        var deleting = converted.Commits[3];
        Assert.StartsWith("commit " + deleting, Output("--diff-filter=D"), StringComparison.Ordinal);
        Assert.StartsWith("commit " + converted.Commits[0], Output("--diff-filter=A"), StringComparison.Ordinal);
        Assert.Contains("RUN ./configure", Output("--grep"), StringComparison.Ordinal);
        Assert.Contains("+etc/os-release\tfile\t0600\t0:4", Output("rootfs.meta"), StringComparison.Ordinal);
        Assert.Contains("ENV APP=1", Output("merge-base"), StringComparison.Ordinal);
        Assert.Contains("opt/app/other", Output("git diff --stat \"$IMAGE\""), StringComparison.Ordinal);
        var blame = Output("git blame").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith(converted.Commits[0][..7], blame[0].TrimStart('^'), StringComparison.Ordinal);
        Assert.StartsWith(converted.Commits[3][..7], blame[1], StringComparison.Ordinal);
        Assert.Contains("etc", Output("worktree add"), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^```sh\n(?<code>.*?)\n```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex ShellBlock();
}
