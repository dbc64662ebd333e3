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

    [Fact]
    public void Platforms_ComeFromTheBoundImage()
    {
        // The index offers linux/amd64 and linux/arm64 only: no arm/v7 from the common list.
        Assert.Equal(["linux/arm64"], Complete("Get-OciManifest oci:./layout:multi -Platform linux/arm"));
        Assert.Equal(["linux/amd64", "linux/arm64"], Complete("Export-OciRootfs -Image oci:./layout:multi -Format Tar -Path x.tar -Platform linux/a"));
        Assert.Contains("linux/arm/v7", Complete("New-OciImage -Platform linux/arm"));
    }

    [Fact]
    public void Tags_ComeFromTheRegistry_AfterTheColon()
    {
        var repository = images.RegistryHost + "/example/app";
        Assert.Equal([repository + ":1.0", repository + ":multi"], Complete("Get-OciManifest " + repository + ":").Order().ToArray());
        Assert.Equal(["docker://" + repository + ":multi"], Complete("Get-OciLayer -Image docker://" + repository + ":m"));
    }

    [Fact]
    public void Tags_FromAnUnreachableRegistry_GiveNothingQuickly()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Empty(Complete($"Get-OciManifest 127.0.0.1:{port}/app:"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"completion waited {clock.Elapsed} on a registry that never answers");
    }

    [Fact]
    public void RegistryHosts_ComeFromTheCredentialsKnown()
    {
        using var session = new ModuleSession(images.WorkingDirectory);
        var login = session.Run(
            "$secret = [securestring]::new(); 'x'.ToCharArray() | ForEach-Object { $secret.AppendChar($_) }; " +
            "Connect-OciRegistry completion-test.invalid:5000 ([pscredential]::new('me', $secret)) -NoStore -NoVerify | Out-Null");
        login.ThrowIfFailed();
        var result = session.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object CompletionText", "Get-OciTag completion-test");
        result.ThrowIfFailed();
        Assert.Equal(["completion-test.invalid:5000/"], result.Output.Select(o => o.ToString()).ToArray());
        result = session.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches | ForEach-Object CompletionText", "Connect-OciRegistry completion-t");
        result.ThrowIfFailed();
        Assert.Equal(["completion-test.invalid:5000"], result.Output.Select(o => o.ToString()).ToArray());
    }
}
