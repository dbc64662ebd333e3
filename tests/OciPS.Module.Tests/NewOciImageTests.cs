using OciPS.Core.Model;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

public sealed class NewOciImageTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _context = new("new-image");

    public void Dispose() => _context.Dispose();

    private ModuleSession Session() => new(images.WorkingDirectory);

    [Fact]
    public void BuildsOnAFixtureImageAndReturnsIt()
    {
        _context.WriteFile("hello.txt", "hello\n");
        _context.WriteFile("Dockerfile", "FROM oci:./layout:1.0\nARG WHO\nCOPY hello.txt /srv/$WHO.txt\nCMD [\"/bin/tool\"]\n");
        var output = _context.Combine("out");
        using var session = Session();
        var result = session.Run("New-OciImage -Path $args[0] -Destination ('oci:' + $args[1] + ':v1') -BuildArg @{ WHO = 'world' } -Annotation @{ 'org.example/a' = 'b' } -SourceDateEpoch 5 -PassThru", _context.Path, output);
        result.ThrowIfFailed();
        // The module lives in its own load context: its objects are read through PowerShell, not cast.
        dynamic image = Assert.Single(result.Output);
        Assert.Equal("OciPS.Core.Model.OciImage", result.Output[0].BaseObject.GetType().FullName);
        Assert.Equal(MediaTypes.OciManifest, (string)image.MediaType);
        Assert.Equal(3, (int)image.LayerCount);
        Assert.Equal("b", session.Render("$args[0].Annotations['org.example/a']", result.Output[0]).Trim());
        Assert.Equal("/bin/tool", session.Render("$args[0].Config.Config.Cmd -join ','", result.Output[0]).Trim());

        var again = session.Run("New-OciImage $args[0] ('oci:' + $args[1] + ':v2') -BuildArg @{ WHO = 'world' } -Annotation @{ 'org.example/a' = 'b' } -SourceDateEpoch 5 -PassThru", _context.Path, output);
        again.ThrowIfFailed();
        Assert.Equal(result.Output[0].Properties["Digest"].Value.ToString(), again.Output[0].Properties["Digest"].Value.ToString());
    }

    [Fact]
    public void RunIsANonTerminatingErrorNamingTheLine()
    {
        _context.WriteFile("Dockerfile", "FROM scratch\nRUN make\n");
        var output = _context.Combine("never");
        using var session = Session();
        var result = session.Run("New-OciImage $args[0] ('oci:' + $args[1])", _context.Path, output);
        var error = Assert.Single(result.Errors);
        Assert.Equal("DockerfileInstructionUnsupported,OciPS.Commands.NewOciImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(System.Management.Automation.ErrorCategory.NotImplemented, error.CategoryInfo.Category);
        Assert.Contains("Dockerfile:2", error.Exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void WhatIfChecksButWritesNothing()
    {
        _context.WriteFile("Dockerfile", "FROM scratch\nCOPY Dockerfile /\n");
        var output = _context.Combine("whatif");
        using var session = Session();
        var result = session.Run("New-OciImage $args[0] ('oci:' + $args[1]) -WhatIf", _context.Path, output);
        result.ThrowIfFailed();
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void DefaultsToDockerManifestsForDockerArchives()
    {
        _context.WriteFile("Dockerfile", "FROM scratch\nCOPY Dockerfile /\n");
        var archive = _context.Combine("image.tar");
        using var session = Session();
        var result = session.Run("New-OciImage $args[0] ('docker-archive:' + $args[1] + ':example/x:1') -PassThru", _context.Path, archive);
        result.ThrowIfFailed();
        Assert.Equal(MediaTypes.DockerConfig, session.Render("$args[0].ConfigDescriptor.MediaType", Assert.Single(result.Output)).Trim());
    }
}
