using System.Security.Cryptography;
using System.Text.Json;
using OciPS.Core.Artifacts;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Artifacts;

/// <summary>s3:// sources read from a real S3-compatible server (s3rver) on loopback through the S3 HTTP API.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class ArtifactS3Tests : IDisposable
{
    private readonly TempDirectory _dir = new("s3");
    private readonly S3Server _s3 = S3Server.Start();

    public void Dispose()
    {
        _s3.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task S3_objects_become_layers_and_config_bit_identical()
    {
        var tool = RandomNumberGenerator.GetBytes(700_000);
        var schema = "{\"type\":\"object\"}"u8.ToArray();
        await _s3.PutObjectAsync("tools/linux amd64/tool.bin", tool);
        await _s3.PutObjectAsync("schemas/schema.json", schema);

        var result = await PublishAsync("""
            type: application/vnd.example.s3
            config:
              from: s3://artifacts/schemas/schema.json
              type: application/vnd.example.schema
            items:
              - from: s3://artifacts/tools/linux amd64/tool.bin
                type: application/vnd.example.tool
            """, _s3.Environment);

        var layer = Assert.Single(result.Layers);
        Assert.Equal("tool.bin", layer.Annotation(AnnotationKeys.Title));
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(tool)), layer.Digest.ToString());
        Assert.Equal(tool, File.ReadAllBytes(BlobPath(layer.Digest)));
        using var manifest = JsonDocument.Parse(Skopeo.InspectRaw($"oci:{_dir.Combine("out")}:v1"));
        var config = manifest.RootElement.GetProperty("config");
        Assert.Equal("application/vnd.example.schema", config.GetProperty("mediaType").GetString());
        Assert.Equal(schema, File.ReadAllBytes(BlobPath(Digest.Parse(config.GetProperty("digest").GetString()!))));
    }

    [Fact]
    public async Task A_missing_object_and_an_unknown_access_key_are_errors_naming_the_item_and_what_s3_said()
    {
        var missing = await Assert.ThrowsAsync<OciException>(() => PublishAsync("items:\n  - from: s3://artifacts/nope.bin\n", _s3.Environment));
        Assert.Equal("ArtifactDownloadFailed", missing.ErrorId);
        Assert.Equal(OciErrorKind.NotFound, missing.Kind);
        Assert.Contains("NoSuchKey", missing.Message, StringComparison.Ordinal);
        Assert.Contains("line 2", missing.Message, StringComparison.Ordinal);

        await _s3.PutObjectAsync("tool.bin", [1, 2, 3]);
        var stranger = new Dictionary<string, string>(_s3.Environment) { ["AWS_ACCESS_KEY_ID"] = "AKIDSTRANGER" };
        var refused = await Assert.ThrowsAsync<OciException>(() => PublishAsync("items:\n  - from: s3://artifacts/tool.bin\n", stranger));
        Assert.Contains("InvalidAccessKeyId", refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Combine("out")), "nothing is written when an item cannot be read");
    }

    [Fact]
    public async Task Without_credentials_the_pack_file_is_refused_before_anything_is_read_or_written()
    {
        var ex = await Assert.ThrowsAsync<PackFileException>(() => PublishAsync("items:\n  - from: s3://artifacts/tool.bin\n", new Dictionary<string, string>()));
        var error = Assert.Single(ex.Errors);
        Assert.Equal("S3CredentialsMissing", error.Code);
        Assert.Equal(new PackPosition(2, 11), error.Position);
        Assert.Contains("pack.yaml:2:11: s3:// sources need AWS credentials", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Combine("out")));
    }

    private string BlobPath(Digest digest) => _dir.Combine("out", "blobs", "sha256", digest.Encoded);

    private async Task<PublishedArtifact> PublishAsync(string yaml, IReadOnlyDictionary<string, string> environment)
    {
        string? Lookup(string name) => environment.GetValueOrDefault(name);
        var packPath = _dir.WriteFile("src/pack.yaml", yaml);
        var pack = await PackFileReader.ReadAsync(packPath, new PackFileReadOptions { Environment = Lookup }, CancellationToken.None);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, new ArtifactPackOptions { Environment = Lookup }, CancellationToken.None);
        await using var destination = ArtifactDestinations.Open(ImageLocation.Parse("oci:" + _dir.Combine("out") + ":v1"));
        return await ArtifactPublisher.PushAsync(plan, destination, null, CancellationToken.None);
    }
}
