using OciPS.Core.Model;
using Xunit;

namespace OciPS.Core.Tests.Model;

/// <summary>The canonical form of names inside an image, whichever way a tar writer spelled them.</summary>
public sealed class EntryNameTests
{
    [Theory]
    [InlineData("usr/bin/env", "usr/bin/env")]
    [InlineData("./usr/bin/env", "usr/bin/env")]
    [InlineData("/usr/bin/env", "usr/bin/env")]
    [InlineData("usr/bin/", "usr/bin")]
    [InlineData("usr//bin/./env", "usr/bin/env")]
    [InlineData("././usr/bin", "usr/bin")]
    [InlineData("./usr/bin/.", "usr/bin")]
    [InlineData("usr/../etc", "usr/../etc")]
    [InlineData("./../etc/passwd", "../etc/passwd")]
    [InlineData(".hidden/.x", ".hidden/.x")]
    [InlineData("...", "...")]
    [InlineData("", ".")]
    [InlineData(".", ".")]
    [InlineData("./", ".")]
    [InlineData("/", ".")]
    [InlineData("//./", ".")]
    public void Normalize_GivesTheCanonicalName(string name, string expected)
    {
        Assert.Equal(expected, EntryName.Normalize(name));
    }

    [Fact]
    public void ACanonicalName_IsGivenBackAsItIs()
    {
        var name = "usr/share/doc/readme";
        Assert.Same(name, EntryName.Normalize(name));
    }
}
