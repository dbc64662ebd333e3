using System.Management.Automation;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>Get-Help shows the help compiled from docs/en-US for every exported cmdlet.</summary>
public sealed class HelpTests
{
    public static TheoryData<string> Cmdlets()
    {
        using var session = new ModuleSession();
        var data = new TheoryData<string>();
        foreach (var name in session.Module.ExportedCmdlets.Keys.Order(StringComparer.Ordinal))
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void GetHelp_HasSynopsisDescriptionParametersAndExamples(string cmdlet)
    {
        using var session = new ModuleSession();
        var result = session.Run("Get-Help -Name $args[0] -Full", cmdlet);
        result.ThrowIfFailed();
        var help = Assert.Single(result.Output);
        var synopsis = help.Properties["Synopsis"].Value?.ToString() ?? string.Empty;
        Assert.False(string.IsNullOrWhiteSpace(synopsis));
        Assert.DoesNotContain(cmdlet + " ", synopsis.TrimStart()[..Math.Min(synopsis.Length, cmdlet.Length + 1)], StringComparison.Ordinal);

        var examples = (PSObject)help.Properties["examples"].Value;
        var exampleList = ((object[])((PSObject)examples).Properties["example"].Value).Length;
        Assert.True(exampleList >= 3, $"{cmdlet} has {exampleList} examples in Get-Help.");

        var parameters = session.Run("(Get-Help -Name $args[0] -Full).parameters.parameter | ForEach-Object { $_.name + '=' + ($_.description | ForEach-Object Text) }", cmdlet);
        parameters.ThrowIfFailed();
        var command = session.Run("(Get-Command -Name $args[0]).Parameters.Keys", cmdlet).Output.Select(o => o.ToString()).ToHashSet();
        foreach (var line in parameters.Output.Select(o => o.ToString()))
        {
            var name = line[..line.IndexOf('=', StringComparison.Ordinal)];
            Assert.Contains(name, command);
            Assert.True(line.Length > name.Length + 1, $"-{name} of {cmdlet} has no description in Get-Help.");
        }
    }

    [Fact]
    public void AboutTopics_AreFound()
    {
        using var session = new ModuleSession();
        foreach (var topic in new[] { "about_OciPS", "about_OciPS_Locations" })
        {
            var result = session.Run("Get-Help -Name $args[0] | ForEach-Object { $_.ToString() }", topic);
            result.ThrowIfFailed();
            Assert.Contains("LONG DESCRIPTION", string.Join("\n", result.Output.Select(o => o.ToString())), StringComparison.Ordinal);
        }
    }
}
