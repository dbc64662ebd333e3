using OciPS.Core.Model;
using Xunit;

namespace OciPS.Core.Tests.Model;

public sealed class PlatformTests
{
    [Theory]
    [InlineData("linux/arm64/v8", "linux/arm64")]
    [InlineData("linux/aarch64", "linux/arm64")]
    [InlineData("linux/x86_64", "linux/amd64")]
    [InlineData("linux/amd64/v1", "linux/amd64")]
    [InlineData("linux/arm", "linux/arm/v7")]
    [InlineData("linux/armhf", "linux/arm/v7")]
    [InlineData("linux/armel", "linux/arm/v6")]
    [InlineData("linux/i386", "linux/386")]
    [InlineData("Linux/ARM64", "linux/arm64")]
    [InlineData("arm64", "linux/arm64")]
    [InlineData("macos/arm64", "darwin/arm64")]
    public void Parse_NormalisesAsContainerdDoes(string text, string expected)
    {
        Assert.Equal(expected, Platform.Parse(text).ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("linux/arm64/v8/extra")]
    [InlineData("linux//arm64")]
    [InlineData("linux/arm 64")]
    public void Parse_RejectsMalformedPlatforms(string text)
    {
        Assert.False(Platform.TryParse(text, out _, out _));
    }

    [Fact]
    public void Arm64_RunsArm64FirstThenArm32VariantsNewestFirst()
    {
        var vector = Platform.Parse("linux/arm64").CompatibleWith().Select(p => p.ToString()).ToArray();
        Assert.Equal(["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"], vector);
    }

    [Fact]
    public void Amd64_AlsoRuns386()
    {
        var amd64 = Platform.Parse("linux/amd64");
        Assert.Equal(0, amd64.Rank(Platform.Parse("linux/amd64")));
        Assert.True(amd64.Rank(Platform.Parse("linux/386")) > 0);
        Assert.Equal(-1, amd64.Rank(Platform.Parse("linux/arm64")));
    }

    [Fact]
    public void ArmV7_DoesNotRunV8()
    {
        var v7 = Platform.Parse("linux/arm/v7");
        Assert.Equal(-1, v7.Rank(Platform.Parse("linux/arm/v8")));
        Assert.True(v7.Rank(Platform.Parse("linux/arm/v6")) > 0);
    }

    [Fact]
    public void Matches_TreatsArm64WithAndWithoutV8AsTheSame()
    {
        Assert.True(Platform.Parse("linux/arm64").Matches(new Platform { Os = "linux", Architecture = "arm64", Variant = "v8" }));
    }

    [Fact]
    public void Default_IsLinuxOnThisMachinesArchitecture()
    {
        Assert.Equal("linux", Platform.Default.Os);
        Assert.False(string.IsNullOrEmpty(Platform.Default.Architecture));
    }
}
