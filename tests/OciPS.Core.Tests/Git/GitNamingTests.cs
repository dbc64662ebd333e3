using OciPS.Core.Git;
using OciPS.Core.Model;
using Xunit;

namespace OciPS.Core.Tests.Git;

public sealed class GitNamingTests
{
    [Theory]
    [InlineData("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]", "CMD [\"/bin/sh\"]")]
    [InlineData("/bin/sh -c #(nop) ADD file:abc in / ", "ADD file:abc in /")]
    [InlineData("/bin/sh -c apk add --no-cache curl", "RUN apk add --no-cache curl")]
    [InlineData("|2 A=1 B=2 /bin/sh -c make", "RUN make")]
    [InlineData("RUN /bin/sh -c apt-get update # buildkit", "RUN apt-get update")]
    [InlineData("RUN |1 VERSION=3 /bin/sh -c echo $VERSION # buildkit", "RUN echo $VERSION")]
    [InlineData("COPY app /app # buildkit", "COPY app /app")]
    [InlineData("ENV PATH=/usr/local/bin", "ENV PATH=/usr/local/bin")]
    [InlineData("", "")]
    public void CreatedBy_IsCleaned(string createdBy, string expected) => Assert.Equal(expected, HistoryMessage.Clean(createdBy));

    [Theory]
    [InlineData(".git", ".oci~.git")]
    [InlineData(".gitignore", ".oci~.gitignore")]
    [InlineData(".GitModules", ".oci~.GitModules")]
    [InlineData(".git\u200C", ".oci~.git\u200C")]
    [InlineData("GIT~1", ".oci~GIT~1")]
    [InlineData(".oci~x", ".oci~.oci~x")]
    [InlineData("git", "git")]
    [InlineData(".github", ".oci~.github")]
    [InlineData("x.git", "x.git")]
    public void Names_AreEscaped_Reversibly(string name, string stored)
    {
        Assert.Equal(stored, GitNames.Escape(name));
        Assert.Equal(name, GitNames.Unescape(stored));
    }

    [Fact]
    public void NonUtf8Names_AreStoredAsHex()
    {
        var name = EntryName.Decode([(byte)'c', (byte)'a', (byte)'f', 0xE9]);
        Assert.Equal(".oci~%636166e9", GitNames.Escape(name));
        Assert.Equal(name, GitNames.Unescape(".oci~%636166e9"));
        var line = new RootfsMeta(OciFileType.File, 0x1A4, 0, 0, OciFileEntry.NoXattrs).ToLine(name);
        Assert.StartsWith("\"caf\\351\"\t", line, StringComparison.Ordinal);
        Assert.Equal(name, RootfsMeta.Parse(line)!.Value.Path);
    }

    [Theory]
    [InlineData("docker.io/library/alpine:3.20", "alpine-3.20")]
    [InlineData("ghcr.io/o/r@sha256:abcd", "ghcr.io/o/r-sha256-abcd")]
    [InlineData("localhost:5000/../x.lock", "localhost-5000/x-lock")]
    [InlineData("oci:/tmp/layout:tag", "oci-/tmp/layout-tag")]
    public void BranchNames_AreValid(string reference, string branch) => Assert.Equal(branch, GitNames.BranchName(reference));

    [Theory]
    [InlineData("plain/path")]
    [InlineData("tab\tand\nnewline")]
    [InlineData("quote\"back\\slash")]
    [InlineData("emoji \U0001F600 and \U00010080")]
    public void MetaLines_RoundTrip(string path)
    {
        var meta = new RootfsMeta(OciFileType.File, 0x9ED, 1000, 50, new Dictionary<string, byte[]> { ["security.capability"] = [0, 1, 2] }, "other" + path);
        var line = meta.ToLine(path);
        Assert.DoesNotContain('\n', line);
        var parsed = RootfsMeta.Parse(line)!.Value;
        Assert.Equal(path, parsed.Path);
        Assert.True(meta.SameAs(parsed.Meta));
    }
}
