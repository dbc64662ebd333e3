using OciPS.Core.References;
using Xunit;

namespace OciPS.Core.Tests.References;

public sealed class ImageReferenceTests
{
    [Theory]
    [InlineData("nginx", "docker.io/library/nginx:latest")]
    [InlineData("nginx:1.27", "docker.io/library/nginx:1.27")]
    [InlineData("library/nginx", "docker.io/library/nginx:latest")]
    [InlineData("user/app:v1", "docker.io/user/app:v1")]
    [InlineData("docker.io/nginx", "docker.io/library/nginx:latest")]
    [InlineData("index.docker.io/library/nginx:1", "docker.io/library/nginx:1")]
    [InlineData("ghcr.io/owner/repo:tag", "ghcr.io/owner/repo:tag")]
    [InlineData("localhost/app", "localhost/app:latest")]
    [InlineData("localhost:5000/a/b/c:1.0", "localhost:5000/a/b/c:1.0")]
    [InlineData("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest")]
    [InlineData("[::1]:5000/app:x", "[::1]:5000/app:x")]
    public void Parse_NormalisesAsDockerDoes(string text, string expected)
    {
        Assert.Equal(expected, ImageReference.Parse(text).ToString());
    }

    [Fact]
    public void Parse_KeepsTagAndDigestAndAsksForTheDigest()
    {
        var digest = "sha256:" + new string('a', 64);
        var reference = ImageReference.Parse("alpine:3.20@" + digest);
        Assert.Equal("3.20", reference.Tag);
        Assert.Equal(digest, reference.Digest!.ToString());
        Assert.Equal(digest, reference.Identifier);
        Assert.Equal("docker.io/library/alpine:3.20@" + digest, reference.ToString());
    }

    [Fact]
    public void Parse_DigestOnlyHasNoDefaultTag()
    {
        var reference = ImageReference.Parse("alpine@sha256:" + new string('b', 64));
        Assert.Null(reference.Tag);
    }

    [Theory]
    [InlineData("Nginx", "lower-case")]
    [InlineData("nginx:-bad", "tag")]
    [InlineData("nginx@sha256:abc", "digest")]
    [InlineData("a//b", "repository")]
    [InlineData("", "empty")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image id")]
    public void Parse_RejectsInvalidReferencesWithAReason(string text, string reasonFragment)
    {
        Assert.False(ImageReference.TryParse(text, out _, out var reason));
        Assert.Contains(reasonFragment, reason, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void ApiHost_OfDockerHubIsRegistry1()
    {
        Assert.Equal("registry-1.docker.io", ImageReference.Parse("nginx").ApiHost);
        Assert.Equal("ghcr.io", ImageReference.Parse("ghcr.io/a/b").ApiHost);
    }

    [Theory]
    [InlineData("localhost:5000/a", true)]
    [InlineData("127.0.0.1:5000/a", true)]
    [InlineData("[::1]:5000/a", true)]
    [InlineData("ghcr.io/a", false)]
    [InlineData("nginx", false)]
    public void IsLoopback_RecognisesLocalRegistries(string text, bool expected)
    {
        Assert.Equal(expected, ImageReference.Parse(text).IsLoopback);
    }

    [Fact]
    public void FamiliarName_IsTheShortDockerForm()
    {
        Assert.Equal("nginx:latest", ImageReference.Parse("docker.io/library/nginx").FamiliarName);
        Assert.Equal("user/app:v1", ImageReference.Parse("user/app:v1").FamiliarName);
        Assert.Equal("ghcr.io/o/r:1", ImageReference.Parse("ghcr.io/o/r:1").FamiliarName);
    }
}
