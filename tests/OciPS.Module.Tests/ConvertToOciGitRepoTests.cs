using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

[Trait("Requires", "LinuxPeers")]
public sealed class ConvertToOciGitRepoTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _output = new("git-module");

    public void Dispose() => _output.Dispose();

    private ModuleSession Session() => new(images.WorkingDirectory);

    private static string Git(string repository, params string[] arguments) =>
        ProcessRunner.Run("git", ["-C", repository, .. arguments]).StandardOutput;

    [Fact]
    public void Converts_ThenSaysNothingChanged_WhenRunAgain()
    {
        using var session = Session();
        var repository = _output.Combine("repo");
        var first = session.Run("ConvertTo-OciGitRepo oci:./layout:1.0 -Path $args[0]", repository);
        first.ThrowIfFailed();
        var result = Assert.Single(first.Objects);
        Assert.Equal("OciPS.Core.Git.GitConversionResult", Assert.Single(first.Output).BaseObject.GetType().FullName);
        Assert.True((bool)result.Changed);
        Assert.Equal(repository, (string)result.RepositoryPath);
        Assert.Equal(4, (int)result.Commits.Count);
        Assert.Equal((string)result.Head, Git(repository, "rev-parse", "HEAD").Trim());
        Assert.Equal(["RUN rm /etc/old && echo new > /etc/new", "ENV GREETING=hello", "COPY rootfs/ /"], Git(repository, "log", "--format=%s", "HEAD~1").Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(session.Host.Progress, record => record.Activity.Contains("to git", StringComparison.Ordinal));

        var again = session.Run("ConvertTo-OciGitRepo oci:./layout:1.0 -Path $args[0] -Verbose 4>&1", repository);
        again.ThrowIfFailed();
        var second = (dynamic)again.Output.Single(o => o.BaseObject.GetType().Name == "GitConversionResult").BaseObject;
        Assert.False((bool)second.Changed);
        Assert.Equal((string)result.Head, (string)second.Head);
        Assert.Equal(4, (int)second.ReusedCommits);
        Assert.Contains(again.Output, o => o.BaseObject is System.Management.Automation.VerboseRecord v && v.Message.Contains("already converted", StringComparison.Ordinal));
    }

    [Fact]
    public void EngineTar_ReadsADockerSaveTarball_AndPipelineImagesBranch()
    {
        using var session = Session();
        var repository = _output.Combine("family");
        var result = session.Run("ConvertTo-OciGitRepo ./saved.tar -Engine Tar -Path $args[0]; Get-OciManifest oci:./layout:1.0 | ConvertTo-OciGitRepo -Path $args[0] -Branch from-layout", repository);
        result.ThrowIfFailed();
        var results = result.Objects;
        Assert.Equal("example/app-1.0", (string)results[0].Branch);
        Assert.Equal("from-layout", (string)results[1].Branch);
        Assert.Equal(Git(repository, "rev-parse", "example/app-1.0:rootfs"), Git(repository, "rev-parse", "from-layout:rootfs"));
    }

    [Fact]
    public void Checkout_PutsTheFilesOnDisk_WithACleanStatus()
    {
        using var session = Session();
        var repository = _output.Combine("checked-out");
        var result = session.Run("ConvertTo-OciGitRepo oci:./layout:1.0 -Path $args[0] -Checkout", repository);
        result.ThrowIfFailed();
        Assert.True((bool)Assert.Single(result.Objects).Changed);
        Assert.Equal("new\n", File.ReadAllText(System.IO.Path.Combine(repository, "rootfs", "etc", "new")));
        Assert.False(File.Exists(System.IO.Path.Combine(repository, "rootfs", "etc", "old")));
        Assert.True(File.Exists(System.IO.Path.Combine(repository, "Image.md")));
        Assert.Equal(string.Empty, Git(repository, "status", "--porcelain", "--untracked-files=all"));

        // Without -Checkout, no files: only .git.
        var bare = _output.Combine("objects-only");
        session.Run("ConvertTo-OciGitRepo oci:./layout:1.0 -Path $args[0]", bare).ThrowIfFailed();
        Assert.Equal([".git"], Directory.EnumerateFileSystemEntries(bare).Select(System.IO.Path.GetFileName));
    }

    [Fact]
    public void WhatIf_WritesNothing()
    {
        using var session = Session();
        var repository = _output.Combine("whatif");
        var result = session.Run("ConvertTo-OciGitRepo oci:./layout:1.0 -Path $args[0] -WhatIf", repository);
        result.ThrowIfFailed();
        Assert.Empty(result.Output);
        Assert.False(Directory.Exists(repository));
    }

    [Fact]
    public void OccupiedDirectory_IsAnErrorNamingIt()
    {
        using var session = Session();
        var occupied = _output.Combine("occupied");
        Directory.CreateDirectory(occupied);
        File.WriteAllText(Path.Combine(occupied, "notes.txt"), "mine");
        var result = session.Run("ConvertTo-OciGitRepo oci:./layout:1.0 -Path $args[0]", occupied);
        var error = Assert.Single(result.Errors);
        Assert.Equal("GitRepoPathInUse,OciPS.Commands.ConvertToOciGitRepoCommand", error.FullyQualifiedErrorId);
        Assert.Equal(System.Management.Automation.ErrorCategory.ResourceExists, error.CategoryInfo.Category);
    }
}
