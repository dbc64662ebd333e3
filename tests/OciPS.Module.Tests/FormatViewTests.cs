using System.Management.Automation;
using System.Xml.Linq;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>
/// Every object the cmdlets emit has a table and a list view, and both render for a real object of the
/// type: the table through Out-Host, the list by evaluating each of its items on the object the way the
/// format engine does (the hosted engine has no Format-List, which lives in the Utility module).
/// </summary>
public sealed class FormatViewTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    /// <summary>Output types that are not ours to format: PowerShell's own views cover them.</summary>
    private static readonly string[] ForeignTypes = ["System.IO.FileInfo", "System.IO.DirectoryInfo", "System.Boolean", "System.String", "OciPS.Commands.RegistryProxyJob"];

    private readonly TempDirectory _output = new("views");

    public void Dispose() => _output.Dispose();

    private static XDocument Views() => XDocument.Load(Path.Combine(ModulePaths.ModuleFolder, "OciPS.format.ps1xml"));

    private static IEnumerable<XElement> ViewsOf(XDocument views, string typeName) =>
        views.Descendants("View").Where(view => view.Element("ViewSelectedBy")?.Elements("TypeName").Any(t => t.Value == typeName) == true);

    [Fact]
    public void EveryOutputType_HasATableAndAListView()
    {
        using var session = new ModuleSession(images.WorkingDirectory);
        var result = session.Run("Get-Command -Module OciPS | ForEach-Object { $_.OutputType } | ForEach-Object { $_.Name } | Where-Object { $_ }");
        result.ThrowIfFailed();
        var types = result.Output.Select(o => o.ToString()).Distinct().Except(ForeignTypes).ToArray();
        Assert.Contains("OciPS.Core.Model.OciImage", types);

        var views = Views();
        var missing = types
            .Where(type => !ViewsOf(views, type).Any(v => v.Element("TableControl") is not null) || !ViewsOf(views, type).Any(v => v.Element("ListControl") is not null))
            .ToArray();
        Assert.True(missing.Length == 0, "Types without a table and a list view: " + string.Join(", ", missing));
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void EveryView_RendersForARealObject()
    {
        using var session = new ModuleSession(images.WorkingDirectory);
        var rootfs = _output.Combine("rootfs");
        var script = """
            param($out, $rootfs, $registry)
            $ErrorActionPreference = 'Stop'
            Get-OciManifest oci:./layout:1.0
            $index = Get-OciManifest oci:./layout:multi
            $index
            $index.Manifests[0]
            Get-OciLayer oci:./layout:1.0 | Where-Object { $_.Index -eq 0 }
            Get-OciFile oci:./layout:1.0 | Where-Object { $_.Path -eq 'bin/alias' }
            ConvertTo-OciGitRepo oci:./layout:1.0 -Path "$out/repo"
            Export-OciRootfs oci:./layout:1.0 -Format Directory -Path $rootfs | Out-Null
            [System.IO.File]::AppendAllText("$rootfs/etc/hello", 'changed')
            Test-OciRootfs $rootfs -Image oci:./layout:1.0 | Where-Object { $_.Path -eq 'etc/hello' } | ForEach-Object { $_ }
            Copy-OciImage oci:./layout:1.0 "oci:$out/copy:v1" -PassThru
            Get-OciTag "$registry/example/app"
            Clear-OciCache -CachePath "$out/empty-cache" -PassThru
            $secret = [securestring]::new(); 'x'.ToCharArray() | ForEach-Object { $secret.AppendChar($_) }
            Connect-OciRegistry views.invalid ([pscredential]::new('me', $secret)) -NoStore -NoVerify -PassThru
            Publish-OciArtifact ./artifact/pack.yaml "oci:$out/artifact:v1" -PassThru
            Copy-OciImage oci:./layout:1.0 "oci:$out/signed:1.0" | Out-Null
            [System.IO.File]::WriteAllText("$PWD/artifact/views-sbom.yaml", "type: application/spdx+json`nsubject: oci:$out/signed:1.0`nitems:`n  - from: data/readme.txt`n")
            Publish-OciArtifact ./artifact/views-sbom.yaml "oci:$out/signed" | Out-Null
            Get-OciManifest "oci:$out/signed:1.0" -Referrers
            $job = Start-OciRegistryProxy -Path ./layout
            $job.Info
            Stop-Job $job
            """;
        var result = session.Run(script, _output.Path, rootfs, images.RegistryHost);
        result.ThrowIfFailed();

        var views = Views();
        var rendered = new HashSet<string>();
        foreach (var item in result.Output)
        {
            var typeName = item.BaseObject.GetType().FullName!;
            var table = session.Render("$args[0]", item);
            Assert.False(string.IsNullOrWhiteSpace(table), typeName + " printed nothing");

            var list = ViewsOf(views, typeName).Select(v => v.Element("ListControl")).FirstOrDefault(c => c is not null);
            Assert.True(list is not null, typeName + " has no list view");
            foreach (var listItem in list!.Descendants("ListItem"))
            {
                var label = listItem.Element("Label")?.Value;
                if (listItem.Element("PropertyName")?.Value is { } property)
                {
                    Assert.True(item.Properties[property] is not null, $"{typeName}'s list view names '{property}', which it does not have");
                }
                else
                {
                    var evaluated = session.Run("$ErrorActionPreference = 'Stop'; $args[0] | ForEach-Object ([scriptblock]::Create($args[1]))", item, listItem.Element("ScriptBlock")!.Value);
                    Assert.False(evaluated.Failed, $"{typeName}'s list item '{label}' fails: {evaluated.FirstError?.Exception?.Message}");
                }
            }

            rendered.Add(typeName);
        }

        // The script above made one object of every type the module formats.
        var formatted = Views().Descendants("TypeName").Select(t => t.Value).Distinct().ToArray();
        Assert.Empty(formatted.Except(rendered));
    }
}
