using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Registry;

/// <summary>What OciPS pushes, skopeo reads back identical; copies through layouts keep every digest; mounts and conversions.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RegistryPushTests : IDisposable
{
    private readonly TempDirectory _temp = new("push");

    public void Dispose() => _temp.Dispose();

    private static async Task<ImageCopyResult> CopyAsync(string from, string to, ImageSourceOptions sourceOptions, RegistryOptions? destinationOptions = null, ImageCopyOptions? copy = null)
    {
        var source = ImageSources.Open(from, options: sourceOptions);
        var destination = ImageDestinations.Open(ImageLocation.Parse(to), new ImageDestinationOptions { Registry = destinationOptions ?? sourceOptions.Registry });
        await using (destination)
        {
            return await ImageCopy.CopyAsync(source, destination, copy, CancellationToken.None);
        }
    }

    [Theory]
    [InlineData(RegistryAuth.None, false)]
    [InlineData(RegistryAuth.Basic, true)]
    [InlineData(RegistryAuth.Bearer, true)]
    public async Task SkopeoReadsBackWhatOciPSPushed(RegistryAuth auth, bool chunked)
    {
        using var registry = LocalRegistry.Start(auth);
        var layout = _temp.Combine("layout");
        var manifest = await RegistryFixture.WriteImageAsync(layout, "v1", bigFileSize: 400_000);
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        if (chunked)
        {
            // The 400 kB layer goes up in four PATCH requests.
            options = options with { Registry = options.Registry with { MonolithicUploadLimit = 64 * 1024, ChunkSize = 128 * 1024 } };
        }

        var reference = $"{registry.Host}/pushed/image:v1";
        var result = await CopyAsync($"oci:{layout}:v1", reference, options);

        Assert.Equal(manifest.Digest, result.Manifest.Digest);
        Assert.Equal(3, result.BlobsCopied);
        var inspect = Skopeo.InspectWith("docker://" + reference, registry.SkopeoInspectOptions());
        Assert.Equal(manifest.Digest.ToString(), inspect.GetProperty("Digest").GetString());
        var back = _temp.Combine("back");
        Skopeo.Copy("docker://" + reference, $"oci:{back}:v1", registry.SkopeoOptions());
        foreach (var blob in Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")))
        {
            Assert.Equal(File.ReadAllBytes(blob), File.ReadAllBytes(Path.Combine(back, "blobs", "sha256", Path.GetFileName(blob))));
        }

        // A second push finds every blob with HEAD and sends nothing.
        var again = await CopyAsync($"oci:{layout}:v1", reference, options);
        Assert.Equal(0, again.BlobsCopied);
        Assert.Equal(3, again.BlobsSkipped);
    }

    [Fact]
    public async Task RoundTripRegistryLayoutRegistryKeepsEveryDigestOfAMultiPlatformIndex()
    {
        using var registry = LocalRegistry.Start();
        var layout = _temp.Combine("layout");
        var writer = OciLayoutWriter.Open(layout);
        var amd = await RegistryFixture.WriteImageAsync(layout, "amd", platform: "linux/amd64", marker: "amd");
        var arm = await RegistryFixture.WriteImageAsync(layout, "arm", platform: "linux/arm64", marker: "arm64");
        var index = await TestSupport.Fixtures.ImageBuilder.WriteIndexAsync(writer, [amd with { Platform = Platform.Parse("linux/amd64") }, arm with { Platform = Platform.Parse("linux/arm64") }], "multi");
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        var all = new ImageCopyOptions { AllPlatforms = true };

        await CopyAsync($"oci:{layout}:multi", $"{registry.Host}/round/one:multi", options, copy: all);
        var saved = _temp.Combine("saved");
        await CopyAsync($"{registry.Host}/round/one:multi", $"oci:{saved}:multi", options, copy: all);
        await CopyAsync($"oci:{saved}:multi", $"{registry.Host}/round/two:multi", options, copy: all);

        var final = Skopeo.InspectRawWith($"docker://{registry.Host}/round/two:multi", "--tls-verify=false");
        Assert.Equal(index.Digest, Digest.Compute(final));
        foreach (var blob in Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")))
        {
            Assert.True(File.Exists(Path.Combine(saved, "blobs", "sha256", Path.GetFileName(blob))), $"{blob} missing from the saved layout");
        }

        var arm64 = Skopeo.InspectWith($"docker://{registry.Host}/round/two:multi", "--tls-verify=false", "--override-arch", "arm64");
        Assert.Equal(arm.Digest.ToString(), Digest.Compute(Skopeo.InspectRawWith($"docker://{registry.Host}/round/two@{arm.Digest}", "--tls-verify=false")).ToString());
        Assert.Equal("arm64", arm64.GetProperty("Architecture").GetString());
    }

    [Fact]
    public async Task CopyInsideABearerRegistryMountsBlobsFromTheSourceRepository()
    {
        using var registry = LocalRegistry.Start(RegistryAuth.Bearer);
        var layout = _temp.Combine("layout");
        var manifest = await RegistryFixture.WriteImageAsync(layout, "v1");
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        await CopyAsync($"oci:{layout}:v1", $"{registry.Host}/team/source:v1", options);

        var result = await CopyAsync($"{registry.Host}/team/source:v1", $"{registry.Host}/team/target:v1", options);

        Assert.Equal(3, result.BlobsMounted);
        Assert.Equal(0, result.BlobsCopied);
        Assert.Equal(manifest.Digest, result.Manifest.Digest);
        Assert.Contains(registry.Issuer!.Requests, r => r.Scopes.Contains("repository:team/target:pull,push") && r.Scopes.Contains("repository:team/source:pull"));
        Assert.Equal(manifest.Digest, Digest.Compute(Skopeo.InspectRawWith($"docker://{registry.Host}/team/target:v1", registry.SkopeoInspectOptions())));
    }

    [Fact]
    public async Task FormatDockerConvertsMediaTypesAndKeepsBlobs()
    {
        using var registry = LocalRegistry.Start();
        var layout = _temp.Combine("layout");
        await RegistryFixture.WriteImageAsync(layout, "v1");
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        var result = await CopyAsync($"oci:{layout}:v1", $"{registry.Host}/converted/image:v1", options, copy: new ImageCopyOptions { Format = ManifestFormat.Docker });

        Assert.Equal(MediaTypes.DockerManifest, result.Manifest.MediaType);
        var raw = System.Text.Encoding.UTF8.GetString(Skopeo.InspectRawWith($"docker://{registry.Host}/converted/image:v1", "--tls-verify=false"));
        Assert.Contains(MediaTypes.DockerLayerGzip, raw, StringComparison.Ordinal);
        Assert.Contains(MediaTypes.DockerConfig, raw, StringComparison.Ordinal);
        Assert.DoesNotContain("application/vnd.oci", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DockerArchiveFromARegistryIsReadBySkopeoWithTheSameLayers()
    {
        using var registry = LocalRegistry.Start();
        var layout = _temp.Combine("layout");
        await RegistryFixture.WriteImageAsync(layout, "v1");
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        await CopyAsync($"oci:{layout}:v1", $"{registry.Host}/archive/me:v1", options);
        var archive = _temp.Combine("image.tar");

        await CopyAsync($"{registry.Host}/archive/me:v1", $"docker-archive:{archive}:archive/me:v1", options);

        var ours = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout}:v1"), null, CancellationToken.None);
        var inspect = Skopeo.Inspect($"docker-archive:{archive}");
        Assert.Equal(ours.Config!.RootFs!.DiffIds.Select(d => d.ToString()), inspect.GetProperty("Layers").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("archive/me:v1", ProcessRunner.Run("tar", ["-xOf", archive, "manifest.json"]).StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(10 * 1024 * 1024)]
    public async Task ContentThatIsNotWhatTheDescriptorSaysIsRefusedAndNotStored(int size)
    {
        using var registry = LocalRegistry.Start();
        var content = new byte[size];
        Random.Shared.NextBytes(content);
        var claimed = new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = Digest.Compute(content), Size = size };
        content[size / 2] ^= 0xff;
        var destination = ImageDestinations.Open(ImageLocation.Parse($"{registry.Host}/corrupt/me:v1"), new ImageDestinationOptions { Registry = new RegistryOptions { Credentials = new CredentialStore([]) } });

        await Assert.ThrowsAsync<DigestMismatchException>(() => destination.PushBlobAsync(claimed, new MemoryStream(content), null, CancellationToken.None));

        Assert.False(await destination.BlobExistsAsync(claimed, CancellationToken.None));
    }
}
