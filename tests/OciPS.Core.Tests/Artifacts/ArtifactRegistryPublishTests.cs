using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Tests.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Artifacts;

/// <summary>One pack file with every kind of source, pushed to a real docker-registry and read back with skopeo.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class ArtifactRegistryPublishTests : IDisposable
{
    private readonly TempDirectory _dir = new("artifact-push");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Every_source_kind_reaches_the_registry_as_skopeo_shows_it()
    {
        using var registry = LocalRegistry.Start();
        using var s3 = S3Server.Start();
        var download = Encoding.UTF8.GetBytes(new string('d', 150_000));
        using var http = new LoopbackFileServer(new Dictionary<string, byte[]> { ["/tool.bin"] = download });
        var s3Object = RandomNumberGenerator.GetBytes(90_000);
        await s3.PutObjectAsync("blobs/blob.bin", s3Object);
        _dir.WriteFile("src/config.tmpl", "port: 80\n");
        _dir.WriteFile("src/schema.json", "{\"type\":\"object\"}");
        _dir.WriteFile("src/data/a.txt", "alpha\n");
        var options = RegistryFixture.Options(_dir.Combine("cache"), registry);
        await RegistryFixture.WriteImageAsync(_dir.Combine("src/images"), "amd64");
        Skopeo.Copy($"oci:{_dir.Combine("src/images")}:amd64", $"docker://{registry.Host}/base/app:1", registry.SkopeoOptions(destination: true));
        var arm = await RegistryFixture.WriteImageAsync(_dir.Combine("src/images"), "arm64", platform: "linux/arm64", marker: "arm");

        var pin = Convert.ToHexStringLower(SHA256.HashData(download));
        var packPath = _dir.WriteFile("src/pack.yaml", $"""
            type: application/vnd.example.everything
            annotations:
              org.opencontainers.image.vendor: Example
            config:
              from: file://schema.json
              type: application/vnd.example.schema
            items:
              - from: file://config.tmpl
                type: application/vnd.example.template
                annotations:
                  description: template
              - from: dir://data
              - from: {http.Url}tool.bin#sha256={pin}
              - from: s3://artifacts/blobs/blob.bin
              - from: docker://{registry.Host}/base/app:1
              - from: oci:images:arm64
            """);
        string? Environment(string name) => s3.Environment.GetValueOrDefault(name);
        var pack = await PackFileReader.ReadAsync(packPath, new PackFileReadOptions { Environment = Environment }, CancellationToken.None);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, new ArtifactPackOptions { SourceOptions = options, Environment = Environment }, CancellationToken.None);
        var reference = $"{registry.Host}/shop/everything:1";
        PublishedArtifact published;
        await using (var destination = ArtifactDestinations.Open(ImageLocation.Parse(reference), new ImageDestinationOptions { Registry = options.Registry }))
        {
            published = await ArtifactPublisher.PushAsync(plan, destination, null, CancellationToken.None);
        }

        // The index: artifactType, annotations, the artifact manifest and the two images.
        var raw = Skopeo.InspectRawWith("docker://" + reference, registry.SkopeoInspectOptions());
        Assert.Equal(published.Digest, Digest.Compute(raw));
        using var index = JsonDocument.Parse(raw);
        Assert.Equal(MediaTypes.OciIndex, index.RootElement.GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.example.everything", index.RootElement.GetProperty("artifactType").GetString());
        Assert.Equal("Example", index.RootElement.GetProperty("annotations").GetProperty("org.opencontainers.image.vendor").GetString());
        var entries = index.RootElement.GetProperty("manifests").EnumerateArray().ToList();
        Assert.Equal(3, entries.Count);
        Assert.Equal(arm.Digest.ToString(), entries[2].GetProperty("digest").GetString());
        Assert.Equal("arm64", entries[2].GetProperty("platform").GetProperty("architecture").GetString());
        Assert.Equal("amd64", entries[1].GetProperty("platform").GetProperty("architecture").GetString());

        // The artifact manifest: config and one layer per item, with their media types and titles.
        using var manifest = JsonDocument.Parse(Skopeo.InspectRawWith($"docker://{registry.Host}/shop/everything@{entries[0].GetProperty("digest").GetString()}", registry.SkopeoInspectOptions()));
        var root = manifest.RootElement;
        Assert.Equal("application/vnd.example.everything", root.GetProperty("artifactType").GetString());
        Assert.Equal("application/vnd.example.schema", root.GetProperty("config").GetProperty("mediaType").GetString());
        var layers = root.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(["config.tmpl", "data", "tool.bin", "blob.bin"], layers.Select(l => l.GetProperty("annotations").GetProperty(AnnotationKeys.Title).GetString()));
        Assert.Equal(["application/vnd.example.template", MediaTypes.OciLayerGzip, MediaTypes.OciLayer, MediaTypes.OciLayer], layers.Select(l => l.GetProperty("mediaType").GetString()));
        Assert.Equal("template", layers[0].GetProperty("annotations").GetProperty("description").GetString());
        Assert.Equal("sha256:" + pin, layers[2].GetProperty("digest").GetString());
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(s3Object)), layers[3].GetProperty("digest").GetString());

        // The registry image's blobs were mounted from base/app, not uploaded again; the copy is whole.
        Assert.True(published.BlobsMounted >= 3, $"mounted {published.BlobsMounted}");
        Skopeo.Copy($"docker://{reference}", $"oci:{_dir.Combine("copy")}:all", [.. registry.SkopeoOptions(), "--all", "--preserve-digests"]);
        var copied = ImageSources.Open($"oci:{_dir.Combine("copy")}:all");
        Assert.Equal(published.Digest, (await copied.ResolveAsync(CancellationToken.None)).Content.Digest);

        // Pulled back: the files by title, bit-identical.
        var saved = await ArtifactPuller.SaveAsync(
            ImageSources.Open($"docker://{registry.Host}/shop/everything@{entries[0].GetProperty("digest").GetString()}", options: options),
            _dir.Combine("pulled"),
            new ArtifactSaveOptions(),
            CancellationToken.None);
        Assert.Equal(4, saved.Count);
        Assert.Equal(download, File.ReadAllBytes(_dir.Combine("pulled/tool.bin")));
        Assert.Equal(s3Object, File.ReadAllBytes(_dir.Combine("pulled/blob.bin")));
        Assert.Equal("alpha\n", File.ReadAllText(_dir.Combine("pulled/data/a.txt")));
    }
}
