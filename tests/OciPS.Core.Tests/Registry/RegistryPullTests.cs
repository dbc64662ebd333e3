using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Registry;

/// <summary>What skopeo pushes to a real registry, OciPS pulls bit-identical, whatever the authentication.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RegistryPullTests : IDisposable
{
    private readonly TempDirectory _temp = new("pull");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(RegistryAuth.None)]
    [InlineData(RegistryAuth.Basic)]
    [InlineData(RegistryAuth.Bearer)]
    public async Task PullsWhatSkopeoPushedBitIdentical(RegistryAuth auth)
    {
        using var registry = LocalRegistry.Start(auth);
        var layout = _temp.Combine("layout");
        await RegistryFixture.WriteImageAsync(layout, "v1");
        var reference = $"{registry.Host}/test/pulled:v1";
        Skopeo.Copy($"oci:{layout}:v1", "docker://" + reference, registry.SkopeoOptions(destination: true));

        var cache = _temp.Combine("cache");
        var source = ImageSources.Open(reference, options: RegistryFixture.Options(cache, registry));
        var image = (OciImage)await ImageLoader.LoadAsync(source, null, CancellationToken.None);

        var skopeoManifest = Skopeo.InspectRawWith("docker://" + reference, registry.SkopeoInspectOptions());
        Assert.Equal(skopeoManifest, image.Content.Bytes);
        Assert.Equal(Digest.Compute(skopeoManifest), image.Digest);
        foreach (var layer in image.Layers.Where(l => l.Descriptor is not null))
        {
            var stream = await source.OpenBlobAsync(layer.Descriptor!, CancellationToken.None);
            await using (stream)
            {
                using var hashed = new MemoryStream();
                await stream.CopyToAsync(hashed);
                Assert.Equal(layer.Digest, Digest.Compute(hashed.ToArray()));
            }

            var original = File.ReadAllBytes(Path.Combine(layout, "blobs", "sha256", layer.Digest!.Encoded));
            Assert.Equal(original, File.ReadAllBytes(Path.Combine(cache, "blobs", "sha256", layer.Digest.Encoded)));
        }

        if (auth == RegistryAuth.Bearer)
        {
            Assert.Contains(registry.Issuer!.Requests, r => r.Authenticated && r.Scopes.Contains("repository:test/pulled:pull"));
        }
    }
}
