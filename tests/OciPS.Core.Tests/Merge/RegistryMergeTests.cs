using OciPS.Core.Compare;
using OciPS.Core.Content;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Registry;
using OciPS.Core.Tests.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Merge;

/// <summary>The merge over a registry image: lower layers download while the upper ones are merged.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RegistryMergeTests : IDisposable
{
    private readonly TempDirectory _temp = new("registry-merge");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task LowerLayers_DownloadWhileTheTopLayerIsMerged_AndTheTreeIsTheLayouts()
    {
        using var registry = LocalRegistry.Start();
        var layout = _temp.Combine("layout");
        await RegistryFixture.WriteImageAsync(layout, "v1", bigFileSize: 2_000_000);
        var reference = $"{registry.Host}/test/merged:v1";
        Skopeo.Copy($"oci:{layout}:v1", "docker://" + reference, registry.SkopeoOptions(destination: true));

        var cache = new BlobCache(_temp.Combine("cache"));
        var image = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open(reference, options: RegistryFixture.Options(cache.Root, registry)), null, CancellationToken.None);
        var bottom = image.Layers.First(l => l.Descriptor is not null).Descriptor!;

        // Hold the merge at its first entry (from the top layer): the bottom layer arrives all the same.
        await using (var entries = LayerMerger.For(image).MergeAsync(CancellationToken.None).GetAsyncEnumerator())
        {
            Assert.True(await entries.MoveNextAsync());
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!cache.Contains(bottom.Digest) && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(20);
            }

            Assert.True(cache.Contains(bottom.Digest), "the bottom layer was not fetched while the merge was on the top layer");
        }

        var fromLayout = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout}:v1"), null, CancellationToken.None);
        var differences = await RootfsComparer.CompareAsync(
            RootfsComparer.FromMerge(LayerMerger.For(fromLayout).MergeAsync(CancellationToken.None)),
            RootfsComparer.FromMerge(LayerMerger.For(image).MergeAsync(CancellationToken.None)),
            RootfsProperties.None,
            CancellationToken.None);
        Assert.Empty(differences);
    }

    [Fact]
    public async Task TwoSourcesSharingACache_DownloadTheSameBlobsAtOnce_AndBothGetThemWhole()
    {
        using var registry = LocalRegistry.Start();
        var layout = _temp.Combine("layout-shared");
        await RegistryFixture.WriteImageAsync(layout, "v1", bigFileSize: 8_000_000);
        var reference = $"{registry.Host}/test/shared:v1";
        Skopeo.Copy($"oci:{layout}:v1", "docker://" + reference, registry.SkopeoOptions(destination: true));

        var cache = _temp.Combine("shared-cache");
        async Task<IReadOnlyList<Digest>> PullAsync()
        {
            var source = ImageSources.Open(reference, options: RegistryFixture.Options(cache, registry));
            var image = (OciImage)await ImageLoader.LoadAsync(source, null, CancellationToken.None);
            var digests = new List<Digest>();
            foreach (var layer in image.Layers.Where(l => l.Descriptor is not null))
            {
                await using var stream = await source.OpenBlobAsync(layer.Descriptor!, CancellationToken.None);
                digests.Add(await Digest.ComputeAsync(stream));
            }

            return digests;
        }

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(PullAsync)));
        Assert.All(results, digests => Assert.Equal(results[0], digests));
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "blobs", "sha256"), "*.partial*"));
    }
}
