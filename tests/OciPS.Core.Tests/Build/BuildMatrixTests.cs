using System.Text.Json;
using OciPS.Core.Build;
using OciPS.Core.Content;
using OciPS.Core.Tests.Registry;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;
using FixtureImage = OciPS.TestSupport.Fixtures.ImageBuilder;

namespace OciPS.Core.Tests.Build;

/// <summary>
/// Dockerfiles built FROM a base in a local registry to each kind of destination (the registry, an
/// OCI archive, a docker archive): read back by skopeo (config) and unpacked by umoci, compared with
/// the tree Docker produces for the same Dockerfile, written out here.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class BuildMatrixTests : IDisposable
{
    private const string Passwd = "root:x:0:0::/root:/bin/sh\n";
    private const string Group = "root:x:0:\napp:x:1000:\n";

    private static readonly string[] BaseTree =
    [
        "bin link 777 0:0 -> usr/bin",
        "etc dir 755 0:0",
        "etc/group file 644 0:0 =root:x:0:\\napp:x:1000:\\n",
        "etc/passwd file 644 0:0 =root:x:0:0::/root:/bin/sh\\n",
        "srv dir 755 0:0",
        "tmp dir 1777 0:0",
        "usr dir 755 0:0",
        "usr/bin dir 755 0:0",
        "usr/bin/sh file 755 0:0 =#!sh",
    ];

    private readonly BuildHarness _build = new();
    private readonly LocalRegistry _registry = LocalRegistry.Start();

    public void Dispose()
    {
        _registry.Dispose();
        _build.Dispose();
    }

    private async Task<string> PushBaseAsync()
    {
        var layout = OciLayoutWriter.Open(_build.Combine("base"));
        await new FixtureImage()
            .Layer(new LayerBuilder()
                .Symlink("bin", "usr/bin").Directory("etc").File("etc/passwd", Passwd).File("etc/group", Group)
                .Directory("srv").Directory("tmp", 0x3FF).Directory("usr").Directory("usr/bin").File("usr/bin/sh", "#!sh", 0x1ED))
            .WriteAsync(layout, "1");
        var reference = _registry.Host + "/matrix/base:1";
        Skopeo.Copy("oci:" + layout.Root + ":1", "docker://" + reference, _registry.SkopeoOptions(destination: true));
        return reference;
    }

    /// <summary>Builds to the destination kind; returns the build, the location skopeo reads and the umoci tree.</summary>
    private async Task<(ImageBuildResult Result, string Location, string[] Tree, JsonElement Config)> BuildToAsync(string kind, string name, string dockerfile, string baseReference)
    {
        var (destination, location, options) = kind switch
        {
            "registry" => ($"{_registry.Host}/matrix/{name}:t", $"docker://{_registry.Host}/matrix/{name}:t", _registry.SkopeoOptions()),
            "oci-archive" => ($"oci-archive:{_build.Combine(name + ".oci.tar")}:t", $"oci-archive:{_build.Combine(name + ".oci.tar")}:t", Array.Empty<string>()),
            _ => ($"docker-archive:{_build.Combine(name + ".docker.tar")}:example/{name}:t", $"docker-archive:{_build.Combine(name + ".docker.tar")}", Array.Empty<string>()),
        };
        var result = await _build.BuildAsync(dockerfile, destination, o => o with
        {
            BuildArgs = new Dictionary<string, string> { ["BASE"] = baseReference },
            SourceOptions = RegistryFixture.Options(_build.Combine("cache"), _registry),

            // As New-OciImage chooses: OCI manifests in OCI archives (skopeo reads no other kind there), Docker's elsewhere.
            Format = kind == "oci-archive" ? BuildFormat.Oci : BuildFormat.Docker,
        });
        var layout = _build.Combine("readback-" + name + "-" + kind);
        Skopeo.Copy(location, "oci:" + layout + ":t", options);
        string[] inspect = kind == "registry" ? _registry.SkopeoInspectOptions() : [];
        var config = JsonDocument.Parse(ProcessRunner.Run("skopeo", ["inspect", .. inspect, "--config", "--raw", location]).StandardOutput).RootElement.Clone();
        return (result, location, _build.Unpack(layout + ":t"), config);
    }

    [Theory]
    [InlineData("registry")]
    [InlineData("oci-archive")]
    [InlineData("docker-archive")]
    public async Task EveryInstructionOnARegistryBase(string destination)
    {
        var baseReference = await PushBaseAsync();
        _build.File("conf/app.conf", "conf");
        var staging = _build.Combine("pkg-src");
        Directory.CreateDirectory(Path.Combine(staging, "pkg"));
        File.WriteAllText(Path.Combine(staging, "pkg", "VERSION"), "1");
        ProcessRunner.Run("tar", ["-czf", Path.Combine(_build.ContextDirectory, "pkg.tgz"), "--owner=0", "--group=0", "--mode=u=rwX,go=rX", "-C", staging, "pkg"]);
        const string Dockerfile = """
            # syntax=docker/dockerfile:1
            ARG BASE
            FROM ${BASE}
            ARG VERSION=1.0 OWNER=1000
            ENV APP=/srv/app NAME="demo app"
            LABEL org.opencontainers.image.version=$VERSION team=ops
            WORKDIR $APP
            COPY --chown=${OWNER}:"$OWNER" --chmod=640 conf/ ./conf/
            COPY <<EOF ${APP}/motd
            $NAME $VERSION
            EOF
            ADD pkg.tgz /opt/
            USER 1000
            EXPOSE 8080/tcp 53/udp
            VOLUME /data
            STOPSIGNAL SIGINT
            HEALTHCHECK --interval=10s --retries=2 CMD ["/bin/check"]
            SHELL ["/bin/sh", "-ec"]
            ENTRYPOINT ["/srv/app/run"]
            CMD serve --port 80
            ONBUILD COPY . /src
            """;
        var (result, _, tree, config) = await BuildToAsync(destination, "every", Dockerfile, baseReference);
        string[] added =
        [
            "opt dir 755 0:0",
            "opt/pkg dir 755 0:0",
            "opt/pkg/VERSION file 644 0:0 =1",
            "srv/app dir 755 0:0",
            "srv/app/conf dir 755 1000:1000",
            "srv/app/conf/app.conf file 640 1000:1000 =conf",
            "srv/app/motd file 644 0:0 =demo app 1.0\\n",
        ];
        BuildHarness.AssertTree([.. BaseTree.Concat(added).Order(StringComparer.Ordinal)], tree);

        var container = config.GetProperty("config");
        string[] Strings(string property) => [.. container.GetProperty(property).EnumerateArray().Select(e => e.GetString()!)];
        Assert.Contains("APP=/srv/app", Strings("Env"));
        Assert.Contains("NAME=demo app", Strings("Env"));
        Assert.Equal("1.0", container.GetProperty("Labels").GetProperty("org.opencontainers.image.version").GetString());
        Assert.Equal("ops", container.GetProperty("Labels").GetProperty("team").GetString());
        Assert.Equal("/srv/app", container.GetProperty("WorkingDir").GetString());
        Assert.Equal("1000", container.GetProperty("User").GetString());
        Assert.Equal(["53/udp", "8080/tcp"], container.GetProperty("ExposedPorts").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["/data"], container.GetProperty("Volumes").EnumerateObject().Select(p => p.Name));
        Assert.Equal("SIGINT", container.GetProperty("StopSignal").GetString());
        Assert.Equal(["CMD", "/bin/check"], container.GetProperty("Healthcheck").GetProperty("Test").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(10_000_000_000L, container.GetProperty("Healthcheck").GetProperty("Interval").GetInt64());
        Assert.Equal(["/bin/sh", "-ec"], Strings("Shell"));
        Assert.Equal(["/srv/app/run"], Strings("Entrypoint"));
        Assert.Equal(["/bin/sh", "-ec", "serve --port 80"], Strings("Cmd"));
        Assert.Equal(["COPY . /src"], Strings("OnBuild"));
        Assert.Equal("2023-11-14T22:13:20Z", config.GetProperty("created").GetString());
        Assert.Equal(4, result.Images[0].NewLayers.Count);

        if (destination == "registry")
        {
            // The same build again gives the same digest (SOURCE_DATE_EPOCH), and the registry serves it.
            var again = await _build.BuildAsync(Dockerfile, $"{_registry.Host}/matrix/again:t", o => o with
            {
                BuildArgs = new Dictionary<string, string> { ["BASE"] = baseReference },
                SourceOptions = RegistryFixture.Options(_build.Combine("cache"), _registry),
            });
            Assert.Equal(result.Digest, again.Digest);
            Assert.Equal(result.Digest.ToString(), Skopeo.InspectWith($"docker://{_registry.Host}/matrix/again:t", _registry.SkopeoInspectOptions()).GetProperty("Digest").GetString());
        }
    }

    [Theory]
    [InlineData("registry")]
    [InlineData("oci-archive")]
    [InlineData("docker-archive")]
    public async Task MultiStageCopyFromAnImageIgnoreFileAndGlobs(string destination)
    {
        var baseReference = await PushBaseAsync();
        _build.File(".dockerignore", "Dockerfile\n.dockerignore\n*.log\n!keep.log\nsecret/\n")
            .File("tool.sh", "echo tool\n").File("a.txt", "a").File("b.txt", "b").File("x.log", "x").File("keep.log", "k").File("secret/key", "s");
        const string Dockerfile = """
            ARG BASE
            ARG TARGET=linux/amd64
            FROM ${BASE} AS tools
            COPY --chmod=755 tool.sh /usr/local/bin/tool

            FROM scratch AS never
            RUN exit 1

            FROM --platform=$TARGET scratch
            ARG BASE
            COPY --from=tools /usr/local/bin/tool /bin/
            COPY --from=${BASE} /etc/group /etc/
            COPY --link *.txt /docs/
            COPY . /ctx/
            """;
        var (_, _, tree, config) = await BuildToAsync(destination, "multi", Dockerfile, baseReference);
        BuildHarness.AssertTree(
            [
                "bin dir 755 0:0",
                "bin/tool file 755 0:0 =echo tool\\n",
                "ctx dir 755 0:0",
                "ctx/a.txt file 644 0:0 =a",
                "ctx/b.txt file 644 0:0 =b",
                "ctx/keep.log file 644 0:0 =k",
                "ctx/tool.sh file 644 0:0 =echo tool\\n",
                "docs dir 755 0:0",
                "docs/a.txt file 644 0:0 =a",
                "docs/b.txt file 644 0:0 =b",
                "etc dir 755 0:0",
                "etc/group file 644 0:0 =root:x:0:\\napp:x:1000:\\n",
            ],
            tree);
        Assert.Equal("amd64", config.GetProperty("architecture").GetString());
    }
}
