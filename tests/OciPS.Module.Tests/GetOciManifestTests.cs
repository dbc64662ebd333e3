using System.Management.Automation;
using System.Text;
using OciPS.Core.Model;
using Xunit;

namespace OciPS.Module.Tests;

public sealed class GetOciManifestTests(FixtureImages images) : IClassFixture<FixtureImages>
{
    private ModuleSession Session() => new(images.WorkingDirectory);

    [Fact]
    public void LayoutTag_IsAnOciImageWithLayersAndConfig()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest oci:./layout:1.0");
        result.ThrowIfFailed();
        var image = Assert.Single(result.Output);
        Assert.Equal("OciPS.Core.Model.OciImage", image.BaseObject.GetType().FullName);
        Assert.Equal(images.ImageDigest.ToString(), image.Properties["Digest"].Value.ToString());
        Assert.Equal(2, (int)image.Properties["LayerCount"].Value);
        Assert.Equal("linux/amd64", image.Properties["Platform"].Value.ToString());
    }

    [Fact]
    public void PipelineStrings_ResolveEachLocationKind()
    {
        using var session = Session();
        var result = session.Run("'oci:./layout:1.0', 'oci:./layout:multi', 'oci-archive:./image.tar:1.0', 'docker-archive:./saved.tar', './saved.tar' | Get-OciManifest -ErrorAction Stop | ForEach-Object { $_.GetType().Name + ' ' + $_.Digest }");
        result.ThrowIfFailed();
        var lines = result.Output.Select(o => o.ToString()).ToArray();
        Assert.Equal($"OciImage {images.ImageDigest}", lines[0]);
        Assert.Equal($"OciIndex {images.IndexDigest}", lines[1]);
        Assert.Equal($"OciImage {images.ImageDigest}", lines[2]);
        Assert.StartsWith("OciImage sha256:", lines[3], StringComparison.Ordinal);
        Assert.NotEqual($"OciImage {images.ImageDigest}", lines[3]);
        Assert.Equal(lines[3], lines[4]);
    }

    [Fact]
    public void Platform_PicksFromTheIndex()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest oci:./layout:multi -Platform linux/arm64/v8");
        result.ThrowIfFailed();
        Assert.Equal(images.Arm64Digest.ToString(), Assert.Single(result.Output).Properties["Digest"].Value.ToString());
    }

    [Fact]
    public void Raw_IsTheStoredJsonWhoseDigestIsTheManifestDigest()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest oci:./layout:1.0 -Raw");
        result.ThrowIfFailed();
        var json = Assert.IsType<string>(Assert.Single(result.Output).BaseObject);
        Assert.Equal(images.ImageDigest, Digest.Compute(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void OneBadLocation_IsAnErrorAndTheOthersStillComeOut()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest 'oci:./layout:nope', 'oci:./layout:1.0', 'oci:./missing:1'");
        Assert.Single(result.Output);
        Assert.Equal(2, result.Errors.Count);
        Assert.Equal("ManifestNotFound,OciPS.Commands.GetOciManifestCommand", result.Errors[0].FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, result.Errors[0].CategoryInfo.Category);
        Assert.Contains("1.0", result.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Contains("multi", result.Errors[0].Exception.Message, StringComparison.Ordinal);
        Assert.Equal("LocationNotFound,OciPS.Commands.GetOciManifestCommand", result.Errors[1].FullyQualifiedErrorId);
        Assert.Equal("oci:./missing:1", result.Errors[1].TargetObject);
    }

    [Fact]
    public void UnknownPlatform_ListsThePlatformsThereAre()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest oci:./layout:multi -Platform linux/s390x");
        var error = Assert.Single(result.Errors);
        Assert.Equal("PlatformNotFound,OciPS.Commands.GetOciManifestCommand", error.FullyQualifiedErrorId);
        Assert.Contains("linux/amd64, linux/arm64", error.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedPlatform_IsATerminatingArgumentError()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest oci:./layout:1.0 -Platform 'linux//x'");
        Assert.Empty(result.Output);
        Assert.Equal("PlatformInvalid,OciPS.Commands.GetOciManifestCommand", result.FirstError!.FullyQualifiedErrorId);
    }

    [Fact]
    public void CorruptBlob_IsADigestMismatchError()
    {
        using var copy = new OciPS.TestSupport.TempDirectory("corrupt");
        OciPS.TestSupport.TempDirectory.CopyTree(images.Layout, copy.Combine("layout"));
        var config = Directory.GetFiles(copy.Combine("layout", "blobs", "sha256"))
            .Single(f => File.ReadAllText(f).Contains("\"history\"", StringComparison.Ordinal) && File.ReadAllText(f).Contains("GREETING", StringComparison.Ordinal));
        File.AppendAllText(config, " ");

        using var session = new ModuleSession(copy.Path);
        var result = session.Run("Get-OciManifest oci:./layout:1.0");
        var error = Assert.Single(result.Errors);
        Assert.Equal("DigestMismatch,OciPS.Commands.GetOciManifestCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
    }

    [Fact]
    public void ArchiveWithSeveralImages_AndNoTag_NamesTheChoices()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest ./image.tar");
        var error = Assert.Single(result.Errors);
        Assert.Equal("ManifestNotFound,OciPS.Commands.GetOciManifestCommand", error.FullyQualifiedErrorId);
        Assert.Contains("holds 2 images; name one: 1.0, multi", error.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Images_RenderAsTablesWithShortDigests()
    {
        using var session = Session();
        var text = session.Render("Get-OciManifest oci:./layout:1.0, oci:./layout:multi");
        Assert.Contains("Reference", text, StringComparison.Ordinal);
        Assert.Contains("Platform", text, StringComparison.Ordinal);
        Assert.Contains("sha256:" + images.ImageDigest.Short, text, StringComparison.Ordinal);
        Assert.DoesNotContain(images.ImageDigest.Encoded, text, StringComparison.Ordinal);
        Assert.Contains("linux/amd64, linux/arm64", text, StringComparison.Ordinal);
    }
}
