using System.Text.Json;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Module.Tests;

/// <summary>Artifacts published to a real registry (docker-registry on loopback) and pulled back.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class ArtifactRegistryTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _temp = new("artifact-registry");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void PackFile_PublishedToARegistry_IsAnArtifactSkopeoReads_AndComesBackBitIdentical()
    {
        using var session = new ModuleSession(images.WorkingDirectory);
        var reference = $"{images.RegistryHost}/example/config:1";
        var published = session.Run("Publish-OciArtifact ./artifact/pack.yaml $args[0] -PassThru", reference);
        published.ThrowIfFailed();
        var digest = published.Output.Single().Properties["Digest"].Value.ToString();

        var raw = Skopeo.InspectRaw("docker://" + reference, "--tls-verify=false");
        Assert.Equal("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw)), digest);
        using var manifest = JsonDocument.Parse(raw);
        Assert.Equal("application/vnd.example.config.bundle", manifest.RootElement.GetProperty("artifactType").GetString());
        Assert.Equal(2, manifest.RootElement.GetProperty("layers").GetArrayLength());

        var pulled = _temp.Combine("pulled");
        session.Run("Save-OciArtifact $args[0] -Path $args[1]", reference, pulled).ThrowIfFailed();
        Assert.Equal(File.ReadAllBytes(Path.Combine(images.WorkingDirectory, "artifact", "config.tmpl")), File.ReadAllBytes(Path.Combine(pulled, "config.tmpl")));
        Assert.Equal("MIT\n", File.ReadAllText(Path.Combine(pulled, "data", "licenses", "MIT.txt")));

        // The same pack file again: the same digest, nothing new to upload.
        var again = session.Run("Publish-OciArtifact ./artifact/pack.yaml $args[0] -PassThru", reference);
        again.ThrowIfFailed();
        Assert.Equal(digest, again.Output.Single().Properties["Digest"].Value.ToString());
    }
}
