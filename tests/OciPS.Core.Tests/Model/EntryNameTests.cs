using OciPS.Core.Model;
using Xunit;

namespace OciPS.Core.Tests.Model;

/// <summary>The canonical names the merge and every sink key their paths by.</summary>
public sealed class EntryNameTests
{
    [Theory]
    [InlineData("", ".")]
    [InlineData(".", ".")]
    [InlineData("/", ".")]
    [InlineData("./", ".")]
    [InlineData("//", ".")]
    [InlineData("/./", ".")]
    [InlineData("./.", ".")]
    [InlineData("usr", "usr")]
    [InlineData("usr/bin/sh", "usr/bin/sh")]
    [InlineData("./usr/bin/", "usr/bin")]
    [InlineData("/usr/bin//", "usr/bin")]
    [InlineData(".//usr", "usr")]
    [InlineData("././usr/./bin/.", "usr/bin")]
    [InlineData("usr//bin", "usr/bin")]
    [InlineData("usr/.", "usr")]
    [InlineData(".hidden/.wh.x", ".hidden/.wh.x")]
    [InlineData("..", "..")]
    [InlineData("./../etc", "../etc")]
    [InlineData("a/../b", "a/../b")]
    [InlineData("...", "...")]
    [InlineData("a/.b/..c/...", "a/.b/..c/...")]
    [InlineData("usr//bin/./env", "usr/bin/env")]
    [InlineData("./usr/bin/.", "usr/bin")]
    [InlineData("//./", ".")]
    public void NormalizeDropsSlashesAndDotsButKeepsParentComponents(string name, string expected)
    {
        Assert.Equal(expected, EntryName.Normalize(name));
        Assert.Equal(expected, EntryName.Normalize(expected));
    }

    [Fact]
    public void ACanonicalNameIsGivenBackAsItIs()
    {
        var name = "usr/share/doc/readme";
        Assert.Same(name, EntryName.Normalize(name));
    }

    [Theory]
    [InlineData("..", true)]
    [InlineData("../a", true)]
    [InlineData("a/..", true)]
    [InlineData("a/../b", true)]
    [InlineData("a..", false)]
    [InlineData("..a/b", false)]
    [InlineData("a/...", false)]
    [InlineData("a/b..c/..d", false)]
    [InlineData(".", false)]
    public void ParentComponentsAreWholeComponentsOnly(string path, bool expected) =>
        Assert.Equal(expected, EntryName.HasParentComponent(path));
}
