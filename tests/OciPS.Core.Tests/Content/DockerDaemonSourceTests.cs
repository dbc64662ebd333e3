using System.Diagnostics;
using OciPS.Core.Content;
using OciPS.Core.Git;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Tests.Git;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Content;

/// <summary>
/// docker-daemon: against Podman's Docker-compatible API service, started by the test on its own
/// socket with its own storage, holding an image the test built and loaded with <c>podman load</c>.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class DockerDaemonSourceTests : IDisposable
{
    private readonly TempDirectory _temp = new("daemon");
    private readonly string[] _storage;
    private readonly Process _service;
    private readonly string _socket;

    public DockerDaemonSourceTests()
    {
        _storage = ["--root", _temp.Combine("root"), "--runroot", _temp.Combine("runroot"), "--storage-driver", "vfs"];
        _socket = _temp.Combine("podman.sock");
        var start = new ProcessStartInfo(PeerTools.Resolve("podman")) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in _storage.Concat(["system", "service", "--time=0", "unix://" + _socket]))
        {
            start.ArgumentList.Add(argument);
        }

        _service = Process.Start(start)!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(_socket) && DateTime.UtcNow < deadline && !_service.HasExited)
        {
            Thread.Sleep(100);
        }
    }

    public void Dispose()
    {
        if (!_service.HasExited)
        {
            _service.Kill(entireProcessTree: true);
            _service.WaitForExit(10_000);
        }

        _service.Dispose();
        _temp.Dispose();
    }

    private ImageSourceOptions Options => new() { DockerHost = "unix://" + _socket };

    private async Task<OciImage> LoadIntoPodmanAsync(string name)
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("layout"));
        await new ImageBuilder()
            .LayerTar(new TarLayer().Dir("etc").File("etc/os-release", "ID=daemon\n").Dir("bin").File("bin/tool", "#!tool", mode: 0x1ED).Symlink("bin/t", "tool").ToTar())
            .EmptyStep("ENV A=1")
            .LayerTar(new TarLayer().Whiteout("bin/t").File("etc/motd", "hello\n").ToTar(), "RUN rm /bin/t")
            .WriteAsync(layout, "t");
        var archive = _temp.Combine("image.tar");
        Skopeo.Copy($"oci:{layout.Root}:t", $"docker-archive:{archive}:{name}");
        ProcessRunner.Run("podman", [.. _storage, "load", "-i", archive]);
        return (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:t"), null, CancellationToken.None);
    }

    [Fact]
    public async Task ImageFromPodmansDockerApi_IsTheImageThatWasLoaded()
    {
        Assert.True(File.Exists(_socket), "podman system service did not create its socket");
        var original = await LoadIntoPodmanAsync("localhost/ocips-daemon:1");

        var source = ImageSources.Open(ImageLocation.Parse("docker-daemon:localhost/ocips-daemon:1"), Options);
        var image = (OciImage)await ImageLoader.LoadAsync(source, null, CancellationToken.None);

        Assert.Equal("docker-daemon:localhost/ocips-daemon:1", image.Location);
        Assert.Equal(original.ConfigDigest, image.ConfigDigest);
        Assert.Equal(original.Layers.Select(l => l.DiffId), image.Layers.Select(l => l.DiffId));
        Assert.Equal(original.History.Count, image.History.Count);

        // Converted to git, the daemon's image has the same files as the layout it came from.
        var fromDaemon = await GitRepoConverter.ConvertAsync(image, _temp.Combine("repo"), new GitConversionOptions { Branch = "daemon" }, null, null, null, CancellationToken.None);
        var fromLayout = await GitRepoConverter.ConvertAsync(original, _temp.Combine("repo"), new GitConversionOptions { Branch = "layout" }, null, null, null, CancellationToken.None);
        var repository = fromDaemon.RepositoryPath;
        Assert.Equal(GitRepoConverterTests.Git(repository, "rev-parse", "layout:rootfs"), GitRepoConverterTests.Git(repository, "rev-parse", "daemon:rootfs"));
        Assert.Equal(GitRepoConverterTests.Git(repository, "rev-parse", "layout:rootfs.meta"), GitRepoConverterTests.Git(repository, "rev-parse", "daemon:rootfs.meta"));
        Assert.Equal(fromLayout.Commits.Count, fromDaemon.Commits.Count);
    }

    [Fact]
    public async Task MissingImage_IsNotFound_NamingTheImage()
    {
        Assert.True(File.Exists(_socket), "podman system service did not create its socket");
        var source = ImageSources.Open(ImageLocation.Parse("docker-daemon:localhost/ocips-missing:1"), Options);
        var error = await Assert.ThrowsAsync<LocationNotFoundException>(() => ImageLoader.LoadAsync(source, null, CancellationToken.None));
        Assert.Contains("ocips-missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TcpDockerHost_IsRefusedAsUnsupported()
    {
        var error = Assert.Throws<UnsupportedContentException>(() => ImageSources.Open(ImageLocation.Parse("docker-daemon:alpine:3"), new ImageSourceOptions { DockerHost = "tcp://127.0.0.1:2375" }));
        Assert.Equal("DaemonHostUnsupported", error.ErrorId);
    }
}
