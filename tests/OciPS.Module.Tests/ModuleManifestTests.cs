using System.Xml.Linq;
using Xunit;

namespace OciPS.Module.Tests;

public sealed class ModuleManifestTests
{
    [Fact]
    public void TestModuleManifest_Passes_AndVersionComesFromTheBuild()
    {
        using var session = new ModuleSession();
        var result = session.Run("Test-ModuleManifest -Path $args[0] -ErrorAction Stop", ModulePaths.Manifest);
        result.ThrowIfFailed();
        var manifest = (System.Management.Automation.PSModuleInfo)result.Output[0].BaseObject;

        var props = XDocument.Load(Path.Combine(ModulePaths.RepositoryRoot, "Directory.Build.props"));
        var version = props.Descendants("VersionPrefix").Single().Value;
        Assert.Equal(version, manifest.Version.ToString(3));
        Assert.Equal(new Version(7, 4), manifest.PowerShellVersion);
        Assert.Contains("Core", manifest.CompatiblePSEditions);
    }

    [Fact]
    public void ExportedCmdlets_AreExactlyTheManifestsList()
    {
        using var session = new ModuleSession();
        var exported = session.Module.ExportedCmdlets.Keys.Order().ToArray();
        var declared = session.Run("(Import-PowerShellDataFile -Path $args[0]).CmdletsToExport", ModulePaths.Manifest);
        var names = declared.Failed
            ? ReadCmdletsToExport()
            : declared.Output.Select(o => o.ToString()).Order().ToArray();
        Assert.Equal(names, exported);
        Assert.Contains("Get-OciManifest", exported);
    }

    [Fact]
    public void EveryExportedCmdlet_IsACmdletOfTheModule()
    {
        using var session = new ModuleSession();
        var result = session.Run("Get-Command -Module OciPS | ForEach-Object { $_.CommandType.ToString() + ' ' + $_.Name }");
        result.ThrowIfFailed();
        Assert.All(result.Output, line => Assert.StartsWith("Cmdlet ", line.ToString(), StringComparison.Ordinal));
        Assert.Equal(session.Module.ExportedCmdlets.Count, result.Output.Count);
    }

    private static string[] ReadCmdletsToExport()
    {
        var text = File.ReadAllText(ModulePaths.Manifest);
        var start = text.IndexOf("CmdletsToExport", StringComparison.Ordinal);
        var open = text.IndexOf('(', start);
        var close = text.IndexOf(')', open);
        return text[(open + 1)..close]
            .Split(['\n', ',', '\r'], StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Trim().Trim('\'', '"'))
            .Where(name => name.Length > 0 && !name.StartsWith('#'))
            .Order()
            .ToArray();
    }
}

/// <summary>The Pester suite cannot run here (no pwsh), but it must at least parse, so CI systems with pwsh can run it.</summary>
public sealed class PesterSuiteTests
{
    [Fact]
    public void PesterFiles_ParseWithoutErrors()
    {
        var files = Directory.GetFiles(Path.Combine(ModulePaths.RepositoryRoot, "tests", "Pester"), "*.ps1");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            System.Management.Automation.Language.Parser.ParseFile(file, out _, out var errors);
            Assert.True(errors.Length == 0, $"{file}: {string.Join("; ", errors.Select(e => $"line {e.Extent.StartLineNumber}: {e.Message}"))}");
        }
    }
}
