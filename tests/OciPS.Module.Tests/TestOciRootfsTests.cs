using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

public sealed class TestOciRootfsTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _output = new("test-rootfs");

    public void Dispose() => _output.Dispose();

    private ModuleSession Session() => new(images.WorkingDirectory);

    /// <summary>The module's types live in its own load context: read them as PowerShell does, by property.</summary>
    private static (string Path, string Kind, string? Expected, string? Actual) Difference(System.Management.Automation.PSObject o) =>
        ((string)o.Properties["Path"].Value, o.Properties["Kind"].Value.ToString()!, (string?)o.Properties["Expected"].Value, (string?)o.Properties["Actual"].Value);

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void DirectoryExport_EqualsItsImage()
    {
        using var session = Session();
        var target = _output.Combine("rootfs");
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Directory -Path $args[0]", target).ThrowIfFailed();

        var result = session.Run("Test-OciRootfs $args[0] -Image oci:./layout:1.0", target);
        result.ThrowIfFailed();
        Assert.Empty(result.Output);
        Assert.True((bool)session.Run("Test-OciRootfs $args[0] -Image oci:./layout:1.0 -Quiet", target).Output.Single().BaseObject);
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void ChangedDirectory_ReportsEachDifferenceWithWhatWasExpected()
    {
        using var session = Session();
        var target = _output.Combine("changed");
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Directory -Path $args[0]", target).ThrowIfFailed();
        File.AppendAllText(Path.Combine(target, "etc", "hello"), "tampered\n");
        File.SetLastWriteTimeUtc(Path.Combine(target, "etc", "hello"), new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        File.Delete(Path.Combine(target, "etc", "new"));
        File.WriteAllText(Path.Combine(target, "etc", "extra"), "x");
        File.SetUnixFileMode(Path.Combine(target, "bin", "tool"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Delete(Path.Combine(target, "bin", "alias"));
        File.CreateSymbolicLink(Path.Combine(target, "bin", "alias"), "elsewhere");

        var result = session.Run("Test-OciRootfs $args[0] -Image oci:./layout:1.0 -IgnoreProperty DirectoryModifiedTime", target);
        result.ThrowIfFailed();
        var differences = result.Output.Select(Difference).Select(d => (d.Path, d.Kind)).ToArray();
        Assert.Equal(
            [
                ("bin/alias", "LinkTarget"),
                ("bin/alias", "ModifiedTime"),
                ("bin/tool", "Mode"),
                ("etc/extra", "Extra"),
                ("etc/hello", "Size"),
                ("etc/hello", "ModifiedTime"),
                ("etc/new", "Missing"),
            ],
            differences);
        var mode = result.Output.Select(Difference).Single(d => d.Kind == "Mode");
        Assert.Equal(("0755", "0600"), (mode.Expected, mode.Actual));
        Assert.False((bool)session.Run("Test-OciRootfs $args[0] -Image oci:./layout:1.0 -Quiet", target).Output.Single().BaseObject);
    }

    [Fact]
    public void ClampedTar_EqualsThePlainOneButForTimes()
    {
        using var session = Session();
        var plain = _output.Combine("plain.tar");
        var clamped = _output.Combine("clamped.tar.zst");
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Tar -Path $args[0]", plain).ThrowIfFailed();
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Tar -Compression Zstd -SourceDateEpoch 0 -Path $args[0]", clamped).ThrowIfFailed();

        Assert.True((bool)session.Run("Test-OciRootfs $args[0] -Image oci:./layout:1.0 -Quiet", plain).Output.Single().BaseObject);
        var timed = session.Run("Test-OciRootfs $args[0] -ReferencePath $args[1]", clamped, plain);
        timed.ThrowIfFailed();
        Assert.NotEmpty(timed.Output);
        Assert.All(timed.Output, o => Assert.Equal("ModifiedTime", Difference(o).Kind));
        Assert.True((bool)session.Run("Test-OciRootfs $args[0] -ReferencePath $args[1] -IgnoreProperty ModifiedTime -Quiet", clamped, plain).Output.Single().BaseObject);
    }

    [Fact]
    public void ContentChangedInATar_IsAContentDifference()
    {
        using var session = Session();
        var other = _output.Combine("other.tar");
        session.Run("Merge-OciLayer oci:./layout:1.0 | Where-Object Path -ne 'bin/tool' | Export-OciRootfs -Format Tar -Path $args[0]", other).ThrowIfFailed();

        var result = session.Run("Test-OciRootfs $args[0] -Image oci:./layout:1.0", other);
        result.ThrowIfFailed();
        var difference = Difference(Assert.Single(result.Output));
        Assert.Equal(("bin/tool", "Missing"), (difference.Path, difference.Kind));
    }

    [Fact]
    public void MissingPath_IsANotFoundError()
    {
        using var session = Session();
        var result = session.Run("Test-OciRootfs ./no-such-tree -Image oci:./layout:1.0");
        Assert.Equal("RootfsNotFound,OciPS.Commands.TestOciRootfsCommand", result.FirstError?.FullyQualifiedErrorId);
        Assert.Equal(System.Management.Automation.ErrorCategory.ObjectNotFound, result.FirstError!.CategoryInfo.Category);
    }
}
