using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;

namespace OciPS.Module.Tests;

/// <summary>
/// The images the docs' examples and the module tests use, in one working directory:
/// <list type="bullet">
/// <item><c>./layout</c>, an OCI layout: tag <c>1.0</c> (linux/amd64; a layer adding etc/hello,
/// etc/old, bin/tool and a symlink; an ENV step; a layer deleting etc/old and adding etc/new),
/// tag <c>multi</c> (an index of linux/amd64 and linux/arm64 images, the arm64 layer zstd-compressed).</item>
/// <item><c>./image.tar</c>, the same layout as an OCI archive.</item>
/// <item><c>./saved.tar</c>, tag 1.0 as a docker save archive named <c>example/app:1.0</c>.</item>
/// <item>A docker-registry on 127.0.0.1 (<see cref="RegistryHost"/>, <c>$registry</c> in the docs' examples)
/// holding <c>example/app:1.0</c> and <c>example/app:multi</c>; pulls go to a cache in the working
/// directory (<c>OCIPS_CACHE</c>).</item>
/// <item><c>./artifact/</c>, pack files and the files they pack (see <see cref="WriteArtifactFiles"/>).</item>
/// </list>
/// </summary>
public sealed class FixtureImages : IDisposable
{
    private readonly TempDirectory _directory = new("module");
    private LocalRegistry? _registry;

    public FixtureImages()
    {
        Build().GetAwaiter().GetResult();
    }

    public string WorkingDirectory => _directory.Path;

    public string Layout => _directory.Combine("layout");

    public Digest ImageDigest { get; private set; } = null!;

    public Digest IndexDigest { get; private set; } = null!;

    public Digest Arm64Digest { get; private set; } = null!;

    /// <summary>The test registry's host (<c>127.0.0.1:port</c>).</summary>
    public string RegistryHost => _registry!.Host;

    public void Dispose()
    {
        _registry?.Dispose();
        _directory.Dispose();
    }

    private async Task Build()
    {
        var layout = OciLayoutWriter.Open(Layout);
        var image = await new ImageBuilder()
            .Layer(
                new LayerBuilder()
                    .Directory("etc").File("etc/hello", "hello\n").File("etc/old", "old\n")
                    .Directory("bin").File("bin/tool", "#!/bin/sh\necho tool\n", mode: 0x1ED)
                    .Symlink("bin/alias", "tool"),
                "COPY rootfs/ /")
            .EmptyStep("ENV GREETING=hello")
            .Layer(new LayerBuilder().Whiteout("etc/old").File("etc/new", "new\n"), "RUN rm /etc/old && echo new > /etc/new")
            .Env("GREETING=hello")
            .WriteAsync(layout, "1.0");
        ImageDigest = image.Digest;

        var amd64 = await new ImageBuilder { Platform = Platform.Parse("linux/amd64") }.Layer(new LayerBuilder().File("arch", "amd64\n")).WriteAsync(layout);
        var arm64 = await new ImageBuilder { Platform = Platform.Parse("linux/arm64") }.Layer(new LayerBuilder().File("arch", "arm64\n"), compression: FixtureCompression.Zstd).WriteAsync(layout);
        Arm64Digest = arm64.Digest;
        IndexDigest = (await ImageBuilder.WriteIndexAsync(layout, [amd64, arm64], "multi")).Digest;

        ArchiveWriter.WriteOciArchive(Layout, _directory.Combine("image.tar"));
        var saved = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{Layout}:1.0"), null, CancellationToken.None);
        await ArchiveWriter.WriteDockerArchiveAsync(saved, _directory.Combine("saved.tar"), "example/app:1.0");

        _registry = LocalRegistry.Start();
        Environment.SetEnvironmentVariable("OCIPS_CACHE", _directory.Combine(".cache"));
        Skopeo.Copy($"oci:{Layout}:1.0", $"docker://{_registry.Host}/example/app:1.0", _registry.SkopeoOptions(destination: true));
        Skopeo.Copy($"oci:{Layout}:multi", $"docker://{_registry.Host}/example/app:multi", "--all", "--dest-tls-verify=false");
        WriteArtifactFiles();
    }

    /// <summary>
    /// <c>./artifact/pack.yaml</c> (a template, a schema config and a directory), <c>multi.yaml</c> (a tool per
    /// platform plus a common readme) and <c>bundle.yaml</c> (the arm64 image of <c>layout:multi</c> and a file).
    /// </summary>
    private void WriteArtifactFiles()
    {
        _directory.WriteFile("artifact/config.tmpl", "listen: ${PORT}\n");
        _directory.WriteFile("artifact/schema.json", "{\"type\":\"object\"}\n");
        _directory.WriteFile("artifact/data/readme.txt", "read me\n");
        _directory.WriteFile("artifact/data/licenses/MIT.txt", "MIT\n");
        _directory.WriteFile("artifact/bin/amd64/tool", "amd64 tool\n");
        _directory.WriteFile("artifact/bin/arm64/tool", "arm64 tool\n");
        _directory.WriteFile("artifact/pack.yaml", """
            type: application/vnd.example.config.bundle
            annotations:
              org.opencontainers.image.title: Example configuration
              org.opencontainers.image.version: ${VERSION:-1.0.0}
            config:
              from: file://schema.json
              type: application/vnd.example.schema.v1+json
            items:
              - from: file://config.tmpl
                type: application/vnd.example.template
                annotations:
                  description: Configuration template
              - from: dir://data/
                type: application/vnd.example.data.v1.tar+gzip
            """);
        _directory.WriteFile("artifact/multi.yaml", """
            type: application/vnd.example.tools
            items:
              - from: data/readme.txt
              - from: bin/amd64/tool
                platform: linux/amd64
              - from: bin/arm64/tool
                platform: linux/arm64
            """);
        _directory.WriteFile("artifact/bundle.yaml", """
            type: application/vnd.example.bundle
            items:
              - from: oci:../layout:multi
                platform: linux/arm64
              - from: data/readme.txt
            """);
    }
}
