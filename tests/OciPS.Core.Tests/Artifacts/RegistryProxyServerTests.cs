using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using OciPS.Core;
using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Artifacts;

public sealed class RegistryProxyServerTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("proxy");
    private readonly HttpClient _http = new();
    private RegistryProxyServer _server = null!;
    private Descriptor _image = null!;
    private Descriptor _layer = null!;
    private PublishedArtifact _referrer = null!;

    public async Task InitializeAsync()
    {
        var layout = OciLayoutWriter.Open(_dir.Combine("layout"));
        _image = await new ImageBuilder().Layer(new LayerBuilder().File("etc/hello", new string('h', 5000))).WriteAsync(layout, "1.0");
        await new ImageBuilder().Layer(new LayerBuilder().File("b", "b")).WriteAsync(layout, "2.0");
        var manifest = OciJson.Deserialize(File.ReadAllBytes(_dir.Combine("layout", "blobs", "sha256", _image.Digest.Encoded)), OciJsonContext.Default.ImageManifest, "m");
        _layer = manifest.Layers[0];

        _dir.WriteFile("sbom.json", "{\"sbom\":true}");
        var pack = PackFileReader.Parse($"type: application/vnd.example.sbom\nsubject: oci:{_dir.Combine("layout")}:1.0\nitems:\n  - from: sbom.json\n", "pack.yaml", _dir.Path);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, new ArtifactPackOptions(), CancellationToken.None);
        await using var destination = ArtifactDestinations.Open(ImageLocation.Parse("oci:" + _dir.Combine("layout")));
        _referrer = await ArtifactPublisher.PushAsync(plan, destination, null, CancellationToken.None);

        _server = RegistryProxyServer.Start(_dir.Combine("layout"), "team/app", 0);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    private string Url(string path) => $"http://{_server.Host}{path}";

    [Fact]
    public async Task Base_endpoint_answers_with_the_api_version_header()
    {
        using var response = await _http.GetAsync(Url("/v2/"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-API-Version").Single());
    }

    [Fact]
    public async Task Manifests_by_tag_and_digest_carry_their_media_type_and_digest()
    {
        foreach (var reference in new[] { "1.0", _image.Digest.ToString() })
        {
            using var response = await _http.GetAsync(Url($"/v2/team/app/manifests/{reference}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(MediaTypes.OciManifest, response.Content.Headers.ContentType!.MediaType);
            Assert.Equal(_image.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal(File.ReadAllBytes(_dir.Combine("layout", "blobs", "sha256", _image.Digest.Encoded)), await response.Content.ReadAsByteArrayAsync());
        }

        using var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, Url("/v2/team/app/manifests/1.0")));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(_image.Size, head.Content.Headers.ContentLength);

        using var missing = await _http.GetAsync(Url("/v2/team/app/manifests/nope"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("MANIFEST_UNKNOWN", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var otherName = await _http.GetAsync(Url("/v2/other/manifests/1.0"));
        Assert.Contains("NAME_UNKNOWN", await otherName.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Blobs_support_ranges()
    {
        var blob = File.ReadAllBytes(_dir.Combine("layout", "blobs", "sha256", _layer.Digest.Encoded));
        using var full = await _http.GetAsync(Url($"/v2/team/app/blobs/{_layer.Digest}"));
        Assert.Equal(blob, await full.Content.ReadAsByteArrayAsync());
        Assert.Equal(_layer.Digest.ToString(), full.Headers.GetValues("Docker-Content-Digest").Single());

        var request = new HttpRequestMessage(HttpMethod.Get, Url($"/v2/team/app/blobs/{_layer.Digest}"));
        request.Headers.Range = new RangeHeaderValue(10, 19);
        using var partial = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(blob[10..20], await partial.Content.ReadAsByteArrayAsync());
        Assert.Equal($"bytes 10-19/{blob.Length}", partial.Content.Headers.ContentRange!.ToString());

        var suffix = new HttpRequestMessage(HttpMethod.Get, Url($"/v2/team/app/blobs/{_layer.Digest}"));
        suffix.Headers.Range = new RangeHeaderValue(null, 5);
        using var tail = await _http.SendAsync(suffix);
        Assert.Equal(blob[^5..], await tail.Content.ReadAsByteArrayAsync());

        var beyond = new HttpRequestMessage(HttpMethod.Get, Url($"/v2/team/app/blobs/{_layer.Digest}"));
        beyond.Headers.Range = new RangeHeaderValue(blob.Length + 10, null);
        using var unsatisfiable = await _http.SendAsync(beyond);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);

        using var traversal = await _http.GetAsync(Url("/v2/team/app/blobs/sha256:..%2f..%2findex.json"));
        Assert.Equal(HttpStatusCode.BadRequest, traversal.StatusCode);
    }

    [Fact]
    public async Task Tags_list_paginates()
    {
        using var all = JsonDocument.Parse(await _http.GetStringAsync(Url("/v2/team/app/tags/list")));
        Assert.Equal("team/app", all.RootElement.GetProperty("name").GetString());
        Assert.Equal(["1.0", "2.0"], all.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        using var page = JsonDocument.Parse(await _http.GetStringAsync(Url("/v2/team/app/tags/list?n=1&last=1.0")));
        Assert.Equal(["2.0"], page.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task Referrers_lists_the_artifacts_whose_subject_is_the_digest()
    {
        using var response = await _http.GetAsync(Url($"/v2/team/app/referrers/{_image.Digest}"));
        Assert.Equal(MediaTypes.OciIndex, response.Content.Headers.ContentType!.MediaType);
        var index = OciJson.Deserialize(await response.Content.ReadAsByteArrayAsync(), OciJsonContext.Default.ImageIndex, "referrers");
        var referrer = Assert.Single(index.Manifests);
        Assert.Equal(_referrer.Digest, referrer.Digest);
        Assert.Equal("application/vnd.example.sbom", referrer.ArtifactType);

        using var filtered = await _http.GetAsync(Url($"/v2/team/app/referrers/{_image.Digest}?artifactType=application/vnd.other"));
        Assert.Equal("artifactType", filtered.Headers.GetValues("OCI-Filters-Applied").Single());
        Assert.Empty(OciJson.Deserialize(await filtered.Content.ReadAsByteArrayAsync(), OciJsonContext.Default.ImageIndex, "referrers").Manifests);

        using var none = await _http.GetAsync(Url($"/v2/team/app/referrers/sha256:{new string('0', 64)}"));
        Assert.Equal(HttpStatusCode.OK, none.StatusCode);
    }

    [Fact]
    public async Task Writes_are_refused_as_unsupported()
    {
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch })
        {
            using var response = await _http.SendAsync(new HttpRequestMessage(method, Url("/v2/team/app/blobs/uploads/")) { Content = new ByteArrayContent([1]) });
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Contains("UNSUPPORTED", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Skopeo_inspects_and_copies_through_the_proxy_bit_identically()
    {
        var raw = Skopeo.InspectRaw($"docker://{_server.Host}/team/app:1.0", "--tls-verify=false");
        Assert.Equal(_image.Digest, Digest.Compute(raw));
        var copy = _dir.Combine("copy");
        Skopeo.Copy($"docker://{_server.Host}/team/app:1.0", $"oci:{copy}:1.0", "--src-tls-verify=false", "--preserve-digests");
        foreach (var blob in Directory.GetFiles(Path.Combine(copy, "blobs", "sha256")))
        {
            Assert.Equal(File.ReadAllBytes(_dir.Combine("layout", "blobs", "sha256", Path.GetFileName(blob))), File.ReadAllBytes(blob));
        }

        await Task.CompletedTask;
    }

    [Fact]
    public async Task Registry_image_items_are_read_through_the_distribution_api()
    {
        var pack = PackFileReader.Parse($"type: application/vnd.example.bundle\nitems:\n  - from: oci://{_server.Host}/team/app:1.0\n  - from: docker://{_server.Host}/team/app:2.0\n", "pack.yaml", _dir.Path);
        var options = new ArtifactPackOptions { SourceOptions = new ImageSourceOptions { CachePath = _dir.Combine("cache") } };
        await using var plan = await ArtifactPublisher.PlanAsync(pack, options, CancellationToken.None);
        await using var destination = ArtifactDestinations.Open(ImageLocation.Parse("oci:" + _dir.Combine("bundle") + ":bundle"));
        var published = await ArtifactPublisher.PushAsync(plan, destination, null, CancellationToken.None);

        Assert.Equal(MediaTypes.OciIndex, published.MediaType);
        Assert.Equal(_image.Digest, published.Manifest.Index.Manifests[0].Digest);
        Assert.Equal("linux/amd64", published.Manifest.Index.Manifests[0].Platform!.ToString());
        var copy = _dir.Combine("bundle-copy");
        Skopeo.Copy($"oci:{_dir.Combine("bundle")}:bundle", $"oci:{copy}:x", "--all", "--preserve-digests");
        Assert.Equal(
            File.ReadAllBytes(_dir.Combine("layout", "blobs", "sha256", _layer.Digest.Encoded)),
            File.ReadAllBytes(Path.Combine(copy, "blobs", "sha256", _layer.Digest.Encoded)));
    }

    [Fact]
    public async Task Stopping_closes_the_port()
    {
        var server = RegistryProxyServer.Start(_dir.Combine("layout"), "x", 0);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync($"http://{server.Host}/v2/")).StatusCode);
        await server.DisposeAsync();
        using var fresh = new HttpClient();
        await Assert.ThrowsAsync<HttpRequestException>(() => fresh.GetAsync($"http://{server.Host}/v2/"));
        Assert.Throws<LocationNotFoundException>(() => RegistryProxyServer.Start(_dir.Path, "x", 0));
        Assert.Equal("ProxyNameInvalid", Assert.Throws<OciException>(() => RegistryProxyServer.Start(_dir.Combine("layout"), "Bad Name", 0)).ErrorId);
    }
}
