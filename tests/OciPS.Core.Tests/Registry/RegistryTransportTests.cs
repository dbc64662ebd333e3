using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Registry;

/// <summary>Faults, proxies, resume, the cache and pagination, against a real registry behind test proxies.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RegistryTransportTests : IDisposable
{
    private readonly TempDirectory _temp = new("transport");

    public void Dispose() => _temp.Dispose();

    private async Task<(LocalRegistry Registry, string Layout, Descriptor Manifest)> StartWithImageAsync(string repository, int bigFileSize = 300_000)
    {
        var registry = LocalRegistry.Start();
        var layout = _temp.Combine("layout-" + repository.Replace('/', '-'));
        var manifest = await RegistryFixture.WriteImageAsync(layout, "v1", bigFileSize);
        Skopeo.Copy($"oci:{layout}:v1", $"docker://{registry.Host}/{repository}:v1", registry.SkopeoOptions(destination: true));
        return (registry, layout, manifest);
    }

    private static async Task<OciImage> PullAllAsync(IImageSource source)
    {
        var image = (OciImage)await ImageLoader.LoadAsync(source, null, CancellationToken.None);
        foreach (var layer in image.Layers.Where(l => l.Descriptor is not null))
        {
            var stream = await source.OpenBlobAsync(layer.Descriptor!, CancellationToken.None);
            await using (stream)
            {
                await stream.CopyToAsync(Stream.Null);
            }
        }

        return image;
    }

    [Fact]
    public async Task ADownloadCutMidBlobResumesWithARangeRequest()
    {
        var (registry, layout, _) = await StartWithImageAsync("resume/me");
        using var _ = registry;
        using var proxy = FaultProxy.Start(registry.Host);
        proxy.CutAfterBytes = 100_000;
        proxy.CutsLeft = 1;
        var cache = _temp.Combine("cache");
        var source = ImageSources.Open($"{proxy.Host}/resume/me:v1", options: RegistryFixture.Options(cache, registry));

        var image = await PullAllAsync(source);

        var big = image.Layers.Where(l => l.Descriptor is not null).MaxBy(l => l.Size)!;
        Assert.True(big.Size > 100_000);
        Assert.Equal(File.ReadAllBytes(Path.Combine(layout, "blobs", "sha256", big.Digest!.Encoded)), File.ReadAllBytes(Path.Combine(cache, "blobs", "sha256", big.Digest.Encoded)));
        Assert.Equal(0, proxy.CutsLeft < 0 ? 0 : proxy.CutsLeft);
        Assert.False(File.Exists(Path.Combine(cache, "blobs", "sha256", big.Digest.Encoded + ".partial")));
    }

    [Fact]
    public async Task APartialBlobLeftByAnEarlierProcessIsResumedNotRestarted()
    {
        var (registry, layout, _) = await StartWithImageAsync("partial/me");
        using var _ = registry;
        var cache = _temp.Combine("cache");
        var first = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"{registry.Host}/partial/me:v1", options: RegistryFixture.Options(cache, registry)), null, CancellationToken.None);
        var big = first.Layers.Where(l => l.Descriptor is not null).MaxBy(l => l.Size)!;
        var original = File.ReadAllBytes(Path.Combine(layout, "blobs", "sha256", big.Digest!.Encoded));
        File.WriteAllBytes(Path.Combine(cache, "blobs", "sha256", big.Digest.Encoded + ".partial"), original[..150_000]);
        using var proxy = FaultProxy.Start(registry.Host);

        await PullAllAsync(ImageSources.Open($"{proxy.Host}/partial/me:v1", options: RegistryFixture.Options(cache, registry)));

        Assert.Equal(original, File.ReadAllBytes(Path.Combine(cache, "blobs", "sha256", big.Digest.Encoded)));
        Assert.Equal(1, proxy.Count("GET /v2/partial/me/blobs/" + big.Digest));
    }

    [Fact]
    public async Task ARegistryAnsweringFiveHundredTwiceThenSucceedingIsSurvived()
    {
        var (registry, _, manifest) = await StartWithImageAsync("flaky/me");
        using var _ = registry;
        using var proxy = FaultProxy.Start(registry.Host);
        proxy.FailMatching = "/blobs/sha256:";
        proxy.FailuresLeft = 2;

        var image = await PullAllAsync(ImageSources.Open($"{proxy.Host}/flaky/me:v1", options: RegistryFixture.Options(_temp.Combine("cache"), registry)));

        Assert.Equal(manifest.Digest, image.Digest);
        Assert.True(proxy.FailuresLeft <= 0);
    }

    [Fact]
    public async Task ARegistryThatKeepsFailingGivesAConnectionError()
    {
        var (registry, _, _) = await StartWithImageAsync("broken/me");
        using var _ = registry;
        using var proxy = FaultProxy.Start(registry.Host);
        proxy.FailMatching = "/manifests/";
        proxy.FailuresLeft = 100;
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        options = options with { Registry = options.Registry with { MaxRetries = 2 } };

        var error = await Assert.ThrowsAsync<RegistryConnectionException>(() => ImageLoader.LoadAsync(ImageSources.Open($"{proxy.Host}/broken/me:v1", options: options), null, CancellationToken.None));
        Assert.Equal(OciErrorKind.Connection, error.Kind);
        Assert.Equal(3, proxy.Count("/manifests/v1"));
    }

    [Fact]
    public async Task AProxyGivenInTheOptionsCarriesTheTraffic()
    {
        var (registry, _, manifest) = await StartWithImageAsync("proxied/me");
        using var _ = registry;
        using var proxy = ForwardProxy.Start();
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        options = options with { Registry = options.Registry with { Proxy = proxy.Address } };

        var image = await PullAllAsync(ImageSources.Open($"{registry.Host}/proxied/me:v1", options: options));

        Assert.Equal(manifest.Digest, image.Digest);
        Assert.Contains(proxy.Requests, line => line.Contains($"http://{registry.Host}/v2/proxied/me/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ASecondPullOfACachedImageTouchesNoBlob()
    {
        var (registry, _, _) = await StartWithImageAsync("cached/me");
        using var _ = registry;
        using var proxy = FaultProxy.Start(registry.Host);
        var cache = _temp.Combine("cache");
        await PullAllAsync(ImageSources.Open($"{proxy.Host}/cached/me:v1", options: RegistryFixture.Options(cache, registry)));
        var blobRequests = proxy.Count("/blobs/");
        Assert.True(blobRequests >= 3);

        await PullAllAsync(ImageSources.Open($"{proxy.Host}/cached/me:v1", options: RegistryFixture.Options(cache, registry)));

        Assert.Equal(blobRequests, proxy.Count("/blobs/"));
        Assert.Equal(1, proxy.Count("GET /v2/cached/me/manifests/"));
        Assert.Equal(2, proxy.Count("HEAD /v2/cached/me/manifests/v1"));
        var index = File.ReadAllText(Path.Combine(cache, "index.json"));
        Assert.Contains($"{proxy.Host}/cached/me:v1", index, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TagsArePagedThroughLinkHeaders()
    {
        var (registry, _, _) = await StartWithImageAsync("tags/me");
        using var _ = registry;
        var options = RegistryFixture.Options(_temp.Combine("cache"), registry);
        var source = ImageSources.Open($"{registry.Host}/tags/me:v1", options: options);
        var destinationTags = new[] { "a", "b", "c", "d", "e" };
        foreach (var tag in destinationTags)
        {
            var destination = ImageDestinations.Open(ImageLocation.Parse($"{registry.Host}/tags/me:{tag}"), new ImageDestinationOptions { Registry = options.Registry });
            await using (destination)
            {
                await ImageCopy.CopyAsync(source, destination, null, CancellationToken.None);
            }
        }

        using var proxy = FaultProxy.Start(registry.Host);
        proxy.PaginateTags = true;
        var client = new RegistryClient(ImageReference.Parse($"{proxy.Host}/tags/me"), options.Registry);
        var tags = new List<string>();
        await foreach (var tag in client.ListTagsAsync(2, CancellationToken.None))
        {
            tags.Add(tag);
        }

        Assert.Equal(["a", "b", "c", "d", "e", "v1"], tags.Order());
        Assert.Equal(3, proxy.Count("/tags/list"));
    }

    [Fact]
    public async Task WrongCredentialsFailWithAnAuthenticationErrorThatDoesNotShowTheSecret()
    {
        foreach (var auth in new[] { RegistryAuth.Basic, RegistryAuth.Bearer })
        {
            using var registry = LocalRegistry.Start(auth);
            var options = new ImageSourceOptions
            {
                CachePath = _temp.Combine("cache"),
                Registry = new RegistryOptions { Credential = new RegistryCredential("tester", "wrong-Secret-123"), Credentials = new CredentialStore([]) },
            };

            var error = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => ImageLoader.LoadAsync(ImageSources.Open($"{registry.Host}/private/me:v1", options: options), null, CancellationToken.None));
            Assert.DoesNotContain("wrong-Secret-123", error.ToString(), StringComparison.Ordinal);
            Assert.Contains("tester", error.Message, StringComparison.Ordinal);

            var anonymous = options with { Registry = options.Registry with { Credential = null } };
            var needs = await Assert.ThrowsAsync<RegistryAuthenticationException>(() => ImageLoader.LoadAsync(ImageSources.Open($"{registry.Host}/private/me:v1", options: anonymous), null, CancellationToken.None));
            Assert.Contains("Connect-OciRegistry", needs.Message, StringComparison.Ordinal);
        }
    }
}
