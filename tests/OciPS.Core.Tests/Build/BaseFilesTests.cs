using System.Text.Json;
using OciPS.Core.Build;
using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Model;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;
using FixtureImage = OciPS.TestSupport.Fixtures.ImageBuilder;

namespace OciPS.Core.Tests.Build;

/// <summary>
/// Instructions that touch paths the base image already has, checked against Docker's behaviour
/// (Dockerfile reference and BuildKit's copy): an existing directory is copied into and left as it is,
/// the base's symbolic links are followed, only missing directories are made (0755, owned by --chown
/// or USER). The base is made here: usrmerge links, /tmp 1777, directories owned by 1000:1000, two layers.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class BaseFilesTests : IDisposable
{
    private const string Passwd = "root:x:0:0::/root:/bin/sh\n";
    private const string Group = "root:x:0:\napp:x:1000:\n";
    private readonly BuildHarness _build = new();

    public void Dispose() => _build.Dispose();

    private async Task<string> BaseImageAsync()
    {
        var layout = OciLayoutWriter.Open(_build.Combine("base"));
        var image = new FixtureImage()
            .Layer(new LayerBuilder()
                .Symlink("bin", "usr/bin").Symlink("lib", "usr/lib")
                .Directory("etc").File("etc/passwd", Passwd).File("etc/group", Group)
                .Directory("home").Directory("home/app", 0x1E8, 1000, 1000)
                .Directory("run")
                .Directory("srv").Directory("srv/data", 0x1C0, 1000, 1000)
                .Directory("tmp", 0x3FF)
                .Directory("usr").Directory("usr/bin").File("usr/bin/sh", "#!sh", 0x1ED).Directory("usr/lib")
                .Directory("var").Directory("var/lib", 0x1ED, 1000, 1000).Symlink("var/run", "/run")
                .Symlink("loop1", "loop2").Symlink("loop2", "/loop1"))
            .Layer(new LayerBuilder().Directory("var").Directory("var/lib", 0x1F8, 1000, 1000).File("var/lib/state", "s"));
        await image.WriteAsync(layout, "v1");
        return "oci:" + layout.Root + ":v1";
    }

    /// <summary>The entries of the layers a build added, one line per entry: "path kind mode uid:gid", layers separated by "|".</summary>
    private static async Task<string[]> NewLayerEntriesAsync(string location, int baseLayers)
    {
        var image = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open(location), null, CancellationToken.None);
        var layers = new List<string>();
        foreach (var layer in image.Layers.Skip(baseLayers))
        {
            var entries = new List<string>();
            await foreach (var raw in LayerReader.ReadAsync(layer, CancellationToken.None))
            {
                var e = raw.Entry;
                entries.Add($"{e.Path} {e.Type.ToString().ToLowerInvariant()} {Convert.ToString(e.Mode & 0xFFF, 8)} {e.Uid}:{e.Gid}");
            }

            layers.Add(string.Join(", ", entries));
        }

        return [.. layers];
    }

    [Fact]
    public async Task ExistingDirectoriesAndLinksOfTheBaseAreRespected()
    {
        var baseImage = await BaseImageAsync();
        _build.File("a.txt", "a").File("b.txt", "b").File("c.txt", "c").File("d.txt", "d").File("tool", "t", 0x1ED).File("conf/app.conf", "conf");
        var (result, tree) = await _build.BuildTreeAsync($"""
            FROM {baseImage}
            # existing directory: no layer, /tmp stays 1777
            WORKDIR /tmp
            # no trailing slash, but /tmp is a directory: copied into it
            COPY a.txt /tmp
            # /var/run -> /run and /bin -> usr/bin are followed
            COPY b.txt /var/run
            COPY tool /bin/tool
            # /var/lib (770 1000:1000 in the base's top layer) is left as it is
            WORKDIR /var/lib
            # /home/app keeps 750 1000:1000; only sub and deep are new, owned by --chown
            COPY --chown=1000:1000 c.txt /home/app/sub/deep/
            COPY --chown=2000:2000 conf /etc/app
            # /etc/app is a directory since the previous layer: copied into it
            COPY conf/app.conf /etc/app
            COPY --from={baseImage} /etc/group /var/run/copied/
            USER 1000:1000
            WORKDIR /srv/data/work
            WORKDIR /var/run/app
            COPY d.txt .
            """);
        BuildHarness.AssertTree(
            [
                "bin link 777 0:0 -> usr/bin",
                "etc dir 755 0:0",
                "etc/app dir 755 2000:2000",
                "etc/app/app.conf file 644 0:0 =conf",
                "etc/group file 644 0:0 =root:x:0:\\napp:x:1000:\\n",
                "etc/passwd file 644 0:0 =root:x:0:0::/root:/bin/sh\\n",
                "home dir 755 0:0",
                "home/app dir 750 1000:1000",
                "home/app/sub dir 755 1000:1000",
                "home/app/sub/deep dir 755 1000:1000",
                "home/app/sub/deep/c.txt file 644 1000:1000 =c",
                "lib link 777 0:0 -> usr/lib",
                "loop1 link 777 0:0 -> loop2",
                "loop2 link 777 0:0 -> /loop1",
                "run dir 755 0:0",
                "run/app dir 755 1000:1000",
                "run/app/d.txt file 644 0:0 =d",
                "run/b.txt file 644 0:0 =b",
                "run/copied dir 755 0:0",
                "run/copied/group file 644 0:0 =root:x:0:\\napp:x:1000:\\n",
                "srv dir 755 0:0",
                "srv/data dir 700 1000:1000",
                "srv/data/work dir 755 1000:1000",
                "tmp dir 1777 0:0",
                "tmp/a.txt file 644 0:0 =a",
                "usr dir 755 0:0",
                "usr/bin dir 755 0:0",
                "usr/bin/sh file 755 0:0 =#!sh",
                "usr/bin/tool file 755 0:0 =t",
                "usr/lib dir 755 0:0",
                "var dir 755 0:0",
                "var/lib dir 770 1000:1000",
                "var/lib/state file 644 0:0 =s",
                "var/run link 777 0:0 -> /run",
            ],
            tree);

        // The layers hold only what changed: no entry for /tmp, /run, /home/app, /etc, /var/lib or /srv/data.
        Assert.Equal(
            [
                "tmp/a.txt file 644 0:0",
                "run/b.txt file 644 0:0",
                "usr/bin/tool file 755 0:0",
                "home/app/sub directory 755 1000:1000, home/app/sub/deep directory 755 1000:1000, home/app/sub/deep/c.txt file 644 1000:1000",
                "etc/app directory 755 2000:2000, etc/app/app.conf file 644 2000:2000",
                "etc/app/app.conf file 644 0:0",
                "run/copied directory 755 0:0, run/copied/group file 644 0:0",
                "srv/data/work directory 755 1000:1000",
                "run/app directory 755 1000:1000",
                "run/app/d.txt file 644 0:0",
            ],
            await NewLayerEntriesAsync("oci:" + _build.Combine("out-0") + ":t", 2));

        // WORKDIR of an existing directory adds no layer, as BuildKit drops empty layers.
        var config = JsonDocument.Parse(Skopeo.InspectConfigRaw("oci:" + _build.Combine("out-0") + ":t")).RootElement;
        var history = config.GetProperty("history").EnumerateArray().Skip(2).ToArray();
        Assert.True(history.Single(h => h.GetProperty("created_by").GetString()!.EndsWith("WORKDIR /tmp", StringComparison.Ordinal)).GetProperty("empty_layer").GetBoolean());
        Assert.Equal(12, config.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        Assert.Equal("/var/run/app", config.GetProperty("config").GetProperty("WorkingDir").GetString());
        Assert.Equal(10, result.Images[0].NewLayers.Count);
    }

    [Fact]
    public async Task ArchiveContentsCountForLaterInstructions()
    {
        var baseImage = await BaseImageAsync();
        var staging = _build.Combine("archive-src");
        Directory.CreateDirectory(Path.Combine(staging, "pkg", "lib"));
        File.WriteAllText(Path.Combine(staging, "pkg", "lib", "x.so"), "so");
        ProcessRunner.Run("tar", ["-czf", Path.Combine(_build.ContextDirectory, "pkg.tgz"), "--owner=0", "--group=0", "-C", staging, "pkg"]);
        _build.File("extra.so", "e");
        var (_, tree) = await _build.BuildTreeAsync($"FROM {baseImage}\nADD pkg.tgz /lib/\nCOPY extra.so /lib/pkg/lib\n");
        Assert.Contains("usr/lib/pkg/lib/extra.so file 644 0:0 =e", tree);
        Assert.Contains("usr/lib/pkg/lib/x.so file 644 0:0 =so", tree);
        Assert.Contains("lib link 777 0:0 -> usr/lib", tree);
    }

    [Fact]
    public async Task LinkCopiesAsIntoScratch()
    {
        // Dockerfile reference, COPY --link: the files are copied into an independent layer without reading
        // the previous state, so parent directories are made with the default settings (0755) and the base's
        // /tmp (1777) is replaced, as BuildKit documents; the next COPY without --link sees that layer.
        var baseImage = await BaseImageAsync();
        _build.File("a.txt", "a").File("b.txt", "b");
        var (_, tree) = await _build.BuildTreeAsync($"FROM {baseImage}\nCOPY --link a.txt /tmp/linked.txt\nCOPY --link=false b.txt /home/app\nCOPY b.txt /tmp\n");
        Assert.Contains("tmp dir 755 0:0", tree);
        Assert.Contains("tmp/linked.txt file 644 0:0 =a", tree);
        Assert.Contains("tmp/b.txt file 644 0:0 =b", tree);
        Assert.Contains("home/app/b.txt file 644 0:0 =b", tree);
        Assert.Equal(["tmp directory 755 0:0, tmp/linked.txt file 644 0:0", "home/app/b.txt file 644 0:0", "tmp/b.txt file 644 0:0"], await NewLayerEntriesAsync("oci:" + _build.Combine("out-0") + ":t", 2));
    }

    [Fact]
    public async Task CopyFromFollowsSourceLinksAndExpandsGlobs()
    {
        // BuildKit copies a --from source with its symbolic links followed (the source path and its last
        // component), naming the copy as the source: `COPY --from=busybox /bin/sh /out/` gives a file
        // /out/sh. Links inside a copied directory stay links. A glob copies every match; a matching
        // directory's contents go into the destination.
        var fromLayout = OciLayoutWriter.Open(_build.Combine("from"));
        await new FixtureImage()
            .Layer(new LayerBuilder()
                .Symlink("bin", "usr/bin").Symlink("lib", "usr/lib")
                .Directory("usr").Directory("usr/bin").File("usr/bin/busybox", "BB", 0x1ED).Symlink("usr/bin/sh", "busybox")
                .Directory("usr/lib").File("usr/lib/libfoo.so.1.2", "FOO", 0x1ED).Symlink("usr/lib/libfoo.so.1", "libfoo.so.1.2")
                .Directory("etc").Directory("etc/real", 0x1C0, 7, 7).File("etc/real/conf", "C").Symlink("etc/real/self", "conf").Symlink("etc/alt", "/etc/real")
                .Directory("app").File("app/a.dll", "A").File("app/b.dll", "B").File("app/c.txt", "T").Symlink("app/d.dll", "a.dll")
                .Directory("app/z.dll").File("app/z.dll/inner", "I")
                .Symlink("dangling", "nowhere"))
            .WriteAsync(fromLayout, "v1");
        var from = "oci:" + fromLayout.Root + ":v1";

        var (_, tree) = await _build.BuildTreeAsync($"""
            FROM scratch
            COPY --from={from} /bin/sh /out/
            COPY --from={from} /lib/libfoo.so.1 /out/lib/
            COPY --from={from} /etc/alt /conf
            COPY --from={from} /app/*.dll /dlls/
            """);
        Assert.Contains("out/sh file 755 0:0 =BB", tree);
        Assert.Contains("out/lib/libfoo.so.1 file 755 0:0 =FOO", tree);
        Assert.Contains("conf/conf file 644 0:0 =C", tree);
        Assert.Contains("conf/self link 777 0:0 -> conf", tree);
        Assert.Contains("dlls/a.dll file 644 0:0 =A", tree);
        Assert.Contains("dlls/b.dll file 644 0:0 =B", tree);
        Assert.Contains("dlls/d.dll file 644 0:0 =A", tree);
        Assert.Contains("dlls/inner file 644 0:0 =I", tree);
        Assert.DoesNotContain(tree, line => line.StartsWith("dlls/c.txt", StringComparison.Ordinal) || line.StartsWith("out/sh link", StringComparison.Ordinal) || line.StartsWith("dlls/z.dll", StringComparison.Ordinal));

        var error = await Assert.ThrowsAsync<BuildException>(() => _build.BuildTreeAsync($"FROM scratch\nCOPY --from={from} /dangling /x\n"));
        Assert.Equal("BuildSourceNotFound", error.ErrorId);
        Assert.Contains("/dangling", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChownNamesComeFromTheBaseOrFromWhatTheStageWroteToEtc()
    {
        var baseImage = await BaseImageAsync();
        _build.File("a.txt", "a").File("passwd", Passwd + "svc:x:4242:4243::/:/bin/sh\n").File("group", Group + "svc:x:4243:\n");
        var (_, tree) = await _build.BuildTreeAsync($"FROM {baseImage}\nCOPY --chown=root:app a.txt /one\nCOPY passwd group /etc/\nCOPY --chown=svc:svc a.txt /two\n");
        Assert.Contains("one file 644 0:1000 =a", tree);
        Assert.Contains("two file 644 4242:4243 =a", tree);
    }

    [Theory]
    [InlineData("COPY rootfs/ /", "BuildDestinationConflict", "'/bin'")]
    [InlineData("COPY a.txt /usr/bin/sh/x", "BuildDestinationNotDirectory", "'/usr/bin/sh' is not a directory")]
    [InlineData("COPY a.txt /loop1/x", "BuildDestinationLinkLoop", "too many levels of symbolic links")]
    [InlineData("WORKDIR /etc/passwd", "BuildDestinationNotDirectory", "'/etc/passwd' is not a directory")]
    [InlineData("COPY rootfs/bin/x /usr/bin/", "BuildDestinationConflict", "cannot replace the directory '/usr/bin/x'")]
    public async Task WhatDockerRefusesIsAnErrorNamingTheLine(string instruction, string errorId, string message)
    {
        var baseImage = await BaseImageAsync();
        _build.File("a.txt", "a").File("rootfs/bin/x", "x");
        var extra = instruction.Contains("/usr/bin/", StringComparison.Ordinal) ? "COPY rootfs/ /usr/bin/x/\n" : string.Empty;
        var ex = await Assert.ThrowsAsync<BuildException>(() => _build.BuildAsync($"FROM {baseImage}\n{extra}{instruction}\n", "oci:" + _build.Combine("x")));
        Assert.Equal(errorId, ex.ErrorId);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"Dockerfile:{(extra.Length > 0 ? 3 : 2)}:", ex.Message, StringComparison.Ordinal);
    }
}
