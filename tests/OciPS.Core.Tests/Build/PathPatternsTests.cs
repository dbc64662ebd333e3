using OciPS.Core.Build.Context;
using Xunit;

namespace OciPS.Core.Tests.Build;

/// <summary>Cases from the Dockerfile reference's ".dockerignore file" section and moby's pattern rules.</summary>
public sealed class PathPatternsTests
{
    [Theory]
    [InlineData("*/temp*", "somedir/temporary.txt", true)]
    [InlineData("*/temp*", "somedir/temp", true)]
    [InlineData("*/temp*", "somedir/temp/inside.txt", true)]
    [InlineData("*/temp*", "temp.txt", false)]
    [InlineData("*/temp*", "a/b/temp.txt", false)]
    [InlineData("*/*/temp*", "somedir/subdir/temporary.txt", true)]
    [InlineData("*/*/temp*", "somedir/temporary.txt", false)]
    [InlineData("temp?", "tempa", true)]
    [InlineData("temp?", "temp", false)]
    [InlineData("temp?", "tempab", false)]
    [InlineData("**/*.go", "main.go", true)]
    [InlineData("**/*.go", "cmd/tool/main.go", true)]
    [InlineData("**/*.go", "main.gox", false)]
    [InlineData("foo", "foo/bar/baz", true)]
    [InlineData("foo", "foobar", false)]
    [InlineData("/foo", "foo/x", true)]
    [InlineData("foo/*", "foo/bar/baz", true)]
    [InlineData("foo/*", "foo", false)]
    [InlineData("foo/**", "foo/a/b", true)]
    [InlineData("**", "anything/at/all", true)]
    [InlineData("dir/../x", "x", true)]
    [InlineData("./x", "x", true)]
    [InlineData("[a-c].txt", "b.txt", true)]
    [InlineData("[a-c].txt", "d.txt", false)]
    [InlineData("[^a].txt", "b.txt", true)]
    [InlineData("\\*.txt", "*.txt", true)]
    [InlineData("\\*.txt", "a.txt", false)]
    [InlineData("a/**/b", "a/b", true)]
    [InlineData("a/**/b", "a/x/y/b", true)]
    [InlineData("*.log", "sub/x.log", false)]
    public void SinglePattern(string pattern, string path, bool excluded) =>
        Assert.Equal(excluded, PathPatterns.ReadIgnoreFile(pattern).Matches(path));

    [Theory]
    [InlineData("README.md", false)]
    [InlineData("README-secret.md", true)]
    [InlineData("README-other.md", false)]
    [InlineData("CHANGES.md", true)]
    [InlineData("src/a.go", false)]
    public void LastMatchingPatternWins(string path, bool excluded)
    {
        var patterns = PathPatterns.ReadIgnoreFile("# docs\n*.md\n!README*.md\nREADME-secret.md\n");
        Assert.Equal(excluded, patterns.Matches(path));
    }

    [Fact]
    public void ExclusionReincludesUnderAnExcludedDirectory()
    {
        var patterns = PathPatterns.ReadIgnoreFile("**\n!keep/**\n!Dockerfile\n");
        Assert.True(patterns.HasExclusions);
        Assert.False(patterns.Matches("keep/a/b.txt"));
        Assert.False(patterns.Matches("Dockerfile"));
        Assert.True(patterns.Matches("other/file"));
    }

    [Fact]
    public void LinesAreTrimmedAndCommentsSkipped()
    {
        var patterns = PathPatterns.ReadIgnoreFile("\uFEFF  node_modules  \r\n#secret\n\n ! node_modules/keep \n");
        Assert.True(patterns.Matches("node_modules/x"));
        Assert.False(patterns.Matches("node_modules/keep"));
        Assert.False(patterns.Matches("secret"));
    }

    [Fact]
    public void LoneBangIsAnError() =>
        Assert.Throws<FormatException>(() => PathPatterns.ReadIgnoreFile("!\n"));

    [Theory]
    [InlineData("a/./b/../c", "a/c")]
    [InlineData("/x//y/", "/x/y")]
    [InlineData("../a", "../a")]
    [InlineData("", ".")]
    [InlineData("a/..", ".")]
    public void CleanIsGoPathClean(string path, string expected) => Assert.Equal(expected, PathPatterns.Clean(path));
}
