using System.Text;
using OciPS.Core.Model;
using Xunit;

namespace OciPS.Core.Tests.Model;

public sealed class DigestTests
{
    [Fact]
    public void Compute_MatchesTheWellKnownSha256OfEmptyContent()
    {
        Assert.Equal("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Digest.Compute([]).ToString());
    }

    [Fact]
    public void Compute_Sha512_HasTheRightLengthAndRoundTrips()
    {
        var digest = Digest.Compute(Encoding.UTF8.GetBytes("abc"), Digest.Sha512);
        Assert.Equal(128, digest.Encoded.Length);
        Assert.Equal(digest, Digest.Parse(digest.ToString()));
    }

    [Theory]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "lower-case")]
    [InlineData("sha256:e3b0", "64")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "algorithm")]
    [InlineData("SHA256:abc", "algorithm name")]
    [InlineData("sha256:", "algorithm")]
    [InlineData("", "empty")]
    public void Parse_RejectsMalformedDigestsWithAReason(string text, string reasonFragment)
    {
        Assert.False(Digest.TryParse(text, out _, out var reason));
        Assert.Contains(reasonFragment, reason, StringComparison.OrdinalIgnoreCase);
        Assert.Throws<FormatException>(() => Digest.Parse(text));
    }

    [Fact]
    public void Parse_AcceptsUnregisteredAlgorithmsButTheyCannotBeVerified()
    {
        var digest = Digest.Parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8");
        Assert.False(digest.IsVerifiable);
        Assert.Equal("multihash+base58", digest.Algorithm);
    }

    [Fact]
    public async Task ComputeAsync_EqualsComputeOverTheSameBytes()
    {
        var bytes = new byte[300_000];
        new Random(7).NextBytes(bytes);
        Assert.Equal(Digest.Compute(bytes), await Digest.ComputeAsync(new MemoryStream(bytes)));
    }

    [Fact]
    public void Short_IsTheFirstTwelveHexDigits()
    {
        Assert.Equal("e3b0c44298fc", Digest.Compute([]).Short);
    }
}
