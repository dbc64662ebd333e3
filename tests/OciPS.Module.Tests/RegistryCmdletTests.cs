using System.Management.Automation;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>The registry cmdlets against the fixture registry (and registries of their own for auth).</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RegistryCmdletTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _temp = new("registry-cmdlets");

    public void Dispose() => _temp.Dispose();

    private ModuleSession Session() => new(images.WorkingDirectory);

    [Fact]
    public void RegistryToLayoutToRegistryKeepsEveryDigest()
    {
        using var session = Session();
        var layout = _temp.Combine("roundtrip");
        var result = session.Run(
            "Save-OciImage \"$($args[0])/example/app:multi\" -Destination \"oci:$($args[1]):multi\" -AllPlatforms -CachePath $args[2]; " +
            "Copy-OciImage \"oci:$($args[1]):multi\" \"$($args[0])/example/roundtrip:multi\" -AllPlatforms -PassThru; " +
            "Get-OciManifest \"$($args[0])/example/roundtrip:multi\" -CachePath $args[2]",
            images.RegistryHost,
            layout,
            _temp.Combine("cache"));
        result.ThrowIfFailed();
        Assert.Equal(images.IndexDigest.ToString(), result.Output[0].Properties["Digest"].Value.ToString());
        Assert.Equal(images.IndexDigest.ToString(), result.Output[1].Properties["Digest"].Value.ToString());
        Assert.True(File.Exists(Path.Combine(layout, "blobs", "sha256", images.Arm64Digest.Encoded)));
    }

    [Fact]
    public void GetOciTagListsTagsThatPipeIntoGetOciManifest()
    {
        using var session = Session();
        var result = session.Run("Get-OciTag \"$($args[0])/example/app\" | Get-OciManifest | ForEach-Object { $_.Digest.ToString() }", images.RegistryHost);
        result.ThrowIfFailed();
        Assert.Contains(images.ImageDigest.ToString(), result.Output.Select(o => o.ToString()));
        Assert.Contains(images.IndexDigest.ToString(), result.Output.Select(o => o.ToString()));
    }

    [Fact]
    public void SavedDockerArchiveIsLoadedByPodman()
    {
        using var session = Session();
        var archive = _temp.Combine("app.tar");
        session.Run("Save-OciImage \"$($args[0])/example/app:1.0\" -Destination \"docker-archive:$($args[1]):example/app:1.0\" -CachePath $args[2]", images.RegistryHost, archive, _temp.Combine("cache")).ThrowIfFailed();

        // podman refuses run roots longer than 50 characters.
        var runRoot = Path.Combine(Path.GetTempPath(), "ocips-run-" + Guid.NewGuid().ToString("N")[..8]);
        string[] storage = ["--root", _temp.Combine("podman-root"), "--runroot", runRoot, "--storage-driver", "vfs"];
        try
        {
            ProcessRunner.Run("podman", [.. storage, "load", "-i", archive]);
            var inspect = ProcessRunner.Run("podman", [.. storage, "image", "inspect", "--format", "{{json .RootFS.Layers}}", "example/app:1.0"]).StandardOutput;
            var expected = session.Run("(Get-OciManifest oci:./layout:1.0).Config.RootFs.DiffIds | ForEach-Object { $_.ToString() }");
            Assert.Equal(2, expected.Output.Count);
            foreach (var diffId in expected.Output)
            {
                Assert.Contains(diffId.ToString(), inspect, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(runRoot, recursive: true);
        }
    }

    [Fact]
    public void ConnectOciRegistryChecksStoresAndNeverShowsThePassword()
    {
        using var registry = LocalRegistry.Start(RegistryAuth.Basic);
        using var session = Session();
        var authFile = _temp.Combine("config.json");
        const string script = "Connect-OciRegistry $args[0] -Credential ([pscredential]::new($args[1], [System.Net.NetworkCredential]::new('', $args[2]).SecurePassword)) -AuthFile $args[3] -PassThru";

        var refused = session.Run(script, registry.Host, LocalRegistry.Username, "not-the-Password-42", authFile);
        Assert.Equal("RegistryAuthenticationFailed,OciPS.Commands.ConnectOciRegistryCommand", refused.FirstError?.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.AuthenticationError, refused.FirstError!.CategoryInfo.Category);
        Assert.DoesNotContain("not-the-Password-42", refused.FirstError.Exception.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(authFile));

        session.Run(script, registry.Host, LocalRegistry.Username, LocalRegistry.Password, authFile).ThrowIfFailed();
        var expected = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(LocalRegistry.Username + ":" + LocalRegistry.Password));
        Assert.Contains(expected, File.ReadAllText(authFile), StringComparison.Ordinal);

        // skopeo reads what Connect-OciRegistry stored.
        var layout = _temp.Combine("layout");
        ProcessRunner.Run("skopeo", ["copy", "--quiet", "--dest-tls-verify=false", "--dest-authfile", authFile, $"oci:{images.Layout}:1.0", $"docker://{registry.Host}/stored/creds:1.0"]);

        var anonymous = session.Run("Get-OciTag \"$($args[0])/stored/creds\"", registry.Host);
        Assert.Equal("RegistryAuthenticationFailed,OciPS.Commands.GetOciTagCommand", anonymous.FirstError?.FullyQualifiedErrorId);
        session.Run("Connect-OciRegistry $args[0] -Credential ([pscredential]::new($args[1], [System.Net.NetworkCredential]::new('', $args[2]).SecurePassword)) -NoStore", registry.Host, LocalRegistry.Username, LocalRegistry.Password).ThrowIfFailed();
        var tags = session.Run("Get-OciTag \"$($args[0])/stored/creds\" | ForEach-Object Tag", registry.Host);
        tags.ThrowIfFailed();
        Assert.Equal("1.0", Assert.Single(tags.Output).ToString());
    }

    [Fact]
    public void ClearOciCacheHonoursWhatIfAndOlderThan()
    {
        using var session = Session();
        var cache = _temp.Combine("cache");
        session.Run("Get-OciManifest \"$($args[0])/example/app:1.0\" -CachePath $args[1] | Get-OciLayer | Out-Null; Get-OciFile \"$($args[0])/example/app:1.0\" -CachePath $args[1] | Out-Null", images.RegistryHost, cache).ThrowIfFailed();
        var blobs = Directory.GetFiles(Path.Combine(cache, "blobs", "sha256")).Length;
        Assert.True(blobs >= 4);

        var whatIf = session.Run("Clear-OciCache $args[0] -WhatIf -PassThru", cache);
        whatIf.ThrowIfFailed();
        Assert.Equal(0, (int)whatIf.Output[0].Properties["BlobsRemoved"].Value);
        Assert.Equal(blobs, Directory.GetFiles(Path.Combine(cache, "blobs", "sha256")).Length);

        var recent = session.Run("Clear-OciCache $args[0] -OlderThan ([TimeSpan]::FromDays(1)) -Confirm:$false -PassThru", cache);
        recent.ThrowIfFailed();
        Assert.Equal(0, (int)recent.Output[0].Properties["BlobsRemoved"].Value);

        var all = session.Run("Clear-OciCache $args[0] -Confirm:$false -PassThru", cache);
        all.ThrowIfFailed();
        Assert.Equal(blobs, (int)all.Output[0].Properties["BlobsRemoved"].Value);
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "blobs", "sha256")));
        Assert.DoesNotContain("example/app", File.ReadAllText(Path.Combine(cache, "index.json")), StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnreachableRegistryIsAConnectionErrorNamingTheInput()
    {
        using var session = Session();
        var port = LocalRegistry.FreePort();
        var result = session.Run("Get-OciManifest \"127.0.0.1:$($args[0])/nothing/here:1\" -CachePath $args[1]", port, _temp.Combine("cache"));
        Assert.Equal("RegistryUnreachable,OciPS.Commands.GetOciManifestCommand", result.FirstError?.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ConnectionError, result.FirstError!.CategoryInfo.Category);
        Assert.Equal($"127.0.0.1:{port}/nothing/here:1", result.FirstError.TargetObject);
    }

    [Fact]
    public void PullsShowByteProgressPerLayerAndCompleteIt()
    {
        using var session = Session();
        var result = session.Run("Save-OciImage \"$($args[0])/example/app:1.0\" -Destination $args[1] -CachePath $args[2] -PassThru", images.RegistryHost, _temp.Combine("progress-layout"), _temp.Combine("progress-cache"));
        result.ThrowIfFailed();
        var layers = session.Host.Progress.Where(p => p.Activity.StartsWith("Layer ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(layers);
        Assert.Contains(layers, p => p.RecordType == ProgressRecordType.Completed);
        Assert.All(layers.Where(p => p.RecordType == ProgressRecordType.Processing), p => Assert.Contains(" of ", p.StatusDescription, StringComparison.Ordinal));
    }
}
