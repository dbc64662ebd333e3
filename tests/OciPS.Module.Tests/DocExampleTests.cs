using System.Text.RegularExpressions;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>
/// Every example in docs/en-US/&lt;Cmdlet&gt;.md runs, as written, in a session whose current directory
/// holds the fixture images (<see cref="FixtureImages"/>), and produces no error.
/// </summary>
public sealed partial class DocExampleTests(FixtureImages images) : IClassFixture<FixtureImages>
{
    public static TheoryData<string, string> Examples()
    {
        var data = new TheoryData<string, string>();
        foreach (var (page, title, _) in ReadExamples())
        {
            data.Add(page, title);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Example_RunsWithoutErrors(string page, string title)
    {
        var code = ReadExamples().Single(e => e.Page == page && e.Title == title).Code;
        using var session = new ModuleSession(images.WorkingDirectory);
        session.Run(". $args[0]", Path.Combine(AppContext.BaseDirectory, "UtilityStandIns.ps1")).ThrowIfFailed();
        session.Run("$global:registry = $args[0]", images.RegistryHost).ThrowIfFailed();

        var result = session.Run(code);
        Assert.True(!result.Failed, $"{page} / {title} failed: {result.FirstError?.FullyQualifiedErrorId}: {result.FirstError?.Exception.Message}\n{code}");
        Assert.NotEmpty(result.Output);
    }

    [Fact]
    public void EveryExportedCmdlet_HasAPageWithAtLeastThreeExamples()
    {
        using var session = new ModuleSession();
        var examples = ReadExamples().ToArray();
        foreach (var cmdlet in session.Module.ExportedCmdlets.Keys)
        {
            Assert.True(examples.Count(e => e.Page == cmdlet) >= 3, $"docs/en-US/{cmdlet}.md needs at least three examples.");
        }
    }

    private static IEnumerable<(string Page, string Title, string Code)> ReadExamples()
    {
        var docs = Path.Combine(ModulePaths.RepositoryRoot, "docs", "en-US");
        foreach (var file in Directory.GetFiles(docs, "*-*.md").Order(StringComparer.Ordinal))
        {
            var page = Path.GetFileNameWithoutExtension(file);
            var text = File.ReadAllText(file);
            var examples = text.IndexOf("\n## EXAMPLES", StringComparison.Ordinal);
            if (examples < 0)
            {
                continue;
            }

            var end = text.IndexOf("\n## ", examples + 5, StringComparison.Ordinal);
            var section = end < 0 ? text[examples..] : text[examples..end];
            foreach (Match match in ExamplePattern().Matches(section))
            {
                yield return (page, match.Groups["title"].Value.Trim(), match.Groups["code"].Value);
            }
        }
    }

    [GeneratedRegex(@"^### (?<title>[^\n]+)\n+```powershell\n(?<code>.*?)\n```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex ExamplePattern();
}
