using System.IO.Compression;
using System.Xml.Linq;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>The PowerShell Gallery package: what it holds, and that the module inside it imports and works.</summary>
public sealed class PackageTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _temp = new("package");

    public void Dispose() => _temp.Dispose();

    private string Pack()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var packager = Path.Combine(ModulePaths.RepositoryRoot, "build", "OciPS.Packager", "bin", output.Parent!.Name, output.Name, "OciPS.Packager.dll");
        var result = ProcessRunner.Run("dotnet", [packager, ModulePaths.ModuleFolder, _temp.Combine("out")]);
        return result.StandardOutput.Trim();
    }

    [Fact]
    public void Package_HoldsTheModuleAtItsRoot_VersionedFromTheOneVersionSource()
    {
        var package = Pack();
        using var zip = ZipFile.OpenRead(package);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("OciPS.psd1", names);
        Assert.Contains("OciPS.psm1", names);
        Assert.Contains("OciPS.format.ps1xml", names);
        Assert.Contains("bin/OciPS.dll", names);
        Assert.Contains("bin/OciPS.Core.dll", names);
        Assert.Contains("en-US/OciPS.dll-Help.xml", names);
        Assert.DoesNotContain(names, n => n.Contains("Tests", StringComparison.Ordinal) || n.Contains("HelpBuilder", StringComparison.Ordinal)
            || n.Contains("Packager", StringComparison.Ordinal) || n.EndsWith(".deps.json", StringComparison.Ordinal) || n.EndsWith(".nupkg", StringComparison.Ordinal));

        XNamespace ns = "http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd";
        XDocument nuspec;
        using (var stream = zip.GetEntry("OciPS.nuspec")!.Open())
        {
            nuspec = XDocument.Load(stream);
        }

        var metadata = nuspec.Root!.Element(ns + "metadata")!;
        var version = File.ReadAllText(Path.Combine(ModulePaths.RepositoryRoot, "Directory.Build.props"));
        var prefix = System.Text.RegularExpressions.Regex.Match(version, "<VersionPrefix>([^<]+)</VersionPrefix>").Groups[1].Value;
        Assert.Equal(prefix, metadata.Element(ns + "version")!.Value);
        Assert.Equal($"OciPS.{prefix}.nupkg", Path.GetFileName(package));
        var tags = metadata.Element(ns + "tags")!.Value.Split(' ');
        Assert.Contains("PSModule", tags);
        using var session = new ModuleSession();
        foreach (var cmdlet in session.Module.ExportedCmdlets.Keys)
        {
            Assert.Contains("PSCmdlet_" + cmdlet, tags);
        }
    }

    [Fact]
    public void ModuleInsideThePackage_PassesTestModuleManifest_AndWorks()
    {
        var extracted = _temp.Combine("installed", "OciPS");
        ZipFile.ExtractToDirectory(Pack(), extracted);
        var manifest = Path.Combine(extracted, "OciPS.psd1");

        // A fresh process, as a user who installed the package would have: only the packaged files.
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var host = Path.Combine(ModulePaths.RepositoryRoot, "tests", "OciPS.IsolationHost", "bin", output.Parent!.Name, output.Name, "OciPS.IsolationHost.dll");
        var script = "(Test-ModuleManifest -Path $args[0] -ErrorAction Stop).Version.ToString(); (Get-OciManifest oci:./layout:1.0).Digest.ToString(); " +
            "[AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'OciPS.Core' } | ForEach-Object Location";
        var result = ProcessRunner.Run("dotnet", [host, manifest, images.WorkingDirectory, script.Replace("$args[0]", "'" + manifest + "'", StringComparison.Ordinal)], check: false);
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains("output: " + images.ImageDigest, lines);
        Assert.Contains("output: " + Path.Combine(extracted, "bin", "OciPS.Core.dll"), lines);
        Assert.DoesNotContain(lines, line => line.StartsWith("output: " + ModulePaths.ModuleFolder, StringComparison.Ordinal));
    }
}
