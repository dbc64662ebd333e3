using System.Text.Json;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Content;

/// <summary>
/// What OciPS reads must agree with what skopeo reads from the same place: manifest, config and layer
/// digests, for layouts made by umoci, archives made by skopeo, and multi-platform indexes.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class PeerCrossCheckTests : IDisposable
{
    private readonly TempDirectory _temp = new("peers");

    public void Dispose() => _temp.Dispose();

    private static async Task<OciManifest> LoadAsync(string location, string? platform = null) =>
        await ImageLoader.LoadAsync(ImageSources.Open(location), platform is null ? null : Platform.Parse(platform), CancellationToken.None);

    /// <summary>A layout built by umoci: a layer adding files, a config change, a layer deleting a file (a whiteout).</summary>
    private string BuildWithUmoci()
    {
        var layout = _temp.Combine("umoci");
        var bundle = _temp.Combine("bundle");
        Umoci.Run("init", "--layout", layout);
        Umoci.Run("new", "--image", layout + ":base");
        Umoci.Run("unpack", "--rootless", "--image", layout + ":base", bundle);
        Directory.CreateDirectory(Path.Combine(bundle, "rootfs", "etc"));
        File.WriteAllText(Path.Combine(bundle, "rootfs", "etc", "hello"), "hi\n");
        File.CreateSymbolicLink(Path.Combine(bundle, "rootfs", "etc", "link"), "hello");
        Umoci.Run("repack", "--image", layout + ":base", bundle);
        Umoci.Run("config", "--image", layout + ":base", "--config.env", "A=1", "--config.cmd", "/bin/sh", "--config.label", "org.example=yes");
        Directory.Delete(bundle, recursive: true);
        Umoci.Run("unpack", "--rootless", "--image", layout + ":base", bundle);
        File.Delete(Path.Combine(bundle, "rootfs", "etc", "hello"));
        Umoci.Run("repack", "--image", layout + ":base", bundle);
        return layout;
    }

    /// <summary>
    /// skopeo inspect reports the digest of the top-level manifest (the index, for a multi-platform
    /// image) next to the chosen platform's layers and config.
    /// </summary>
    private static void AssertAgreesWithSkopeo(OciImage image, string skopeoLocation, params string[] skopeoOptions) =>
        AssertAgreesWithSkopeo(image, image.Digest, skopeoLocation, skopeoOptions);

    private static void AssertAgreesWithSkopeo(OciImage image, Digest topLevel, string skopeoLocation, params string[] skopeoOptions)
    {
        var inspect = Skopeo.Inspect(skopeoLocation, skopeoOptions);
        Assert.Equal(inspect.GetProperty("Digest").GetString(), topLevel.ToString());
        Assert.Equal(inspect.GetProperty("Architecture").GetString(), image.Platform!.Architecture);
        Assert.Equal(inspect.GetProperty("Os").GetString(), image.Platform.Os);
        var layers = inspect.GetProperty("Layers").EnumerateArray().Select(e => e.GetString()).ToArray();
        Assert.Equal(layers, image.Layers.Select(l => l.Digest!.ToString()).ToArray());
        Assert.Equal(Digest.Compute(Skopeo.InspectConfigRaw(skopeoLocation, skopeoOptions)), image.ConfigDigest);
        Assert.Equal(Digest.Compute(Skopeo.InspectRaw(skopeoLocation, skopeoOptions)), topLevel);
    }

    [Fact]
    public async Task UmociLayout_AgreesWithSkopeo()
    {
        var layout = BuildWithUmoci();
        var image = Assert.IsType<OciImage>(await LoadAsync($"oci:{layout}:base"));

        AssertAgreesWithSkopeo(image, $"oci:{layout}:base");
        Assert.Equal(2, image.Layers.Count);
        Assert.Contains(image.History, step => step.EmptyLayer);
        Assert.Equal("yes", image.Config!.Config!.Labels!["org.example"]);
        Assert.Equal(["/bin/sh"], image.Config.Config.Cmd!);
    }

    [Fact]
    public async Task SkopeoDockerArchive_AgreesWithSkopeoAndKeepsTheDiffIds()
    {
        var layout = BuildWithUmoci();
        var archive = _temp.Combine("saved.tar");
        Skopeo.Copy($"oci:{layout}:base", $"docker-archive:{archive}:example.org/my/app:1.0");
        var fromLayout = (OciImage)await LoadAsync($"oci:{layout}:base");

        foreach (var location in new[] { $"docker-archive:{archive}", $"docker-archive:{archive}:example.org/my/app:1.0", archive })
        {
            var image = Assert.IsType<OciImage>(await LoadAsync(location));
            AssertAgreesWithSkopeo(image, $"docker-archive:{archive}");
            Assert.Equal(MediaTypes.DockerManifest, image.MediaType);
            Assert.Equal("example.org/my/app:1.0", image.Reference);
            Assert.Equal(fromLayout.Config!.RootFs!.DiffIds, image.Layers.Select(l => l.Digest!).ToArray());
            foreach (var layer in image.Layers)
            {
                await using var blob = await image.Source.OpenBlobAsync(layer.Descriptor!, CancellationToken.None);
                await blob.CopyToAsync(Stream.Null);
            }
        }

        var error = await Assert.ThrowsAsync<ManifestNotFoundException>(() => LoadAsync($"docker-archive:{archive}:other:1"));
        Assert.Contains("example.org/my/app:1.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DockerArchiveWithTwoImages_IsPickedByNameOrPosition()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        await new ImageBuilder().Layer(new LayerBuilder().File("a", "first")).WriteAsync(layout, "a");
        await new ImageBuilder().Layer(new LayerBuilder().File("b", "second")).WriteAsync(layout, "b");
        var archive = _temp.Combine("two.tar");
        Skopeo.Copy($"oci:{layout.Root}:a", $"docker-archive:{archive}:first:1", "--additional-tag", "first:latest");
        var single = (OciImage)await LoadAsync($"docker-archive:{archive}");
        Assert.Equal("docker.io/library/first:1", single.Reference);

        var multiple = _temp.Combine("multi.tar");
        ProcessRunner.Run("skopeo", ["copy", "--quiet", $"oci:{layout.Root}:a", $"docker-archive:{multiple}:first:1"]);
        Assert.IsType<OciImage>(await LoadAsync($"docker-archive:{multiple}:@0"));
        await Assert.ThrowsAsync<ManifestNotFoundException>(() => LoadAsync($"docker-archive:{multiple}:@3"));
    }

    [Fact]
    public async Task MultiPlatformIndexCopiedBySkopeo_AgreesForTheIndexAndEachPlatform()
    {
        var source = OciLayoutWriter.Open(_temp.Combine("src"));
        var amd64 = await new ImageBuilder { Platform = Platform.Parse("linux/amd64") }.Layer(new LayerBuilder().File("arch", "amd64")).WriteAsync(source);
        var arm64 = await new ImageBuilder { Platform = Platform.Parse("linux/arm64") }.Layer(new LayerBuilder().File("arch", "arm64")).WriteAsync(source);
        await ImageBuilder.WriteIndexAsync(source, [amd64, arm64], "multi");
        var copy = _temp.Combine("copy");
        Skopeo.Copy($"oci:{source.Root}:multi", $"oci:{copy}:multi", "--all");

        var index = Assert.IsType<OciIndex>(await LoadAsync($"oci:{copy}:multi"));
        Assert.Equal(Digest.Compute(Skopeo.InspectRaw($"oci:{copy}:multi")), index.Digest);
        Assert.Equal(["linux/amd64", "linux/arm64"], index.Platforms);

        foreach (var arch in new[] { "amd64", "arm64" })
        {
            var image = Assert.IsType<OciImage>(await LoadAsync($"oci:{copy}:multi", "linux/" + arch));
            AssertAgreesWithSkopeo(image, index.Digest, $"oci:{copy}:multi", "--override-os", "linux", "--override-arch", arch);
            Assert.Equal(index.Manifests.Single(m => m.Platform!.Architecture == arch).Digest, image.Digest);
            Assert.Equal(arch == "amd64" ? amd64.Digest : arm64.Digest, image.Digest);
        }
    }

    [Fact]
    public async Task OurLayout_IsReadBySkopeoAsWeReadIt()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("ours"));
        await new ImageBuilder()
            .Layer(new LayerBuilder().Directory("usr").File("usr/x", "x"))
            .EmptyStep("CMD [\"/x\"]")
            .Layer(new LayerBuilder().File("usr/y", "y"), compression: FixtureCompression.Zstd)
            .WriteAsync(layout, "ours");
        var image = Assert.IsType<OciImage>(await LoadAsync($"oci:{layout.Root}:ours"));
        AssertAgreesWithSkopeo(image, $"oci:{layout.Root}:ours");

        var inspect = Skopeo.Inspect($"oci:{layout.Root}:ours");
        Assert.Equal(JsonValueKind.Array, inspect.GetProperty("Env").ValueKind);
    }

}
