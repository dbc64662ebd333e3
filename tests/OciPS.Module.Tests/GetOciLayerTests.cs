using Xunit;

namespace OciPS.Module.Tests;

public sealed class GetOciLayerTests(FixtureImages images) : IClassFixture<FixtureImages>
{
    private ModuleSession Session() => new(images.WorkingDirectory);

    [Fact]
    public void History_IncludesEmptyStepsFlagged()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest oci:./layout:1.0 | Get-OciLayer");
        result.ThrowIfFailed();
        Assert.Equal(3, result.Output.Count);
        Assert.All(result.Output, o => Assert.Equal("OciPS.Core.Model.OciLayer", o.BaseObject.GetType().FullName));
        Assert.True((bool)result.Output[1].Properties["EmptyLayer"].Value);
        Assert.Equal("ENV GREETING=hello", result.Output[1].Properties["CreatedBy"].Value);
        Assert.Equal(1, (int)result.Output[2].Properties["Index"].Value);
    }

    [Fact]
    public void ExcludeEmpty_LeavesOnlyLayers()
    {
        using var session = Session();
        var result = session.Run("Get-OciLayer oci:./layout:1.0 -ExcludeEmpty");
        result.ThrowIfFailed();
        Assert.Equal(2, result.Output.Count);
    }

    [Fact]
    public void Index_ResolvesToThePlatformAsked()
    {
        using var session = Session();
        var result = session.Run("Get-OciManifest oci:./layout:multi | Get-OciLayer -Platform linux/arm64 | ForEach-Object { $_.Image.Digest.ToString() }");
        result.ThrowIfFailed();
        Assert.Equal(images.Arm64Digest.ToString(), Assert.Single(result.Output).ToString());
    }

    [Fact]
    public void Layers_RenderAsATable()
    {
        using var session = Session();
        var text = session.Render("Get-OciLayer oci:./layout:1.0");
        Assert.Contains("CreatedBy", text, StringComparison.Ordinal);
        Assert.Contains("ENV GREETING=hello", text, StringComparison.Ordinal);
        Assert.Contains("True", text, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingImage_IsAnError()
    {
        using var session = Session();
        var result = session.Run("Get-OciLayer oci:./layout:2.0");
        Assert.Equal("ManifestNotFound,OciPS.Commands.GetOciLayerCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
    }
}
