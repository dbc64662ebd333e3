using Xunit;

namespace OciPS.Module.Tests;

/// <summary>Tab completion as a user gets it: TabExpansion2 in the session, at the end of what was typed.</summary>
public sealed class CompletionTests(FixtureImages images) : IClassFixture<FixtureImages>
{
    private string[] Complete(string input)
    {
        using var session = new ModuleSession(images.WorkingDirectory);
        var result = session.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object CompletionText", input);
        result.ThrowIfFailed();
        return result.Output.Select(o => o.ToString()).ToArray();
    }

    [Fact]
    public void LayoutTags_CompleteAfterTheColon()
    {
        Assert.Equal(["oci:./layout:1.0", "oci:./layout:multi"], Complete("Get-OciManifest oci:./layout:"));
        Assert.Equal(["oci:./layout:multi"], Complete("Merge-OciLayer -Image oci:./layout:m"));
    }

    [Fact]
    public void LayoutDirectories_AndArchives_CompleteByTransport()
    {
        Assert.Contains("oci:./layout", Complete("Get-OciLayer oci:./lay"));
        Assert.Equal(["oci-archive:./image.tar"], Complete("Get-OciFile oci-archive:./ima"));
        Assert.Contains("docker-archive:./saved.tar", Complete("Export-OciRootfs -Format Tar -Path x.tar -Image docker-archive:./"));
    }

    [Fact]
    public void Transports_CompleteFromNothing()
    {
        var transports = Complete("Get-OciManifest oci");
        Assert.Contains("oci:", transports);
        Assert.Contains("oci-archive:", transports);
    }

    [Fact]
    public void Platforms_Complete()
    {
        Assert.Contains("linux/arm64", Complete("Get-OciManifest oci:./layout:multi -Platform linux/arm"));
    }
}
