using OciPS.Core.References;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.References;

public sealed class ImageLocationTests
{
    [Fact]
    public void RegistryLocations_ParseWithAndWithoutDockerScheme()
    {
        var plain = ImageLocation.Parse("nginx:1.27");
        var scheme = ImageLocation.Parse("docker://localhost:5000/app:1");
        Assert.Equal(LocationTransport.Registry, plain.Transport);
        Assert.Equal("docker.io/library/nginx:1.27", plain.Reference!.ToString());
        Assert.Equal("localhost:5000/app:1", scheme.Reference!.ToString());
    }

    [Fact]
    public void OciLocations_SplitPathAndTagAtTheFirstColon()
    {
        var location = ImageLocation.Parse("oci:/tmp/layout:1.0", p => p);
        Assert.Equal(LocationTransport.OciLayout, location.Transport);
        Assert.Equal("/tmp/layout", location.Path);
        Assert.Equal("1.0", location.Tag);
        Assert.Equal("oci:/tmp/layout:1.0", location.ToString());
    }

    [Fact]
    public void OciLocations_AcceptDigestAndIndexSelectors()
    {
        var digest = "sha256:" + new string('c', 64);
        Assert.Equal(digest, ImageLocation.Parse("oci:/l:@" + digest, p => p).Digest!.ToString());
        Assert.Equal(2, ImageLocation.Parse("oci-archive:/x.tar:@2", p => p).Index);
    }

    [Fact]
    public void RelativePaths_AreResolvedByTheCaller()
    {
        var location = ImageLocation.Parse("oci:layout:tag", p => "/base/" + p);
        Assert.Equal("/base/layout", location.Path);
    }

    [Fact]
    public void DockerArchiveLocations_TakeANameAndTagOrAnIndex()
    {
        var named = ImageLocation.Parse("docker-archive:/x.tar:myapp:2.1", p => p);
        Assert.Equal("docker.io/library/myapp:2.1", named.Reference!.ToString());
        Assert.Equal(1, ImageLocation.Parse("docker-archive:/x.tar:@1", p => p).Index);
    }

    [Theory]
    [InlineData("oci:", "path")]
    [InlineData("oci:/x:bad tag", "tag")]
    [InlineData("docker:nginx", "docker://")]
    [InlineData("docker-archive:/x.tar:@x", "index")]
    public void InvalidLocations_AreErrorsThatSayWhy(string text, string fragment)
    {
        var error = Assert.Throws<InvalidLocationException>(() => ImageLocation.Parse(text, p => p));
        Assert.Contains(fragment, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("LocationInvalid", error.ErrorId);
    }

    [Fact]
    public void BarePaths_AreDetectedFromWhatIsOnDisk()
    {
        using var temp = new TempDirectory("location");
        temp.WriteFile("layout/index.json", "{}");
        temp.WriteFile("layout/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
        var location = ImageLocation.Parse(temp.Combine("layout"));
        Assert.Equal(LocationTransport.OciLayout, location.Transport);
    }

    [Fact]
    public void MissingBarePaths_AreNotFoundErrors()
    {
        var error = Assert.Throws<LocationNotFoundException>(() => ImageLocation.Parse("./no/such/layout"));
        Assert.Equal("LocationNotFound", error.ErrorId);
        Assert.Throws<LocationNotFoundException>(() => ImageLocation.Parse("missing-image.tar"));
    }

    [Fact]
    public void ExistingDirectoriesThatHoldNoImage_AreExplained()
    {
        using var temp = new TempDirectory("location");
        var error = Assert.Throws<InvalidLocationException>(() => ImageLocation.Parse(temp.Path));
        Assert.Contains("neither an OCI layout", error.Message, StringComparison.Ordinal);
    }
}
