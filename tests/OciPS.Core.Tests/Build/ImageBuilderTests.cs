using System.Text.Json;
using OciPS.Core.Build;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Build;

/// <summary>Dockerfiles built to OCI layouts, unpacked by umoci and inspected by skopeo; expected trees are what Docker produces.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class ImageBuilderTests : IDisposable
{
    private readonly BuildHarness _build = new();

    public void Dispose() => _build.Dispose();

    [Fact]
    public async Task CopyFilesAndDirectoriesFromScratch()
    {
        _build.File("hello.txt", "hello\n").File("bin/tool", "#!/bin/sh\n", 0x1ED).File("bin/sub/data", "d");
        var (_, tree) = await _build.BuildTreeAsync("""
            FROM scratch
            COPY hello.txt /
            COPY bin /usr/local/bin/
            COPY hello.txt /etc/renamed
            """);
        BuildHarness.AssertTree(
            [
                "etc dir 755 0:0",
                "etc/renamed file 644 0:0 =hello\\n",
                "hello.txt file 644 0:0 =hello\\n",
                "usr dir 755 0:0",
                "usr/local dir 755 0:0",
                "usr/local/bin dir 755 0:0",
                "usr/local/bin/sub dir 755 0:0",
                "usr/local/bin/sub/data file 644 0:0 =d",
                "usr/local/bin/tool file 755 0:0 =#!/bin/sh\\n",
            ],
            tree);
    }
}
