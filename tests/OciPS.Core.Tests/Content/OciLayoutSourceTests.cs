using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Content;

public sealed class OciLayoutSourceTests : IDisposable
{
    private readonly TempDirectory _temp = new("layout");

    public void Dispose() => _temp.Dispose();

    private static async Task<OciManifest> LoadAsync(string location, string? platform = null) =>
        await ImageLoader.LoadAsync(ImageSources.Open(location), platform is null ? null : Platform.Parse(platform), CancellationToken.None);

    [Fact]
    public async Task TaggedImage_LoadsWithConfigLayersAndHistory()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        var builder = new ImageBuilder()
            .Layer(new LayerBuilder().Directory("etc").File("etc/hello", "hi"), "COPY hello /etc/")
            .EmptyStep("ENV A=1")
            .Layer(new LayerBuilder().Whiteout("etc/hello"), "RUN rm /etc/hello", FixtureCompression.Zstd)
            .Env("A=1");
        var written = await builder.WriteAsync(layout, "1.0");

        var image = Assert.IsType<OciImage>(await LoadAsync($"oci:{layout.Root}:1.0"));
        Assert.Equal(written.Digest, image.Digest);
        Assert.Equal("1.0", image.Reference);
        Assert.Equal("linux/amd64", image.Platform!.ToString());
        Assert.Equal(2, image.Layers.Count);
        Assert.Equal(3, image.History.Count);
        Assert.True(image.History[1].EmptyLayer);
        Assert.Equal("ENV A=1", image.History[1].CreatedBy);
        Assert.Equal(1, image.History[2].Index);
        Assert.Equal(MediaTypes.OciLayerZstd, image.Layers[1].MediaType);
        Assert.Contains("A=1", image.Config!.Config!.Env!);
        Assert.Equal(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1234567), image.Created);
        Assert.Equal(image.Layers[0].DiffId, image.Config.RootFs!.DiffIds[0]);
    }

    [Fact]
    public async Task DockerSchema2Manifests_InALayout_AreRead()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        await new ImageBuilder { DockerMediaTypes = true }.Layer(new LayerBuilder().File("x", "x")).WriteAsync(layout, "docker");

        var image = Assert.IsType<OciImage>(await LoadAsync($"oci:{layout.Root}:docker"));
        Assert.Equal(MediaTypes.DockerManifest, image.MediaType);
        Assert.Equal(MediaTypes.DockerLayerGzip, image.Layers[0].MediaType);
        Assert.NotNull(image.Config);
    }

    [Fact]
    public async Task MissingTag_ListsTheTagsThereAre()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        await new ImageBuilder().Layer(new LayerBuilder().File("a", "a")).WriteAsync(layout, "one");
        await new ImageBuilder().Layer(new LayerBuilder().File("b", "b")).WriteAsync(layout, "two");

        var error = await Assert.ThrowsAsync<ManifestNotFoundException>(() => LoadAsync($"oci:{layout.Root}:three"));
        Assert.Equal("ManifestNotFound", error.ErrorId);
        Assert.Equal(["one", "two"], error.Available);
    }

    [Fact]
    public async Task NoTag_IsTheOnlyImageOrAnErrorNamingTheChoices()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        var only = await new ImageBuilder().Layer(new LayerBuilder().File("a", "a")).WriteAsync(layout, "one");
        Assert.Equal(only.Digest, (await LoadAsync($"oci:{layout.Root}")).Digest);

        await new ImageBuilder().Layer(new LayerBuilder().File("b", "b")).WriteAsync(layout, "two");
        var error = await Assert.ThrowsAsync<ManifestNotFoundException>(() => LoadAsync($"oci:{layout.Root}"));
        Assert.Contains("one", error.Message, StringComparison.Ordinal);
        Assert.Contains("two", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MultiPlatformIndex_IsAnIndexUntilAPlatformIsChosen()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        var amd64 = await new ImageBuilder { Platform = Platform.Parse("linux/amd64") }.Layer(new LayerBuilder().File("arch", "amd64")).WriteAsync(layout);
        var arm64 = await new ImageBuilder { Platform = new Platform { Os = "linux", Architecture = "arm64", Variant = "v8" } }.Layer(new LayerBuilder().File("arch", "arm64")).WriteAsync(layout);
        var armv7 = await new ImageBuilder { Platform = Platform.Parse("linux/arm/v7") }.Layer(new LayerBuilder().File("arch", "arm")).WriteAsync(layout);
        await ImageBuilder.WriteIndexAsync(layout, [amd64, arm64 with { Platform = new Platform { Os = "linux", Architecture = "arm64", Variant = "v8" } }, armv7], "multi");

        var index = Assert.IsType<OciIndex>(await LoadAsync($"oci:{layout.Root}:multi"));
        Assert.Equal(["linux/amd64", "linux/arm64", "linux/arm/v7"], index.Platforms);

        Assert.Equal(arm64.Digest, (await LoadAsync($"oci:{layout.Root}:multi", "linux/arm64")).Digest);
        Assert.Equal(arm64.Digest, (await LoadAsync($"oci:{layout.Root}:multi", "linux/aarch64/v8")).Digest);
        Assert.Equal(armv7.Digest, (await LoadAsync($"oci:{layout.Root}:multi", "linux/arm/v7")).Digest);

        var error = await Assert.ThrowsAsync<PlatformNotFoundException>(() => LoadAsync($"oci:{layout.Root}:multi", "linux/s390x"));
        Assert.Equal(["linux/amd64", "linux/arm64", "linux/arm/v7"], error.Available);
        Assert.Contains("linux/arm/v7", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SinglePlatformImage_AskedForAnotherPlatform_IsAnError()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        await new ImageBuilder { Platform = Platform.Parse("linux/386") }.Layer(new LayerBuilder().File("a", "a")).WriteAsync(layout, "x");
        var error = await Assert.ThrowsAsync<PlatformNotFoundException>(() => LoadAsync($"oci:{layout.Root}:x", "linux/arm64"));
        Assert.Equal(["linux/386"], error.Available);

        // An amd64 machine runs 386 images, as containerd decides.
        Assert.IsType<OciImage>(await LoadAsync($"oci:{layout.Root}:x", "linux/amd64"));
    }

    [Fact]
    public async Task TamperedBlob_IsADigestMismatchWhenRead()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        var written = await new ImageBuilder().Layer(new LayerBuilder().File("a", "original")).WriteAsync(layout, "x");
        var image = (OciImage)await LoadAsync($"oci:{layout.Root}:x");
        var layerPath = layout.BlobPath(image.Layers[0].Digest!);
        var bytes = await File.ReadAllBytesAsync(layerPath);
        bytes[^5] ^= 0xFF;
        await File.WriteAllBytesAsync(layerPath, bytes);

        await using var stream = await image.Source.OpenBlobAsync(image.Layers[0].Descriptor!, CancellationToken.None);
        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => stream.CopyToAsync(Stream.Null));
        Assert.Equal(image.Layers[0].Digest, error.Expected);
        Assert.NotNull(written);
    }

    [Fact]
    public async Task TamperedManifest_IsADigestMismatch()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        var written = await new ImageBuilder().Layer(new LayerBuilder().File("a", "a")).WriteAsync(layout, "x");
        var path = layout.BlobPath(written.Digest);
        var text = await File.ReadAllTextAsync(path);
        await File.WriteAllTextAsync(path, text.Replace("\"schemaVersion\":2", "\"schemaVersion\":2 ", StringComparison.Ordinal));

        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => LoadAsync($"oci:{layout.Root}:x"));
        Assert.Equal("DigestMismatch", error.ErrorId);
    }

    [Fact]
    public async Task ArchiveOfALayout_ReadsTheSameImage()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        var written = await new ImageBuilder().Layer(new LayerBuilder().File("a", "a")).WriteAsync(layout, "x");
        var archive = _temp.Combine("layout.tar");
        ArchiveWriter.WriteOciArchive(layout.Root, archive);

        var image = Assert.IsType<OciImage>(await LoadAsync($"oci-archive:{archive}:x"));
        Assert.Equal(written.Digest, image.Digest);
        await using var blob = await image.Source.OpenBlobAsync(image.Layers[0].Descriptor!, CancellationToken.None);
        await blob.CopyToAsync(Stream.Null);

        Assert.Equal(LocationTransport.OciArchive, ImageLocation.Parse(archive).Transport);
    }

    [Fact]
    public async Task CompressedArchive_IsRejectedWithAHint()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        await new ImageBuilder().Layer(new LayerBuilder().File("a", "a")).WriteAsync(layout, "x");
        var plain = _temp.Combine("layout.tar");
        ArchiveWriter.WriteOciArchive(layout.Root, plain);
        var archive = _temp.Combine("layout.tar.gz");
        await using (var output = File.Create(archive))
        await using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest))
        await using (var input = File.OpenRead(plain))
        {
            await input.CopyToAsync(gzip);
        }

        var error = await Assert.ThrowsAsync<UnsupportedContentException>(() => LoadAsync($"oci-archive:{archive}:x"));
        Assert.Contains("gzip", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageArchive_IsACorruptArchiveError()
    {
        var path = _temp.Combine("garbage.tar");
        var bytes = new byte[4096];
        new Random(1).NextBytes(bytes);
        await File.WriteAllBytesAsync(path, bytes);

        var error = await Assert.ThrowsAsync<CorruptContentException>(() => LoadAsync($"oci-archive:{path}"));
        Assert.Equal("ArchiveCorrupt", error.ErrorId);
    }

    [Fact]
    public async Task MissingDirectory_IsNotFound()
    {
        var error = await Assert.ThrowsAsync<LocationNotFoundException>(() => LoadAsync($"oci:{_temp.Combine("nope")}:x"));
        Assert.Equal("LocationNotFound", error.ErrorId);
    }

    [Fact]
    public async Task ConcurrentWriters_KeepEveryTag()
    {
        var root = _temp.Combine("shared");
        var tasks = Enumerable.Range(0, 8).Select(async i =>
        {
            var layout = OciLayoutWriter.Open(root);
            await new ImageBuilder().Layer(new LayerBuilder().File("n", i.ToString())).WriteAsync(layout, "t" + i);
        });
        await Task.WhenAll(tasks);

        var index = OciLayoutSource.Open(ImageLocation.Parse("oci:" + root)).ReadIndexJson().Index;
        Assert.Equal(8, index.Manifests.Count);
        Assert.Empty(Directory.GetFiles(root, "*.tmp-*", SearchOption.AllDirectories));
    }
}
