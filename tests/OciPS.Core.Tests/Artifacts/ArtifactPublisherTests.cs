using System.Net;
using System.Security.Cryptography;
using System.Text;
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

public sealed class ArtifactPublisherTests : IDisposable
{
    private readonly TempDirectory _dir = new("publish");

    public ArtifactPublisherTests()
    {
        _dir.WriteFile("src/config.tmpl", "port: 80\n");
        _dir.WriteFile("src/schema.json", "{\"type\":\"object\"}");
        _dir.WriteFile("src/data/a.txt", "alpha\n");
        _dir.WriteFile("src/data/sub/b.txt", "beta\n");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_artifact_is_an_oci_1_1_manifest_that_skopeo_reads()
    {
        var result = await PublishAsync("""
            type: application/vnd.example.artifact
            annotations:
              org.opencontainers.image.vendor: Example
            items:
              - from: file://config.tmpl
                type: application/vnd.example.template
                annotations:
                  description: template
            """, "v1");

        var raw = Skopeo.InspectRaw($"oci:{_dir.Combine("out")}:v1");
        Assert.Equal(result.Digest, Digest.Compute(raw));
        using var json = JsonDocument.Parse(raw);
        var root = json.RootElement;
        Assert.Equal(MediaTypes.OciManifest, root.GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.example.artifact", root.GetProperty("artifactType").GetString());
        Assert.Equal(MediaTypes.OciEmpty, root.GetProperty("config").GetProperty("mediaType").GetString());
        Assert.Equal("e30=", root.GetProperty("config").GetProperty("data").GetString());
        Assert.Equal("Example", root.GetProperty("annotations").GetProperty("org.opencontainers.image.vendor").GetString());
        Assert.False(root.GetProperty("annotations").TryGetProperty(AnnotationKeys.Created, out _));
        var layer = Assert.Single(root.GetProperty("layers").EnumerateArray());
        Assert.Equal("application/vnd.example.template", layer.GetProperty("mediaType").GetString());
        Assert.Equal("config.tmpl", layer.GetProperty("annotations").GetProperty(AnnotationKeys.Title).GetString());
        Assert.Equal("template", layer.GetProperty("annotations").GetProperty("description").GetString());
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_dir.Combine("src/config.tmpl")))), layer.GetProperty("digest").GetString());
        Assert.Equal(File.ReadAllBytes(_dir.Combine("src/config.tmpl")), File.ReadAllBytes(BlobPath(layer.GetProperty("digest").GetString()!)));
    }

    [Fact]
    public async Task The_same_pack_file_twice_gives_the_same_digest_and_created_is_only_added_when_asked()
    {
        const string Pack = "type: application/vnd.example\nitems:\n  - from: file://config.tmpl\n  - from: dir://data\n";
        var first = await PublishAsync(Pack, "a");
        File.SetLastWriteTimeUtc(_dir.Combine("src/data/a.txt"), DateTime.UtcNow.AddDays(-3));
        var second = await PublishAsync(Pack, "b", output: "out2");
        Assert.Equal(first.Digest, second.Digest);

        var stamped = await PublishAsync(Pack, "c", options: new ArtifactPackOptions { Created = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero) });
        Assert.NotEqual(first.Digest, stamped.Digest);
        Assert.Equal("2024-05-06T07:08:09Z", stamped.Manifest.Manifest.Annotations![AnnotationKeys.Created]);
    }

    [Fact]
    public async Task A_directory_is_one_deterministic_tar_gzip_layer_with_the_oras_annotations_that_tar_extracts()
    {
        var result = await PublishAsync("items:\n  - from: dir://data\n", "dir");
        var layer = Assert.Single(result.Layers);
        Assert.Equal(MediaTypes.OciLayerGzip, layer.MediaType);
        Assert.Equal("true", layer.Annotation(OrasAnnotations.Unpack));
        Assert.Equal("data", layer.Annotation(AnnotationKeys.Title));
        Assert.Equal(ArtifactPublisher.DefaultArtifactType, result.ArtifactType);

        var extracted = _dir.Combine("extracted");
        Directory.CreateDirectory(extracted);
        ProcessRunner.Run("tar", ["-xzf", BlobPath(layer.Digest.ToString()), "-C", extracted]);
        Assert.Equal("alpha\n", File.ReadAllText(Path.Combine(extracted, "data/a.txt")));
        Assert.Equal("beta\n", File.ReadAllText(Path.Combine(extracted, "data/sub/b.txt")));

        var listing = ProcessRunner.Run("tar", ["-tzvf", BlobPath(layer.Digest.ToString())]).StandardOutput;
        Assert.Contains("0/0", listing, StringComparison.Ordinal);
        Assert.Contains("1970-01-01", listing, StringComparison.Ordinal);

        var uncompressed = ProcessRunner.RunBytes("gzip", ["-dc", BlobPath(layer.Digest.ToString())]).StandardOutput;
        Assert.Equal(Digest.Compute(uncompressed).ToString(), layer.Annotation(OrasAnnotations.ContentDigest));
    }

    [Fact]
    public async Task Expand_makes_one_layer_per_file_titled_by_relative_path()
    {
        var result = await PublishAsync("items:\n  - from: dir://data\n", "x", options: new ArtifactPackOptions { Expand = true });
        Assert.Equal(["data/a.txt", "data/sub/b.txt"], result.Layers.Select(l => l.Annotation(AnnotationKeys.Title)));
    }

    [Fact]
    public async Task A_config_file_becomes_the_manifest_config()
    {
        var result = await PublishAsync("type: application/vnd.example\nconfig:\n  from: file://schema.json\n  type: application/vnd.example.schema\nitems:\n  - from: config.tmpl\n", "cfg");
        using var json = JsonDocument.Parse(Skopeo.InspectRaw($"oci:{_dir.Combine("out")}:cfg"));
        var config = json.RootElement.GetProperty("config");
        Assert.Equal("application/vnd.example.schema", config.GetProperty("mediaType").GetString());
        Assert.Equal(File.ReadAllBytes(_dir.Combine("src/schema.json")), File.ReadAllBytes(BlobPath(config.GetProperty("digest").GetString()!)));
        Assert.Equal(result.Digest, Digest.Compute(Skopeo.InspectRaw($"oci:{_dir.Combine("out")}:cfg")));
    }

    [Fact]
    public async Task Http_sources_are_streamed_hashed_and_checked_against_a_pin()
    {
        var payload = Encoding.UTF8.GetBytes(new string('x', 300_000));
        using var server = new LoopbackFileServer(new Dictionary<string, byte[]> { ["/files/tool.bin"] = payload });
        var pin = Convert.ToHexStringLower(SHA256.HashData(payload));
        var result = await PublishAsync($"items:\n  - from: {server.Url}files/tool.bin#sha256={pin}\n", "http");
        var layer = Assert.Single(result.Layers);
        Assert.Equal("tool.bin", layer.Annotation(AnnotationKeys.Title));
        Assert.Equal(payload, File.ReadAllBytes(BlobPath(layer.Digest.ToString())));

        var wrong = new string('0', 64);
        var ex = await Assert.ThrowsAsync<DigestMismatchException>(() => PublishAsync($"items:\n  - from: {server.Url}files/tool.bin\n    digest: sha256:{wrong}\n", "bad", output: "bad"));
        Assert.Contains("line 2", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Combine("bad")), "nothing is written when staging fails");

        var missing = await Assert.ThrowsAsync<OciException>(() => PublishAsync($"items:\n  - from: {server.Url}nope\n", "missing", output: "missing"));
        Assert.Equal("ArtifactDownloadFailed", missing.ErrorId);
        Assert.Equal(OciErrorKind.NotFound, missing.Kind);
    }

    [Fact]
    public async Task Platform_items_make_an_index_with_one_manifest_per_platform_and_common_items_in_each()
    {
        _dir.WriteFile("src/amd64/tool", "amd64 tool");
        _dir.WriteFile("src/arm64/tool", "arm64 tool");
        var result = await PublishAsync("""
            type: application/vnd.example.tools
            items:
              - from: config.tmpl
              - from: amd64/tool
                platform: linux/amd64
              - from: arm64/tool
                platform: linux/arm64
            """, "multi");

        Assert.Equal(MediaTypes.OciIndex, result.MediaType);
        var inspected = Skopeo.InspectRaw($"oci:{_dir.Combine("out")}:multi");
        Assert.Equal(result.Digest, Digest.Compute(inspected));
        var index = OciJson.Deserialize(inspected, OciJsonContext.Default.ImageIndex, "index");
        Assert.Equal("application/vnd.example.tools", index.ArtifactType);
        Assert.Equal(["linux/amd64", "linux/arm64"], index.Manifests.Select(m => m.Platform!.ToString()));
        var armManifest = OciJson.Deserialize(File.ReadAllBytes(BlobPath(index.Manifests[1].Digest.ToString())), OciJsonContext.Default.ImageManifest, "arm");
        Assert.Equal("application/vnd.example.tools", armManifest.ArtifactType);
        Assert.Equal(["config.tmpl", "tool"], armManifest.Layers.Select(l => l.Annotation(AnnotationKeys.Title)));
        Assert.Equal(File.ReadAllBytes(_dir.Combine("src/arm64/tool")), File.ReadAllBytes(BlobPath(armManifest.Layers[1].Digest.ToString())));
    }

    [Fact]
    public async Task Image_sources_are_copied_whole_into_an_index_by_platform()
    {
        var images = OciLayoutWriter.Open(_dir.Combine("src/images"));
        var amd64 = await new ImageBuilder { Platform = Platform.Parse("linux/amd64") }.Layer(new LayerBuilder().File("arch", "amd64\n")).WriteAsync(images);
        var arm64 = await new ImageBuilder { Platform = Platform.Parse("linux/arm64") }.Layer(new LayerBuilder().File("arch", "arm64\n")).WriteAsync(images);
        await ImageBuilder.WriteIndexAsync(images, [amd64, arm64], "multi");
        await new ImageBuilder { Platform = Platform.Parse("linux/s390x") }.Layer(new LayerBuilder().File("arch", "s390x\n")).WriteAsync(images, "single");

        var result = await PublishAsync("""
            type: application/vnd.example.bundle
            items:
              - from: oci:images:multi
                platform: linux/arm64
              - from: oci:images:single
            """, "bundle");

        var index = result.Manifest.Index;
        Assert.Equal([arm64.Digest, ImageDigest("src/images", "single")], index.Manifests.Select(m => m.Digest));
        Assert.Equal(["linux/arm64", "linux/s390x"], index.Manifests.Select(m => m.Platform!.ToString()));
        var copied = Path.Combine(_dir.Combine("unpacked"));
        Skopeo.Copy($"oci:{_dir.Combine("out")}:bundle", $"oci:{_dir.Combine("copy")}:arm", "--override-arch", "arm64");
        Umoci.Run("unpack", "--rootless", "--image", $"{_dir.Combine("copy")}:arm", copied);
        Assert.Equal("arm64\n", File.ReadAllText(Path.Combine(copied, "rootfs", "arch")));

        var wrong = await Assert.ThrowsAsync<PlatformNotFoundException>(() => PublishAsync("items:\n  - from: oci:images:multi\n    platform: linux/riscv64\n", "none", output: "none"));
        Assert.Contains("linux/arm64", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_subject_attaches_the_artifact_to_an_image_and_keeps_it_reachable_untagged()
    {
        var layout = OciLayoutWriter.Open(_dir.Combine("out"));
        var image = await new ImageBuilder().Layer(new LayerBuilder().File("f", "f\n")).WriteAsync(layout, "app");

        var bySubjectLocation = await PublishAsync($"type: application/vnd.example.sbom\nsubject: oci:{_dir.Combine("out")}:app\nitems:\n  - from: config.tmpl\n", null);
        Assert.Equal(image.Digest, bySubjectLocation.Subject);
        Assert.Equal(image.Digest, bySubjectLocation.Manifest.Manifest.Subject!.Digest);
        Assert.Equal(image.Size, bySubjectLocation.Manifest.Manifest.Subject.Size);
        Assert.Equal(MediaTypes.OciManifest, bySubjectLocation.Manifest.Manifest.Subject.MediaType);

        var indexJson = OciJson.Deserialize(File.ReadAllBytes(_dir.Combine("out", "index.json")), OciJsonContext.Default.ImageIndex, "index.json");
        var entry = Assert.Single(indexJson.Manifests, m => m.Digest == bySubjectLocation.Digest);
        Assert.Null(entry.Annotation(AnnotationKeys.RefName));
        Assert.Equal("application/vnd.example.sbom", entry.ArtifactType);
        Assert.Equal(bySubjectLocation.Manifest.Bytes, File.ReadAllBytes(BlobPath(bySubjectLocation.Digest.ToString())));
    }

    [Theory]
    [InlineData("port: 8080\n")]
    [InlineData("port: 81\n")]
    public async Task A_file_changed_between_hashing_and_pushing_is_refused_and_not_stored(string changed)
    {
        var packPath = _dir.WriteFile("src/pack.yaml", "items:\n  - from: config.tmpl\n");
        var pack = await PackFileReader.ReadAsync(packPath, null, CancellationToken.None);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, new ArtifactPackOptions(), CancellationToken.None);
        var hashed = plan.Blobs.Single(b => b.Descriptor.Annotation(AnnotationKeys.Title) == "config.tmpl").Descriptor.Digest;

        // Same length or not, a rewrite after hashing (its modification time moves) is caught.
        File.WriteAllText(_dir.Combine("src/config.tmpl"), changed);
        File.SetLastWriteTimeUtc(_dir.Combine("src/config.tmpl"), DateTime.UtcNow.AddMinutes(1));
        await using var destination = ArtifactDestinations.Open(ImageLocation.Parse("oci:" + _dir.Combine("out") + ":v1"));
        var ex = await Assert.ThrowsAsync<DigestMismatchException>(() => ArtifactPublisher.PushAsync(plan, destination, null, CancellationToken.None));
        Assert.Contains("config.tmpl", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(BlobPath(hashed.ToString())));
        Assert.Empty(Directory.GetFiles(_dir.Combine("out", "blobs", "sha256"), "*tmp*"));
    }

    private string BlobPath(string digest) => _dir.Combine("out", "blobs", "sha256", digest["sha256:".Length..]);

    private Digest ImageDigest(string layout, string tag) =>
        Digest.Compute(Skopeo.InspectRaw($"oci:{_dir.Combine(layout)}:{tag}"));

    private async Task<PublishedArtifact> PublishAsync(string yaml, string? tag, ArtifactPackOptions? options = null, string output = "out")
    {
        var packPath = _dir.WriteFile("src/pack.yaml", yaml);
        var pack = await PackFileReader.ReadAsync(packPath, null, CancellationToken.None);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, options ?? new ArtifactPackOptions(), CancellationToken.None);
        var destination = ArtifactDestinations.Open(ImageLocation.Parse("oci:" + _dir.Combine(output) + (tag is null ? string.Empty : ":" + tag)));
        await using (destination)
        {
            return await ArtifactPublisher.PushAsync(plan, destination, null, CancellationToken.None);
        }
    }
}

/// <summary>A tiny HTTP/1.1 file server on 127.0.0.1 for download tests.</summary>
internal sealed class LoopbackFileServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly IReadOnlyDictionary<string, byte[]> _files;

    public LoopbackFileServer(IReadOnlyDictionary<string, byte[]> files)
    {
        _files = files;
        for (var attempt = 0; ; attempt++)
        {
            var port = Random.Shared.Next(20000, 60000);
            try
            {
                _listener.Prefixes.Clear();
                _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
                _listener.Start();
                Url = $"http://127.0.0.1:{port}/";
                break;
            }
            catch (HttpListenerException) when (attempt < 20)
            {
            }
        }

        _ = Task.Run(ServeAsync);
    }

    public string Url { get; } = string.Empty;

    public void Dispose() => _listener.Close();

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var response = context.Response;
            if (_files.TryGetValue(context.Request.Url!.AbsolutePath, out var content))
            {
                response.ContentLength64 = content.Length;
                await response.OutputStream.WriteAsync(content);
            }
            else
            {
                response.StatusCode = 404;
            }
        }
    }
}
