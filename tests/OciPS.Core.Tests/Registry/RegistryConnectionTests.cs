using System.Diagnostics;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Registry;

/// <summary>
/// TLS trust, real proxies (tinyproxy for HTTP, microsocks for SOCKS5), the proxy environment, source and
/// destination settings kept apart, and timeouts, against real docker-registry instances.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RegistryConnectionTests : IDisposable
{
    private readonly TempDirectory _temp = new("connection");

    public void Dispose() => _temp.Dispose();

    private async Task<(LocalRegistry Registry, Descriptor Manifest)> StartWithImageAsync(string repository, bool tls = false)
    {
        var registry = LocalRegistry.Start(tls: tls);
        var layout = _temp.Combine("layout-" + repository.Replace('/', '-'));
        var manifest = await RegistryFixture.WriteImageAsync(layout, "v1");
        Skopeo.Copy($"oci:{layout}:v1", $"docker://{registry.Host}/{repository}:v1", registry.SkopeoOptions(destination: true));
        return (registry, manifest);
    }

    /// <summary>Options with a fresh cache, no stored credentials and no proxy variables unless given.</summary>
    private ImageSourceOptions Options(Func<RegistryOptions, RegistryOptions>? change = null)
    {
        var registry = new RegistryOptions
        {
            Credentials = new CredentialStore([]),
            RetryDelay = TimeSpan.FromMilliseconds(20),
            ProxyEnvironment = new Dictionary<string, string>(),
        };
        return new ImageSourceOptions { CachePath = _temp.Combine("cache-" + Guid.NewGuid().ToString("N")[..8]), Registry = change?.Invoke(registry) ?? registry };
    }

    private static async Task<OciImage> PullAllAsync(string reference, ImageSourceOptions options)
    {
        var source = ImageSources.Open(reference, options: options);
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
    public async Task AnUntrustedCertificateFailsAtOnceNamingTheRegistryAndTheFix()
    {
        var (registry, _) = await StartWithImageAsync("tls/untrusted", tls: true);
        using var _ = registry;
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<RegistryCertificateException>(() => PullAllAsync($"{registry.Host}/tls/untrusted:v1", Options()));

        Assert.Equal("RegistryCertificateUntrusted", error.ErrorId);
        Assert.Equal(OciErrorKind.Security, error.Kind);
        Assert.Equal(registry.Host, error.Target);
        Assert.Contains(registry.Host, error.Message, StringComparison.Ordinal);
        Assert.Contains("-CaCertificate", error.Message, StringComparison.Ordinal);
        Assert.Contains("-SkipCertificateCheck", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"no retries on a certificate error ({clock.Elapsed})");
    }

    [Fact]
    public async Task TheRegistrysCaFileMakesTheTlsPullWork()
    {
        var (registry, manifest) = await StartWithImageAsync("tls/trusted", tls: true);
        using var _ = registry;

        var image = await PullAllAsync($"{registry.Host}/tls/trusted:v1", Options(o => o with { CaCertificateFile = registry.Tls!.CaCertificatePath }));

        Assert.Equal(manifest.Digest, image.Digest);
    }

    [Fact]
    public async Task AnotherCaDoesNotMakeTheCertificateTrusted()
    {
        var (registry, _) = await StartWithImageAsync("tls/other-ca", tls: true);
        using var _ = registry;
        var other = TestCertificates.Create(_temp.Combine("other-ca"), "someone-else");

        await Assert.ThrowsAsync<RegistryCertificateException>(() => PullAllAsync($"{registry.Host}/tls/other-ca:v1", Options(o => o with { CaCertificateFile = other.CaCertificatePath })));
    }

    [Fact]
    public async Task SkippingTheCheckMakesTheTlsPullWork()
    {
        var (registry, manifest) = await StartWithImageAsync("tls/skipped", tls: true);
        using var _ = registry;

        var image = await PullAllAsync($"{registry.Host}/tls/skipped:v1", Options(o => o with { SkipTlsVerify = true }));

        Assert.Equal(manifest.Digest, image.Digest);
    }

    [Fact]
    public async Task ACaFileWithoutACertificateIsAnArgumentError()
    {
        var (registry, _) = await StartWithImageAsync("tls/bad-ca", tls: true);
        using var _ = registry;
        var file = _temp.WriteFile("not-a-ca.pem", "hello\n");

        var error = await Assert.ThrowsAsync<RegistryOptionsException>(() => PullAllAsync($"{registry.Host}/tls/bad-ca:v1", Options(o => o with { CaCertificateFile = file })));

        Assert.Equal("CaCertificateInvalid", error.ErrorId);
        Assert.Equal(file, error.Target);
    }

    [Fact]
    public async Task AnExplicitHttpProxyCarriesRequestsToALoopbackRegistry()
    {
        var (registry, manifest) = await StartWithImageAsync("proxy/http");
        using var _ = registry;
        using var proxy = PeerProxy.StartTinyproxy();

        var image = await PullAllAsync($"{registry.Host}/proxy/http:v1", Options(o => o with { Proxy = proxy.Address }));

        Assert.Equal(manifest.Digest, image.Digest);
        Assert.True(proxy.Carried($"GET http://{registry.Host}/v2/proxy/http/blobs/sha256:"), string.Join("\n", proxy.Requests));
        Assert.True(proxy.Carried($"HEAD http://{registry.Host}/v2/proxy/http/manifests/v1"), string.Join("\n", proxy.Requests));
    }

    [Fact]
    public async Task ATlsRegistryIsReachedThroughTheHttpProxyWithConnect()
    {
        var (registry, manifest) = await StartWithImageAsync("proxy/tls", tls: true);
        using var _ = registry;
        using var proxy = PeerProxy.StartTinyproxy();

        var image = await PullAllAsync($"{registry.Host}/proxy/tls:v1", Options(o => o with { Proxy = proxy.Address, CaCertificateFile = registry.Tls!.CaCertificatePath }));

        Assert.Equal(manifest.Digest, image.Digest);
        Assert.True(proxy.Carried($"CONNECT {registry.Host}"), string.Join("\n", proxy.Requests));
    }

    [Fact]
    public async Task ASocks5ProxyCarriesThePullAndItsAbsenceBreaksIt()
    {
        var (registry, manifest) = await StartWithImageAsync("proxy/socks");
        using var _ = registry;
        using var proxy = PeerProxy.StartMicrosocks();
        Assert.Equal("socks5", proxy.Address.Scheme);

        var image = await PullAllAsync($"{registry.Host}/proxy/socks:v1", Options(o => o with { Proxy = proxy.Address }));
        Assert.Equal(manifest.Digest, image.Digest);

        proxy.Stop();
        var error = await Assert.ThrowsAsync<RegistryConnectionException>(() => PullAllAsync($"{registry.Host}/proxy/socks:v1", Options(o => o with { Proxy = proxy.Address, MaxRetries = 0 })));
        Assert.Contains("through the proxy socks5://127.0.0.1:" + proxy.Port, error.Message, StringComparison.Ordinal);

        // The same pull without the proxy works: only the stopped proxy was in the way.
        Assert.Equal(manifest.Digest, (await PullAllAsync($"{registry.Host}/proxy/socks:v1", Options())).Digest);
    }

    [Fact]
    public async Task Socks5hMeansTheSameSocks5Proxy()
    {
        var (registry, manifest) = await StartWithImageAsync("proxy/socks5h");
        using var _ = registry;
        using var proxy = PeerProxy.StartMicrosocks();
        var address = new Uri("socks5h://127.0.0.1:" + proxy.Port);

        Assert.Equal(manifest.Digest, (await PullAllAsync($"{registry.Host}/proxy/socks5h:v1", Options(o => o with { Proxy = address }))).Digest);
    }

    [Fact]
    public async Task TheProxyEnvironmentIsUsedAndNoProxyExemptsHosts()
    {
        var (registry, manifest) = await StartWithImageAsync("proxy/env");
        using var _ = registry;
        using var proxy = PeerProxy.StartTinyproxy();

        var proxied = await PullAllAsync($"{registry.Host}/proxy/env:v1", Options(o => o with { ProxyEnvironment = new Dictionary<string, string> { ["http_proxy"] = proxy.Address.ToString() } }));
        Assert.Equal(manifest.Digest, proxied.Digest);
        Assert.True(proxy.Carried($"http://{registry.Host}/v2/proxy/env/"), string.Join("\n", proxy.Requests));
        var carried = proxy.Requests.Count;

        foreach (var exemption in new[] { "127.0.0.1", "example.com,127.0.0.0/8", $"127.0.0.1:{registry.Port}", "*" })
        {
            var direct = await PullAllAsync($"{registry.Host}/proxy/env:v1", Options(o => o with
            {
                ProxyEnvironment = new Dictionary<string, string> { ["HTTP_PROXY"] = proxy.Address.ToString(), ["NO_PROXY"] = exemption },
            }));
            Assert.Equal(manifest.Digest, direct.Digest);
            Assert.True(carried == proxy.Requests.Count, $"NO_PROXY={exemption} still sent requests through the proxy");
        }
    }

    [Fact]
    public async Task SourceAndDestinationUseTheirOwnProxyAndTls()
    {
        var (source, manifest) = await StartWithImageAsync("split/source");
        using var _ = source;
        using var destination = LocalRegistry.Start(tls: true);
        using var sourceProxy = PeerProxy.StartTinyproxy();
        var sourceOptions = Options(o => o with { Proxy = sourceProxy.Address });
        var destinationOptions = new ImageDestinationOptions
        {
            Registry = new RegistryOptions
            {
                Credentials = new CredentialStore([]),
                CaCertificateFile = destination.Tls!.CaCertificatePath,
                ProxyEnvironment = new Dictionary<string, string>(),
            },
        };

        var result = await ImageCopy.CopyAsync(
            ImageSources.Open($"{source.Host}/split/source:v1", options: sourceOptions),
            ImageDestinations.Open(Core.References.ImageLocation.Parse($"{destination.Host}/split/copy:v1"), destinationOptions),
            null,
            CancellationToken.None);

        Assert.Equal(manifest.Digest, result.Digest);
        Assert.True(sourceProxy.Carried(source.Host), string.Join("\n", sourceProxy.Requests));
        Assert.False(sourceProxy.Carried(destination.Host), string.Join("\n", sourceProxy.Requests));
        Assert.Equal(manifest.Digest.ToString(), Digest.Compute(Skopeo.InspectRawWith($"docker://{destination.Host}/split/copy:v1", destination.SkopeoInspectOptions())).ToString());
    }

    [Fact]
    public async Task ARegistryThatNeverAnswersTimesOutPromptlyNamingIt()
    {
        using var silent = SilentListener.Start();
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<RegistryConnectionException>(() => PullAllAsync($"{silent.Host}/stalled/image:v1", Options(o => o with { Timeout = TimeSpan.FromSeconds(1), MaxRetries = 1 })));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"took {clock.Elapsed}");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2), $"two attempts of 1 s each, took {clock.Elapsed}");
        Assert.Equal(silent.Host, error.Target);
        Assert.Contains(silent.Host, error.Message, StringComparison.Ordinal);
        Assert.Contains("no answer within 1 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("2 attempts", error.Message, StringComparison.Ordinal);
        Assert.True(silent.Accepted >= 1);
    }

    private async Task<(Descriptor Manifest, Exception? Error, TimeSpan Took)> PushThroughAsync(ThrottledTcpProxy link, string layout, TimeSpan timeout)
    {
        var manifest = await RegistryFixture.WriteImageAsync(layout, "v1", bigFileSize: 12_000_000);
        var options = new ImageDestinationOptions
        {
            Registry = new RegistryOptions { Credentials = new CredentialStore([]), ProxyEnvironment = new Dictionary<string, string>(), Timeout = timeout, MaxRetries = 0 },
        };
        var clock = Stopwatch.StartNew();
        try
        {
            var destination = ImageDestinations.Open(Core.References.ImageLocation.Parse($"{link.Host}/slow/upload:v1"), options);
            await using (destination)
            {
                await ImageCopy.CopyAsync(ImageSources.Open($"oci:{layout}:v1"), destination, null, CancellationToken.None);
            }

            return (manifest, null, clock.Elapsed);
        }
        catch (OciException ex)
        {
            return (manifest, ex, clock.Elapsed);
        }
    }

    [Fact]
    public async Task AnUploadLongerThanTheTimeoutCompletesWhileBytesKeepFlowing()
    {
        using var registry = LocalRegistry.Start();
        using var link = ThrottledTcpProxy.Start(registry.Port, 3 * 1024 * 1024);

        var (manifest, error, took) = await PushThroughAsync(link, _temp.Combine("steady"), TimeSpan.FromSeconds(2));

        Assert.Null(error);
        Assert.True(took > TimeSpan.FromSeconds(3), $"the link did not slow the upload ({took}): the test would prove nothing");
        Assert.Equal(manifest.Digest, Digest.Compute(Skopeo.InspectRawWith($"docker://{registry.Host}/slow/upload:v1", registry.SkopeoInspectOptions())));
    }

    [Fact]
    public async Task AnUploadThatStallsFailsAfterTheTimeout()
    {
        using var registry = LocalRegistry.Start();
        using var link = ThrottledTcpProxy.Start(registry.Port, 16 * 1024);

        var (_, error, took) = await PushThroughAsync(link, _temp.Combine("stalled"), TimeSpan.FromSeconds(1));

        var unreachable = Assert.IsType<RegistryConnectionException>(error);
        Assert.Contains("the upload stalled", unreachable.Message, StringComparison.Ordinal);
        Assert.Contains(link.Host, unreachable.Message, StringComparison.Ordinal);
        Assert.True(took < TimeSpan.FromSeconds(15), $"took {took}");
    }

    [Theory]
    [InlineData("*", "http://registry.example:5000/", true)]
    [InlineData("example", "http://registry.example:5000/", true)]
    [InlineData(".example", "http://registry.example:5000/", true)]
    [InlineData("*.example", "http://registry.example:5000/", true)]
    [InlineData("registry.example:5000", "http://registry.example:5000/", true)]
    [InlineData("registry.example:5001", "http://registry.example:5000/", false)]
    [InlineData("other.example", "http://registry.example:5000/", false)]
    [InlineData("ample", "http://registry.example:5000/", false)]
    [InlineData("10.0.0.0/8", "http://10.1.2.3:5000/", true)]
    [InlineData("10.0.0.0/8", "http://11.1.2.3:5000/", false)]
    [InlineData("::1", "http://[::1]:5000/", true)]
    public void NoProxyEntriesMatchAsCurlReadsThem(string entry, string url, bool bypassed)
    {
        Assert.Equal(bypassed, EnvironmentProxy.Matches(entry, new Uri(url)));
    }
}
