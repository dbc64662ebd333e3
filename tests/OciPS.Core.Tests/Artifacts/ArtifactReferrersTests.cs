using System.Text.Json;
using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Tests.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Artifacts;

/// <summary>
/// Artifacts with a <c>subject</c> pushed to docker-registry 2.8, which has no referrers API: the
/// referrers tag schema index is what lists them, and what Get-OciManifest -Referrers reads.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class ArtifactReferrersTests : IDisposable
{
    private readonly TempDirectory _dir = new("referrers");

    public ArtifactReferrersTests()
    {
        _dir.WriteFile("src/sbom.json", "{\"packages\":[]}");
        _dir.WriteFile("src/sig.txt", "signed\n");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Two_artifacts_attached_to_an_image_are_both_in_the_fallback_index_and_republishing_adds_nothing()
    {
        using var registry = LocalRegistry.Start();
        var options = RegistryFixture.Options(_dir.Combine("cache"), registry);
        var image = await RegistryFixture.WriteImageAsync(_dir.Combine("image"), "app");
        Skopeo.Copy($"oci:{_dir.Combine("image")}:app", $"docker://{registry.Host}/shop/app:1", registry.SkopeoOptions(destination: true));
        var subject = $"{registry.Host}/shop/app:1";

        var sbom = await PublishAsync($"type: application/spdx+json\nsubject: {subject}\nannotations:\n  kind: sbom\nitems:\n  - from: sbom.json\n", $"{registry.Host}/shop/app", options);
        var sig = await PublishAsync($"type: application/vnd.example.signature\nsubject: {subject}\nitems:\n  - from: sig.txt\n", $"{registry.Host}/shop/app", options);

        var tag = "sha256-" + image.Digest.Encoded;
        Assert.Equal(tag, sbom.ReferrersTag);
        Assert.Equal(tag, sig.ReferrersTag);
        Assert.Equal(image.Digest, sbom.Subject);

        var fallback = FallbackEntries(registry, tag);
        Assert.Equal([sbom.Digest.ToString(), sig.Digest.ToString()], fallback.Select(e => e.GetProperty("digest").GetString()));
        Assert.Equal(["application/spdx+json", "application/vnd.example.signature"], fallback.Select(e => e.GetProperty("artifactType").GetString()));
        Assert.Equal("sbom", fallback[0].GetProperty("annotations").GetProperty("kind").GetString());
        Assert.Equal(MediaTypes.OciManifest, fallback[1].GetProperty("mediaType").GetString());
        Assert.Equal(sig.Size, fallback[1].GetProperty("size").GetInt64());

        // The artifact itself is stored untagged, by digest, with its subject.
        using (var pushed = JsonDocument.Parse(Skopeo.InspectRawWith($"docker://{registry.Host}/shop/app@{sbom.Digest}", registry.SkopeoInspectOptions())))
        {
            Assert.Equal(image.Digest.ToString(), pushed.RootElement.GetProperty("subject").GetProperty("digest").GetString());
        }

        var again = await PublishAsync($"type: application/spdx+json\nsubject: {subject}\nannotations:\n  kind: sbom\nitems:\n  - from: sbom.json\n", $"{registry.Host}/shop/app", options);
        Assert.Equal(sbom.Digest, again.Digest);
        Assert.Equal(2, FallbackEntries(registry, tag).Count);

        var listed = await ArtifactReferrers.ListAsync(ImageLocation.Parse(subject), options, null, CancellationToken.None);
        Assert.Equal([sbom.Digest, sig.Digest], listed.Select(r => r.Digest));
        Assert.All(listed, r => Assert.Equal("tag", r.Source));
        Assert.All(listed, r => Assert.Equal(image.Digest, r.Subject));
        var signatures = await ArtifactReferrers.ListAsync(ImageLocation.Parse(subject), options, "application/vnd.example.signature", CancellationToken.None);
        Assert.Equal(sig.Digest, Assert.Single(signatures).Digest);
    }

    [Fact]
    public async Task An_image_without_referrers_has_none_and_a_tag_that_is_not_an_index_is_refused()
    {
        using var registry = LocalRegistry.Start();
        var options = RegistryFixture.Options(_dir.Combine("cache"), registry);
        var image = await RegistryFixture.WriteImageAsync(_dir.Combine("image"), "app");
        Skopeo.Copy($"oci:{_dir.Combine("image")}:app", $"docker://{registry.Host}/shop/app:1", registry.SkopeoOptions(destination: true));
        Assert.Empty(await ArtifactReferrers.ListAsync(ImageLocation.Parse($"{registry.Host}/shop/app:1"), options, null, CancellationToken.None));

        // Something else already holds the fallback tag: it is not overwritten.
        Skopeo.Copy($"oci:{_dir.Combine("image")}:app", $"docker://{registry.Host}/shop/app:sha256-{image.Digest.Encoded}", registry.SkopeoOptions(destination: true));
        var ex = await Assert.ThrowsAsync<CorruptContentException>(() => PublishAsync($"subject: {registry.Host}/shop/app:1\nitems:\n  - from: sig.txt\n", $"{registry.Host}/shop/app", options));
        Assert.Equal("ReferrersIndexInvalid", ex.ErrorId);
        Assert.Equal(image.Digest, Digest.Compute(Skopeo.InspectRawWith($"docker://{registry.Host}/shop/app:sha256-{image.Digest.Encoded}", registry.SkopeoInspectOptions())));
    }

    [Fact]
    public async Task In_a_layout_referrers_are_the_manifests_whose_subject_is_the_image()
    {
        var layout = _dir.Combine("layout");
        var image = await RegistryFixture.WriteImageAsync(layout, "app");
        var sbom = await PublishAsync($"type: application/spdx+json\nsubject: oci:{layout}:app\nitems:\n  - from: sbom.json\n", "oci:" + layout, null);
        await PublishAsync("type: application/vnd.example.unrelated\nitems:\n  - from: sig.txt\n", "oci:" + layout + ":other", null);

        var listed = await ArtifactReferrers.ListAsync(ImageLocation.Parse($"oci:{layout}:app"), null, null, CancellationToken.None);
        var referrer = Assert.Single(listed);
        Assert.Equal(sbom.Digest, referrer.Digest);
        Assert.Equal("application/spdx+json", referrer.ArtifactType);
        Assert.Equal("layout", referrer.Source);
        Assert.Equal(image.Digest, referrer.Subject);
        Assert.Null(sbom.ReferrersTag);
    }

    private static List<JsonElement> FallbackEntries(LocalRegistry registry, string tag)
    {
        using var index = JsonDocument.Parse(Skopeo.InspectRawWith($"docker://{registry.Host}/shop/app:{tag}", registry.SkopeoInspectOptions()));
        Assert.Equal(MediaTypes.OciIndex, index.RootElement.GetProperty("mediaType").GetString());
        return index.RootElement.GetProperty("manifests").EnumerateArray().Select(e => e.Clone()).ToList();
    }

    private async Task<PublishedArtifact> PublishAsync(string yaml, string destination, ImageSourceOptions? options)
    {
        var packPath = _dir.WriteFile("src/pack.yaml", yaml);
        var pack = await PackFileReader.ReadAsync(packPath, null, CancellationToken.None);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, new ArtifactPackOptions { SourceOptions = options }, CancellationToken.None);
        var target = ArtifactDestinations.Open(ImageLocation.Parse(destination), new ImageDestinationOptions { Registry = options?.Registry ?? Core.Registry.RegistryOptions.Default });
        await using (target)
        {
            return await ArtifactPublisher.PushAsync(plan, target, null, CancellationToken.None);
        }
    }
}
