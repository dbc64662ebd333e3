using Xunit;

namespace OciPS.Module.Tests;

public sealed class GetOciFileTests(FixtureImages images) : IClassFixture<FixtureImages>
{
    private ModuleSession Session() => new(images.WorkingDirectory);

    [Fact]
    public void TheFoundationPipeline_ReturnsTypedWhiteoutsThatRenderAsATable()
    {
        using var session = Session();
        const string Pipeline = "Get-OciManifest oci:./layout:1.0 | Get-OciLayer | Get-OciFile | Where-Object Type -eq Whiteout";
        var result = session.Run(Pipeline);
        result.ThrowIfFailed();
        var whiteout = Assert.Single(result.Output);
        Assert.Equal("OciPS.Core.Model.OciFileEntry", whiteout.BaseObject.GetType().FullName);
        Assert.Equal("etc/old", whiteout.Properties["Path"].Value);
        Assert.Equal("etc/.wh.old", whiteout.Properties["RawName"].Value);
        Assert.Equal(1, whiteout.Properties["LayerIndex"].Value);

        var text = session.Render(Pipeline);
        Assert.Contains("Mode", text, StringComparison.Ordinal);
        Assert.Contains("Path", text, StringComparison.Ordinal);
        Assert.Contains("Whiteout", text, StringComparison.Ordinal);
        Assert.Contains("etc/old", text, StringComparison.Ordinal);
        Assert.Contains("bin/alias -> tool", session.Render("Get-OciFile oci:./layout:1.0 -Layer 0"), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryEntryOfEveryLayer_InLayerOrder()
    {
        using var session = Session();
        var result = session.Run("Get-OciFile oci:./layout:1.0 | ForEach-Object { '{0} {1} {2} {3}' -f $_.LayerIndex, $_.Type, $_.Path, $_.Permissions }");
        result.ThrowIfFailed();
        Assert.Equal(
            [
                "0 Directory etc drwxr-xr-x",
                "0 File etc/hello -rw-r--r--",
                "0 File etc/old -rw-r--r--",
                "0 Directory bin drwxr-xr-x",
                "0 File bin/tool -rwxr-xr-x",
                "0 Symlink bin/alias lrwxrwxrwx",
                "1 Whiteout etc/old -rw-r--r--",
                "1 File etc/new -rw-r--r--",
            ],
            result.Output.Select(o => o.ToString()));
    }

    [Fact]
    public void LayerAndPath_Filter()
    {
        using var session = Session();
        var result = session.Run("Get-OciFile oci:./layout:1.0 -Layer 0 -Path 'etc/*' | ForEach-Object Path");
        result.ThrowIfFailed();
        Assert.Equal(["etc/hello", "etc/old"], result.Output.Select(o => o.ToString()));
    }

    [Fact]
    public void MissingLayer_IsAnErrorNamingTheRange()
    {
        using var session = Session();
        var result = session.Run("Get-OciFile oci:./layout:1.0 -Layer 5");
        var error = Assert.Single(result.Errors);
        Assert.Equal("LayerNotFound,OciPS.Commands.GetOciFileCommand", error.FullyQualifiedErrorId);
        Assert.Contains("0 to 1", error.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ZstdLayersOfAnotherPlatform_AndDockerArchives_AreRead()
    {
        using var session = Session();
        var arm = session.Run("Get-OciFile oci:./layout:multi -Platform linux/arm64 | ForEach-Object Path");
        arm.ThrowIfFailed();
        Assert.Equal(["arch"], arm.Output.Select(o => o.ToString()));

        var archive = session.Run("(Get-OciFile docker-archive:./saved.tar | Where-Object Type -eq Whiteout).Path");
        archive.ThrowIfFailed();
        Assert.Equal("etc/old", Assert.Single(archive.Output).ToString());
    }

    [Fact]
    public void CorruptLayer_IsAnErrorForThatLayer()
    {
        using var copy = new OciPS.TestSupport.TempDirectory("corrupt-layer");
        OciPS.TestSupport.TempDirectory.CopyTree(images.Layout, copy.Combine("layout"));
        using var session = new ModuleSession(copy.Path);
        var layer = session.Run("(Get-OciLayer oci:./layout:1.0 -ExcludeEmpty)[1].Digest.Encoded");
        layer.ThrowIfFailed();
        var path = Path.Combine(copy.Path, "layout", "blobs", "sha256", layer.Output[0].ToString());
        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 0xff;
        File.WriteAllBytes(path, bytes);

        var result = session.Run("Get-OciFile oci:./layout:1.0");
        Assert.Contains(result.Output, o => o.Properties["Path"].Value.ToString() == "etc/hello");
        var error = Assert.Single(result.Errors);
        Assert.Contains(error.FullyQualifiedErrorId.Split(',')[0], new[] { "DigestMismatch", "LayerCorrupt" });
        Assert.Equal("OciPS.Core.Model.OciLayer", error.TargetObject.GetType().FullName);
    }
}
