using System.Text.Json;
using OciPS.Core.Build;
using OciPS.Core.Build.Layers;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;
using FixtureImage = OciPS.TestSupport.Fixtures.ImageBuilder;

namespace OciPS.Core.Tests.Build;

/// <summary>Dockerfiles built to OCI layouts, unpacked by umoci and inspected by skopeo; expected trees are what Docker produces.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class ImageBuilderTests : IDisposable
{
    private readonly BuildHarness _build = new();

    public void Dispose() => _build.Dispose();

    private static JsonElement Config(string location) =>
        JsonDocument.Parse(Skopeo.InspectConfigRaw(location)).RootElement.Clone();

    /// <summary>A base image in an OCI layout: /etc/passwd, /etc/group, /tmp (1777) and a file.</summary>
    private async Task<string> BaseImageAsync()
    {
        var layout = OciLayoutWriter.Open(_build.Combine("base"));
        var image = new FixtureImage { Cmd = ["/bin/base"] }
            .Layer(new LayerBuilder()
                .Directory("etc").File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
                .File("etc/group", "root:x:0:\nstaff:x:50:\napp:x:1000:\n")
                .Directory("tmp", 0x3FF).Directory("opt").File("opt/base.txt", "base"))
            .Env("BASEVAR=from-base");
        await image.WriteAsync(layout, "v1");
        return "oci:" + layout.Root + ":v1";
    }

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

    [Fact]
    public async Task MetadataInstructionsSetTheConfig()
    {
        var result = await _build.BuildAsync("""
            # syntax=docker/dockerfile:1
            FROM scratch
            MAINTAINER someone@example.com
            ENV A=1 B="two words"
            ENV C=$A-${B}
            LABEL org.opencontainers.image.title="Demo" version=1.0
            USER 1000:1000
            WORKDIR /app
            WORKDIR sub
            EXPOSE 80 443/tcp 53/udp 8000-8001
            VOLUME ["/data", "/logs"]
            VOLUME /cache
            STOPSIGNAL SIGTERM
            HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -f http://localhost/ || exit 1
            SHELL ["/bin/bash", "-c"]
            ENTRYPOINT ["/app/run"]
            CMD serve --port 80
            ONBUILD COPY . /src
            """, "oci:" + _build.Combine("meta") + ":t", o => o with { Format = BuildFormat.Oci });
        var config = Config("oci:" + _build.Combine("meta") + ":t");
        var container = config.GetProperty("config");
        Assert.Equal("someone@example.com", config.GetProperty("author").GetString());
        Assert.Equal(
            ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words", "C=1-two words"],
            container.GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("Demo", container.GetProperty("Labels").GetProperty("org.opencontainers.image.title").GetString());
        Assert.Equal("1.0", container.GetProperty("Labels").GetProperty("version").GetString());
        Assert.Equal("1000:1000", container.GetProperty("User").GetString());
        Assert.Equal("/app/sub", container.GetProperty("WorkingDir").GetString());
        Assert.Equal(["443/tcp", "53/udp", "80/tcp", "8000/tcp", "8001/tcp"], container.GetProperty("ExposedPorts").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["/cache", "/data", "/logs"], container.GetProperty("Volumes").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal("SIGTERM", container.GetProperty("StopSignal").GetString());
        var health = container.GetProperty("Healthcheck");
        Assert.Equal(["CMD-SHELL", "curl -f http://localhost/ || exit 1"], health.GetProperty("Test").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(30_000_000_000L, health.GetProperty("Interval").GetInt64());
        Assert.Equal(5_000_000_000L, health.GetProperty("Timeout").GetInt64());
        Assert.Equal(3, health.GetProperty("Retries").GetInt32());
        Assert.Equal(["/bin/bash", "-c"], container.GetProperty("Shell").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["/app/run"], container.GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["/bin/bash", "-c", "serve --port 80"], container.GetProperty("Cmd").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["COPY . /src"], container.GetProperty("OnBuild").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("2023-11-14T22:13:20Z", config.GetProperty("created").GetString());

        var history = config.GetProperty("history").EnumerateArray().ToArray();
        Assert.Equal("/bin/sh -c #(nop) ENV A=1 B=two words", history[1].GetProperty("created_by").GetString());
        Assert.True(history[1].GetProperty("empty_layer").GetBoolean());
        Assert.StartsWith("/bin/sh -c #(nop) WORKDIR /app", history.Single(h => h.GetProperty("created_by").GetString()!.EndsWith("WORKDIR /app", StringComparison.Ordinal)).GetProperty("created_by").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, config.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        var manifest = JsonDocument.Parse(Skopeo.InspectRaw("oci:" + _build.Combine("meta") + ":t")).RootElement;
        Assert.Equal("Demo", manifest.GetProperty("annotations").GetProperty("org.opencontainers.image.title").GetString());
        Assert.Equal(result.Digest.ToString(), Skopeo.Inspect("oci:" + _build.Combine("meta") + ":t").GetProperty("Digest").GetString());
    }

    [Fact]
    public async Task EntrypointResetsAnInheritedCmd()
    {
        var baseImage = await BaseImageAsync();
        await _build.BuildAsync($"FROM {baseImage}\nENTRYPOINT [\"/x\"]\n", "oci:" + _build.Combine("ep") + ":t", o => o with { Format = BuildFormat.Oci });
        var container = Config("oci:" + _build.Combine("ep") + ":t").GetProperty("config");
        Assert.False(container.TryGetProperty("Cmd", out _));
        Assert.Equal("from-base", container.GetProperty("Env").EnumerateArray().Select(e => e.GetString()).Single(e => e!.StartsWith("BASEVAR=", StringComparison.Ordinal))![8..]);
    }

    [Fact]
    public async Task OnbuildTriggersOfTheBaseRunAfterFrom()
    {
        _build.File("a.txt", "a").File("b.txt", "b");
        var parent = _build.Combine("parent");
        await _build.BuildAsync("FROM scratch\nONBUILD COPY a.txt /from-trigger.txt\n", "oci:" + parent + ":p", o => o with { Format = BuildFormat.Oci });
        var (_, tree) = await _build.BuildTreeAsync($"FROM oci:{parent}:p\nCOPY b.txt /\n");
        BuildHarness.AssertTree(["b.txt file 644 0:0 =b", "from-trigger.txt file 644 0:0 =a"], tree);
        Assert.False(Config("oci:" + _build.Combine("out-" + 1)).GetProperty("config").TryGetProperty("OnBuild", out _));
    }

    [Fact]
    public async Task ArgsFollowDockerScopes()
    {
        _build.File("a.txt", "a");
        var layout = _build.Combine("args");
        await _build.BuildAsync("""
            ARG BASE=scratch
            ARG VERSION=1.0
            ARG GLOBAL_ONLY=global
            FROM ${BASE}
            ARG VERSION
            ARG NAME=default
            ARG FROM_CLI
            ARG TARGETARCH
            ENV V=$VERSION N=${NAME} G=${GLOBAL_ONLY:-not-visible} CLI=${FROM_CLI:+set} ARCH=$TARGETARCH
            COPY a.txt /${NAME}/${VERSION}.txt
            """, "oci:" + layout + ":t", o => o with
        {
            Format = BuildFormat.Oci,
            BuildArgs = new Dictionary<string, string> { ["NAME"] = "cli", ["FROM_CLI"] = "x" },
            Platforms = [Platform.Parse("linux/arm64")],
        });
        var env = Config("oci:" + layout + ":t").GetProperty("config").GetProperty("Env").EnumerateArray().Select(e => e.GetString()).ToArray();
        Assert.Contains("V=1.0", env);
        Assert.Contains("N=cli", env);
        Assert.Contains("G=not-visible", env);
        Assert.Contains("CLI=set", env);
        Assert.Contains("ARCH=arm64", env);
        Assert.Contains("cli/1.0.txt file 644 0:0 =a", _build.Unpack(layout + ":t"));
    }

    [Fact]
    public async Task DockerignoreExcludesAndReincludes()
    {
        _build.File(".dockerignore", "# build output\n*.log\n**/secret*\nnode_modules\n!node_modules/keep.js\n/docs/*.md\n!docs/README.md\n")
            .File("app.js", "app").File("debug.log", "x").File("sub/trace.log", "t").File("sub/secret.key", "k")
            .File("node_modules/dep.js", "dep").File("node_modules/keep.js", "keep")
            .File("docs/guide.md", "g").File("docs/README.md", "r");
        var (_, tree) = await _build.BuildTreeAsync("FROM scratch\nCOPY . /src/\n");
        BuildHarness.AssertTree(
            [
                "src dir 755 0:0",
                "src/.dockerignore file 644 0:0 =(94 bytes)",
                "src/Dockerfile file 644 0:0 =FROM scratch\\nCOPY . /src/\\n",
                "src/app.js file 644 0:0 =app",
                "src/docs dir 755 0:0",
                "src/docs/README.md file 644 0:0 =r",
                "src/node_modules dir 755 0:0",
                "src/node_modules/keep.js file 644 0:0 =keep",
                "src/sub dir 755 0:0",
                "src/sub/trace.log file 644 0:0 =t",
            ],
            tree);
    }

    [Fact]
    public async Task IgnoredFileCannotBeCopied()
    {
        _build.File(".dockerignore", "secret.txt\n").File("secret.txt", "s");
        var ex = await Assert.ThrowsAsync<BuildException>(() => _build.BuildAsync("FROM scratch\n\nCOPY secret.txt /\n", "oci:" + _build.Combine("x")));
        Assert.Equal("BuildSourceNotFound", ex.ErrorId);
        Assert.Contains("Dockerfile:3:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GlobsChownChmodAndRelativeDestinations()
    {
        var baseImage = await BaseImageAsync();
        _build.File("a.txt", "a").File("b.txt", "b").File("c.md", "c").File("run.sh", "r");
        // A directory COPY makes (texts) is owned by --chown, as every new directory; /opt exists and keeps its owner.
        var (result, tree) = await _build.BuildTreeAsync($"""
            FROM {baseImage}
            WORKDIR /srv
            COPY --chown=app:staff *.txt ./texts/
            COPY --chown=1234 --chmod=750 run.sh .
            COPY --chown=app c.md /opt/
            """);
        BuildHarness.AssertTree(
            [
                "etc dir 755 0:0",
                "etc/group file 644 0:0 =root:x:0:\\nstaff:x:50:\\napp:x:1000:\\n",
                "etc/passwd file 644 0:0 =(65 bytes)",
                "opt dir 755 0:0",
                "opt/base.txt file 644 0:0 =base",
                "opt/c.md file 644 1000:1000 =c",
                "srv dir 755 0:0",
                "srv/run.sh file 750 1234:1234 =r",
                "srv/texts dir 755 1000:50",
                "srv/texts/a.txt file 644 1000:50 =a",
                "srv/texts/b.txt file 644 1000:50 =b",
                "tmp dir 1777 0:0",
            ],
            tree);
        Assert.Equal(4, result.Images[0].NewLayers.Count);
    }

    [Fact]
    public async Task ChownByNameNeedsPasswd()
    {
        _build.File("a", "a");
        var ex = await Assert.ThrowsAsync<BuildException>(() => _build.BuildAsync("FROM scratch\nCOPY --chown=nobody a /\n", "oci:" + _build.Combine("x")));
        Assert.Equal("BuildUserNotFound", ex.ErrorId);
        Assert.Contains("Dockerfile:2:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SeveralSourcesNeedADirectoryDestination()
    {
        _build.File("a", "a").File("b", "b");
        var ex = await Assert.ThrowsAsync<DockerfileSyntaxException>(() => _build.BuildAsync("FROM scratch\nCOPY a b /dst\n", "oci:" + _build.Combine("x")));
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public async Task BaseLayersAreReferencedNotCopied()
    {
        var baseImage = await BaseImageAsync();
        var baseManifest = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open(baseImage), null, CancellationToken.None);
        _build.File("app.txt", "app");
        var result = await _build.BuildAsync($"FROM {baseImage}\nCOPY app.txt /opt/\n", "oci:" + _build.Combine("derived") + ":t", o => o with { Format = BuildFormat.Oci });
        var layers = result.Images[0].Manifest.Manifest.Layers;
        Assert.Equal(baseManifest.Manifest.Layers[0].Digest, layers[0].Digest);
        Assert.Equal(2, layers.Count);
        Assert.False(result.Source.IsStaged(layers[0].Digest));
        Assert.True(result.Source.IsStaged(layers[1].Digest));
        Assert.False(File.Exists(Path.Combine(result.Source.StagingDirectory, "blobs", "sha256", layers[0].Digest.Encoded)));
        var tree = _build.Unpack(_build.Combine("derived") + ":t");
        Assert.Contains("opt/app.txt file 644 0:0 =app", tree);
        Assert.Contains("tmp dir 1777 0:0", tree);
    }

    [Fact]
    public async Task MultiStageCopyFromAStageAndTarget()
    {
        _build.File("src/main.c", "int main;").File("README", "readme");
        const string Dockerfile = """
            FROM scratch AS build
            COPY src /work/
            COPY <<EOF /work/out.bin
            compiled
            EOF

            FROM scratch AS unused
            RUN this would fail if built

            FROM scratch
            COPY --from=build /work/out.bin /bin/app
            COPY --from=0 /work /copied
            COPY README /
            """;
        var (_, buildStage) = await _build.BuildTreeAsync(Dockerfile, o => o with { Target = "build" });
        Assert.Contains("work/out.bin file 644 0:0 =compiled\\n", buildStage);
        Assert.DoesNotContain(buildStage, l => l.StartsWith("README", StringComparison.Ordinal));

        var (_, tree) = await _build.BuildTreeAsync(Dockerfile);
        BuildHarness.AssertTree(
            [
                "README file 644 0:0 =readme",
                "bin dir 755 0:0",
                "bin/app file 644 0:0 =compiled\\n",
                "copied dir 755 0:0",
                "copied/main.c file 644 0:0 =int main;",
                "copied/out.bin file 644 0:0 =compiled\\n",
            ],
            tree);
    }

    [Fact]
    public async Task CopyFromAnImageLocation()
    {
        var baseImage = await BaseImageAsync();
        var (_, tree) = await _build.BuildTreeAsync($"FROM scratch\nCOPY --from={baseImage} /etc/group /opt /imported/\n");
        BuildHarness.AssertTree(
            [
                "imported dir 755 0:0",
                "imported/base.txt file 644 0:0 =base",
                "imported/group file 644 0:0 =root:x:0:\\nstaff:x:50:\\napp:x:1000:\\n",
            ],
            tree);
    }

    [Fact]
    public async Task HeredocsExpandUnlessQuoted()
    {
        var (_, tree) = await _build.BuildTreeAsync("""
            FROM scratch
            ARG WHO=world
            COPY <<EOF /hello.txt
            hello $WHO
            EOF
            COPY <<'RAW' <<two /docs/
            keep $WHO
            RAW
            second
            two
            COPY --chmod=755 <<-EOT /run.sh
            	#!/bin/sh
            	echo ${WHO:-x}
            	EOT
            """);
        BuildHarness.AssertTree(
            [
                "docs dir 755 0:0",
                "docs/RAW file 644 0:0 =keep $WHO\\n",
                "docs/two file 644 0:0 =second\\n",
                "hello.txt file 644 0:0 =hello world\\n",
                "run.sh file 755 0:0 =#!/bin/sh\\necho world\\n",
            ],
            tree);
    }

    [Theory]
    [InlineData("gzip", "-z")]
    [InlineData("bzip2", "-j")]
    [InlineData("xz", "-J")]
    [InlineData("none", "")]
    public async Task AddUnpacksLocalArchives(string name, string flag)
    {
        var staging = _build.Combine("archive-src-" + name);
        Directory.CreateDirectory(Path.Combine(staging, "pkg", "lib"));
        File.WriteAllText(Path.Combine(staging, "pkg", "lib", "x.so"), "so");
        File.WriteAllText(Path.Combine(staging, "pkg", "VERSION"), "1");
        Directory.CreateDirectory(_build.ContextDirectory);
        var archive = Path.Combine(_build.ContextDirectory, "pkg.tar.any");
        ProcessRunner.Run("tar", ["-c", .. flag.Length > 0 ? new[] { flag } : [], "--owner=7", "--group=8", "-f", archive, "-C", staging, "pkg"]);
        _build.File("plain.txt", "not an archive");
        var (_, tree) = await _build.BuildTreeAsync("FROM scratch\nADD pkg.tar.any plain.txt /opt/\n");
        BuildHarness.AssertTree(
            [
                "opt dir 755 0:0",
                "opt/pkg dir 755 7:8",
                "opt/pkg/VERSION file 644 7:8 =1",
                "opt/pkg/lib dir 755 7:8",
                "opt/pkg/lib/x.so file 644 7:8 =so",
                "opt/plain.txt file 644 0:0 =not an archive",
            ],
            tree);
    }

    [Fact]
    public async Task RunIsRefusedBeforeAnyWork()
    {
        _build.File("a", "a");
        var staging = _build.Combine("never");
        var ex = await Assert.ThrowsAsync<DockerfileInstructionUnsupportedException>(() =>
            _build.BuildAsync("FROM scratch\nCOPY a /\n\nRUN apt-get update && \\\n  apt-get install -y curl\n", "oci:" + _build.Combine("x"), o => o with { StagingDirectory = staging }));
        Assert.Equal(4, ex.Line);
        Assert.Equal("RUN", ex.Keyword);
        Assert.StartsWith("Dockerfile:4: RUN is not supported", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(staging));
    }

    [Fact]
    public async Task SameInputsGiveTheSameDigest()
    {
        _build.File("a.txt", "a").File("dir/b.txt", "b");
        const string Dockerfile = "FROM scratch\nCOPY . /app/\nCMD [\"/app/a.txt\"]\n";
        var first = await _build.BuildAsync(Dockerfile, "oci:" + _build.Combine("r1"));
        File.SetLastWriteTimeUtc(Path.Combine(_build.ContextDirectory, "a.txt"), DateTime.UtcNow.AddDays(-3));
        var second = await _build.BuildAsync(Dockerfile, "oci:" + _build.Combine("r2"));
        Assert.Equal(first.Digest, second.Digest);
        var zstd = await _build.BuildAsync(Dockerfile, "oci:" + _build.Combine("r3"), o => o with { Compression = BuildCompression.Zstd });
        var zstdAgain = await _build.BuildAsync(Dockerfile, "oci:" + _build.Combine("r4"), o => o with { Compression = BuildCompression.Zstd });
        Assert.Equal(zstd.Digest, zstdAgain.Digest);
        Assert.NotEqual(first.Digest, zstd.Digest);
        Assert.Single(first.Images[0].NewLayers);
    }

    [Fact]
    public async Task SeveralPlatformsMakeAnIndex()
    {
        _build.File("a", "a");
        var layout = _build.Combine("multi");
        var result = await _build.BuildAsync("FROM scratch\nARG TARGETARCH\nCOPY a /$TARGETARCH\n", "oci:" + layout + ":t", o => o with
        {
            Format = BuildFormat.Oci,
            Platforms = [Platform.Parse("linux/amd64"), Platform.Parse("linux/arm64")],
        });
        Assert.Equal(ManifestKind.Index, result.Root.Kind);
        Assert.Equal(["linux/amd64", "linux/arm64"], result.Root.Index.Manifests.Select(m => m.Platform!.ToString()));
        var arm = Skopeo.Inspect("oci:" + layout + ":t", "--override-arch", "arm64");
        Assert.Equal("arm64", arm.GetProperty("Architecture").GetString());
    }

    [Fact]
    public async Task DockerFormatIsDockerMediaTypes()
    {
        _build.File("a", "a");
        // skopeo reads only OCI manifests from a layout; the manifest itself is checked here, podman loads it elsewhere.
        var result = await _build.BuildAsync("FROM scratch\nCOPY a /\n", "oci:" + _build.Combine("docker") + ":t");
        var manifest = JsonDocument.Parse(result.Root.Bytes).RootElement;
        Assert.Equal("application/vnd.docker.distribution.manifest.v2+json", manifest.GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.docker.container.image.v1+json", manifest.GetProperty("config").GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.docker.image.rootfs.diff.tar.gzip", manifest.GetProperty("layers")[0].GetProperty("mediaType").GetString());
    }

    [Fact]
    public async Task SymlinksInTheContextStayLinks()
    {
        _build.File("real.txt", "r");
        Directory.CreateDirectory(Path.Combine(_build.ContextDirectory, "d"));
        File.CreateSymbolicLink(Path.Combine(_build.ContextDirectory, "d", "link"), "../real.txt");
        File.CreateSymbolicLink(Path.Combine(_build.ContextDirectory, "top"), "real.txt");
        var (_, tree) = await _build.BuildTreeAsync("FROM scratch\nCOPY d /d/\nCOPY top /followed\n");
        BuildHarness.AssertTree(["d dir 755 0:0", "d/link link 777 0:0 -> ../real.txt", "followed file 644 0:0 =r"], tree);
    }

    [Fact]
    public async Task DockerArchiveLoadsWithPodman()
    {
        _build.File("hello.txt", "hello");
        var archive = _build.Combine("image.tar");
        var name = "localhost/ocips-build-test:" + Guid.NewGuid().ToString("N")[..8];
        var result = await _build.BuildAsync("FROM scratch\nCOPY hello.txt /\nENV GREETING=hi\nCMD [\"/hello.txt\"]\n", "docker-archive:" + archive + ":" + name);
        try
        {
            var loaded = ProcessRunner.Run("podman", ["load", "-i", archive]);
            Assert.Contains(name, loaded.StandardOutput + loaded.StandardError, StringComparison.Ordinal);
            var inspect = JsonDocument.Parse(ProcessRunner.Run("podman", ["image", "inspect", name]).StandardOutput).RootElement[0];
            Assert.Equal(result.Images[0].Config.Digest.ToString(), inspect.GetProperty("Id").GetString() is { } id ? "sha256:" + id : null);
            Assert.Contains("GREETING=hi", inspect.GetProperty("Config").GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(["/hello.txt"], inspect.GetProperty("Config").GetProperty("Cmd").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(result.Images[0].Manifest.Manifest.Layers.Count, inspect.GetProperty("RootFS").GetProperty("Layers").GetArrayLength());
        }
        finally
        {
            ProcessRunner.Run("podman", ["rmi", "-f", name], check: false);
        }
    }

    [Fact]
    public async Task AddDownloadsUrlsCheckedByChecksum()
    {
        var content = "downloaded payload\n"u8.ToArray();
        var (listener, port) = LoopbackHttpListener.Start();
        using var _ = listener;
        var serving = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                System.Net.HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is System.Net.HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                context.Response.ContentLength64 = content.Length;
                await context.Response.OutputStream.WriteAsync(content);
                context.Response.Close();
            }
        });
        var digest = Digest.Compute(content);
        var (_, tree) = await _build.BuildTreeAsync($"FROM scratch\nADD --checksum={digest} http://127.0.0.1:{port}/files/tool.bin /opt/\nADD http://127.0.0.1:{port}/x /named\n");
        BuildHarness.AssertTree(["named file 600 0:0 =downloaded payload\\n", "opt dir 755 0:0", "opt/tool.bin file 600 0:0 =downloaded payload\\n"], tree);

        var wrong = Digest.Compute("other"u8);
        var ex = await Assert.ThrowsAsync<DigestMismatchException>(() => _build.BuildAsync($"FROM scratch\nADD --checksum={wrong} http://127.0.0.1:{port}/f /f\n", "oci:" + _build.Combine("bad")));
        Assert.Contains("Dockerfile:2:", ex.Message, StringComparison.Ordinal);
        listener.Stop();
        await serving;
    }

    [Fact]
    public async Task FromARegistryPushesOnlyTheNewLayers()
    {
        using var registry = LocalRegistry.Start();
        var baseLayout = _build.Combine("registry-base");
        await Registry.RegistryFixture.WriteImageAsync(baseLayout, "v1");
        Skopeo.Copy("oci:" + baseLayout + ":v1", $"docker://{registry.Host}/base/image:v1", registry.SkopeoOptions(destination: true));
        _build.File("app.txt", "app");
        File.WriteAllText(Path.Combine(_build.ContextDirectory, "Dockerfile"), $"FROM {registry.Host}/base/image:v1\nCOPY app.txt /srv/\nCMD [\"/srv/app.txt\"]\n");
        var sourceOptions = Registry.RegistryFixture.Options(_build.Combine("cache"), registry);
        var result = await OciPS.Core.Build.ImageBuilder.BuildAsync(
            new ImageBuildOptions { ContextDirectory = _build.ContextDirectory, StagingDirectory = _build.Combine("registry-staging"), SourceOptions = sourceOptions, SourceDateEpoch = 1 },
            CancellationToken.None);

        var destination = OciPS.Core.References.ImageLocation.Parse($"{registry.Host}/team/app:1");
        var copy = await BuildOutput.WriteAsync(result.Source, destination, new ImageDestinationOptions { Registry = sourceOptions.Registry }, moveStagedBlobs: false, CancellationToken.None);
        Assert.NotNull(copy);
        Assert.Equal(2, copy.BlobsMounted);
        Assert.Equal(2, copy.BlobsCopied);
        var inspect = Skopeo.Inspect($"docker://{registry.Host}/team/app:1", registry.SkopeoInspectOptions());
        Assert.Equal(result.Digest.ToString(), inspect.GetProperty("Digest").GetString());
        Assert.Equal(3, inspect.GetProperty("Layers").GetArrayLength());

        var again = await BuildOutput.WriteAsync(result.Source, OciPS.Core.References.ImageLocation.Parse($"{registry.Host}/base/image:v2"), new ImageDestinationOptions { Registry = sourceOptions.Registry }, moveStagedBlobs: false, CancellationToken.None);
        Assert.Equal(2, again!.BlobsSkipped);
        Assert.Equal(2, again.BlobsCopied);
    }

    /// <summary>
    /// Base layers are never uploaded again (mounted), and downloaded only when an instruction must see the
    /// base's files to behave as in Docker (a COPY without --link into the base's directories, a WORKDIR, a
    /// --chown by name): BuildKit reads the base for these too. A build of --link copies and metadata reads
    /// no base layer; a tinyproxy log of every request the source and destination sent shows it.
    /// </summary>
    [Theory]
    [InlineData("COPY --link app.txt /srv/\nENV A=1\nUSER 1000:1000\nLABEL l=v\nCMD [\"/srv/app.txt\"]\n", false)]
    [InlineData("ENV A=1\nEXPOSE 80\nSTOPSIGNAL SIGINT\n", false)]
    [InlineData("COPY app.txt /srv/\n", true)]
    [InlineData("WORKDIR /srv\n", true)]
    public async Task BaseLayersAreDownloadedOnlyWhenAnInstructionReadsTheBaseFiles(string instructions, bool readsBase)
    {
        using var registry = LocalRegistry.Start();
        using var proxy = PeerProxy.StartTinyproxy();
        var baseLayout = _build.Combine("registry-base");
        await Registry.RegistryFixture.WriteImageAsync(baseLayout, "v1");
        Skopeo.Copy("oci:" + baseLayout + ":v1", $"docker://{registry.Host}/base/image:v1", registry.SkopeoOptions(destination: true));
        var baseLayers = Skopeo.Inspect($"docker://{registry.Host}/base/image:v1", registry.SkopeoInspectOptions()).GetProperty("Layers").EnumerateArray().Select(l => l.GetString()!).ToArray();
        _build.File("app.txt", "app");
        File.WriteAllText(Path.Combine(_build.ContextDirectory, "Dockerfile"), $"FROM {registry.Host}/base/image:v1\n{instructions}");
        var direct = Registry.RegistryFixture.Options(_build.Combine("cache"), registry);
        var sourceOptions = direct with { Registry = direct.Registry with { Proxy = proxy.Address } };

        var result = await OciPS.Core.Build.ImageBuilder.BuildAsync(
            new ImageBuildOptions { ContextDirectory = _build.ContextDirectory, StagingDirectory = _build.Combine("registry-staging"), SourceOptions = sourceOptions, SourceDateEpoch = 1 },
            CancellationToken.None);
        var copy = await BuildOutput.WriteAsync(result.Source, OciPS.Core.References.ImageLocation.Parse($"{registry.Host}/team/app:1"), new ImageDestinationOptions { Registry = sourceOptions.Registry }, moveStagedBlobs: false, CancellationToken.None);

        Assert.Equal(baseLayers.Length, copy!.BlobsMounted);
        Assert.True(proxy.Carried($"/v2/team/app/manifests/1"), string.Join("\n", proxy.Requests));
        var downloaded = baseLayers.Where(digest => proxy.Carried($"GET http://{registry.Host}/v2/base/image/blobs/{digest}")).ToArray();
        Assert.True(readsBase ? downloaded.Length == baseLayers.Length : downloaded.Length == 0, string.Join("\n", proxy.Requests));
        Assert.Equal(result.Digest.ToString(), Skopeo.Inspect($"docker://{registry.Host}/team/app:1", registry.SkopeoInspectOptions()).GetProperty("Digest").GetString());
    }
}
