using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>
/// OciPS in a PowerShell process where another module came first with older versions of the libraries
/// OciPS uses (YamlDotNet, as powershell-yaml ships; SharpCompress): the module loads its own copies in
/// its own load context and works. Run in a separate host process, as a pwsh session would be.
/// </summary>
public sealed class IsolationTests(FixtureImages images) : IClassFixture<FixtureImages>
{
    private static string HostPath
    {
        get
        {
            // …/tests/OciPS.Module.Tests/bin/<Configuration>/net10.0/ → the host's own output folder.
            var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            return Path.Combine(ModulePaths.RepositoryRoot, "tests", "OciPS.IsolationHost", "bin", output.Parent!.Name, output.Name, "OciPS.IsolationHost.dll");
        }
    }

    private ProcessResult RunHost(string script) =>
        ProcessRunner.Run("dotnet", [HostPath, ModulePaths.Manifest, images.WorkingDirectory, script], check: false);

    [Fact]
    public void ModuleWorks_WhenOlderVersionsOfItsLibrariesAreAlreadyLoaded()
    {
        var result = RunHost("(Get-OciFile oci:./layout:multi -Platform linux/arm64).Path; (Merge-OciLayer oci:./layout:1.0).Count");
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        // The zstd-compressed arm64 layer was read, and the merge ran.
        Assert.Contains("output: arch", lines);
        Assert.Contains("output: 6", lines);

        // The host's own older copies stay where they were, in the default context.
        Assert.Contains(lines, line => line.StartsWith("loaded: YamlDotNet 13.", StringComparison.Ordinal) && line.EndsWith(" in Default", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("loaded: SharpCompress 0.48.", StringComparison.Ordinal) && line.EndsWith(" in Default", StringComparison.Ordinal));

        // What OciPS loaded, it loaded in its own context, never in the default one.
        Assert.Contains(lines, line => line.StartsWith("loaded: ZstdSharp ", StringComparison.Ordinal) && line.EndsWith(" in OciPS", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.StartsWith("loaded: ZstdSharp ", StringComparison.Ordinal) && line.EndsWith(" in Default", StringComparison.Ordinal));
    }
}
