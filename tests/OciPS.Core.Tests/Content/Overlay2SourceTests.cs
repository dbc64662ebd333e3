using System.Security.Cryptography;
using System.Text;
using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks.Directory;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Content;

/// <summary>
/// Docker's overlay2 store, built by hand the way Docker's driver lays it out (each layer extracted by
/// GNU tar, then its <c>.wh.</c> files turned into 0:0 character devices and its opaque markers into
/// <c>trusted.overlay.opaque=y</c>), merges to the same tree as the OCI image of the same layers.
/// Root only: whiteout devices and trusted.* attributes need it.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class Overlay2SourceTests : IDisposable
{
    private readonly TempDirectory _temp = new("overlay2");

    public void Dispose() => _temp.Dispose();

    private static TarLayer[] Layers() =>
    [
        new TarLayer()
            .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/shadow", "secret", mode: 0x180, gid: 42)
            .Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Symlink("bin/ls", "busybox")
            .Dir("usr/bin").File("usr/bin/sudo", "sudo", mode: 0x9ED)
            .File("usr/bin/tagged", "t", xattrs: new Dictionary<string, byte[]> { ["user.comment"] = "hello"u8.ToArray() })
            .Dir("tmp", mode: 0x3FF).Node("dev/null", TarEntryKind.CharDevice, 1, 3).Node("run/initctl", TarEntryKind.Fifo, mode: 0x180)
            .Dir("home/user", uid: 1000, gid: 1000).File("home/user/.profile", "export A=1\n", uid: 1000, gid: 1000)
            .Dir("opt/app").File("opt/app/old", "old").File("opt/app/stays", "stays").Dir("opt/cache").File("opt/cache/x", "x")
            .File("caf\udce9", "latin-1 name"),
        new TarLayer()
            .Whiteout("opt/app/old").Opaque("opt/cache").File("opt/cache/y", "y")
            .File("etc/passwd", "root:x:0:0::/root:/bin/ash\n").Dir("lib").File("lib/libc.so", "libc", mode: 0x1ED),
        new TarLayer()
            .Whiteout("home").File("bin/busybox", "#!busybox v2", mode: 0x1ED),
    ];

    /// <summary>A Docker root holding one image of <paramref name="layers"/>, tagged <c>app:1</c>.</summary>
    private string BuildDockerRoot(TarLayer[] layers, out IReadOnlyList<string> chainDirectories, out IReadOnlyList<string> layerDirectories)
    {
        var root = _temp.Combine("docker");
        var store = Path.Combine(root, "image", "overlay2");
        var chains = new List<string>();
        var directories = new List<string>();
        var diffIds = new List<string>();
        string? chain = null;
        for (var i = 0; i < layers.Length; i++)
        {
            var tar = layers[i].ToTar();
            var diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));
            diffIds.Add(diffId);
            var parent = chain;
            chain = parent is null ? diffId : "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(parent + " " + diffId)));
            var cacheId = $"cache{i:D2}" + new string('a', 56);
            var layerDirectory = Path.Combine(root, "overlay2", cacheId);
            ExtractAsOverlayDiff(tar, Path.Combine(layerDirectory, "diff"));
            directories.Add(layerDirectory);

            var chainDirectory = Path.Combine(store, "layerdb", "sha256", chain[7..]);
            Directory.CreateDirectory(chainDirectory);
            File.WriteAllText(Path.Combine(chainDirectory, "diff"), diffId);
            File.WriteAllText(Path.Combine(chainDirectory, "cache-id"), cacheId);
            File.WriteAllText(Path.Combine(chainDirectory, "size"), tar.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (parent is not null)
            {
                File.WriteAllText(Path.Combine(chainDirectory, "parent"), parent);
            }

            chains.Add(chainDirectory);
        }

        // Docker's short links (overlay2/l/<id> -> ../<cache-id>/diff) and each layer's "lower" file.
        Directory.CreateDirectory(Path.Combine(root, "overlay2", "l"));
        for (var i = 0; i < directories.Count; i++)
        {
            File.CreateSymbolicLink(Path.Combine(root, "overlay2", "l", $"SHORT{i}"), $"../{Path.GetFileName(directories[i])}/diff");
            if (i > 0)
            {
                File.WriteAllText(Path.Combine(directories[i], "lower"), string.Join(':', Enumerable.Range(0, i).Reverse().Select(j => $"l/SHORT{j}")));
            }
        }

        var config = Encoding.UTF8.GetBytes(
            "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"FROM_DOCKER=1\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" +
            string.Join(',', diffIds.Select(id => $"\"{id}\"")) + "]}}");
        var imageId = Convert.ToHexStringLower(SHA256.HashData(config));
        Directory.CreateDirectory(Path.Combine(store, "imagedb", "content", "sha256"));
        File.WriteAllBytes(Path.Combine(store, "imagedb", "content", "sha256", imageId), config);
        File.WriteAllText(Path.Combine(store, "repositories.json"), $"{{\"Repositories\":{{\"app\":{{\"app:1\":\"sha256:{imageId}\"}}}}}}");

        chainDirectories = chains;
        layerDirectories = directories;
        return root;
    }

    /// <summary>What Docker's overlay2 driver does with a layer tar: extract, whiteouts as 0:0 devices, opaque as an xattr.</summary>
    private static void ExtractAsOverlayDiff(byte[] tar, string diff)
    {
        Directory.CreateDirectory(diff);
        var archive = diff + ".tar";
        File.WriteAllBytes(archive, tar);
        ProcessRunner.Run("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", archive, "-C", diff]);
        File.Delete(archive);
        foreach (var marker in ProcessRunner.Run("find", [diff, "-name", ".wh.*"]).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var directory = Path.GetDirectoryName(marker)!;
            var name = Path.GetFileName(marker);
            File.Delete(marker);
            if (name == ".wh..wh..opq")
            {
                ProcessRunner.Run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", directory]);
            }
            else
            {
                ProcessRunner.Run("mknod", [Path.Combine(directory, name[4..]), "c", "0", "0"]);
            }
        }
    }

    private async Task<string> ExportAsync(string location, string name)
    {
        var image = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open(location), null, CancellationToken.None);
        var target = _temp.Combine(name);
        var issues = new List<MergeIssue>();
        await using (var sink = DirectorySink.Create(target, new DirectorySinkOptions()))
        {
            await foreach (var entry in LayerMerger.For(image, issues.Add).MergeAsync(CancellationToken.None))
            {
                await sink.AddAsync(entry.Entry, entry.Content, CancellationToken.None);
            }

            await sink.CompleteAsync(CancellationToken.None);
        }

        Assert.Empty(issues);
        return target;
    }

    private async Task<string> ExportOciAsync(TarLayer[] layers)
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("layout"));
        var builder = new ImageBuilder();
        foreach (var layer in layers)
        {
            builder.LayerTar(layer.ToTar());
        }

        await builder.WriteAsync(layout, "t");
        return await ExportAsync($"oci:{layout.Root}:t", "from-oci");
    }

    private static void AssertSameTree(string expected, string actual)
    {
        // A directory's time differs where overlay2 differs from a tar: an upper layer's diff holds every
        // parent of what it changed (created at extraction, or copied up), and removing a whiteout marker
        // touches its directory. Files and everything else keep their times exactly.
        static TreeEntry Normalise(TreeEntry entry) => entry.Type == "directory" ? entry with { ModifiedTime = "(directory time)" } : entry;
        var differences = TreeSnapshot.Differences(TreeSnapshot.Capture(expected), TreeSnapshot.Capture(actual), Normalise);
        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [RootFact]
    public async Task DockerRootWithImageName_MergesLikeTheOciImage()
    {
        var layers = Layers();
        var root = BuildDockerRoot(layers, out _, out _);
        var fromOci = await ExportOciAsync(layers);
        var fromOverlay = await ExportAsync($"overlay2:{root}:app:1", "from-overlay2");

        AssertSameTree(fromOci, fromOverlay);
        var tree = TreeSnapshot.Capture(fromOverlay);
        Assert.DoesNotContain("opt/app/old", tree.Keys);
        Assert.DoesNotContain("opt/cache/x", tree.Keys);
        Assert.Contains("opt/cache/y", tree.Keys);
        Assert.DoesNotContain("home", tree.Keys);
        Assert.Equal("0x" + Convert.ToHexStringLower("hello"u8), tree["usr/bin/tagged"].Xattrs["user.comment"]);
        Assert.DoesNotContain(tree.Values, entry => entry.Xattrs.Keys.Any(key => key.StartsWith("trusted.overlay.", StringComparison.Ordinal)));
    }

    [RootFact]
    public async Task DockerRoot_ConfigAndDiffIdsComeFromDockersStore()
    {
        var layers = Layers();
        var root = BuildDockerRoot(layers, out _, out _);
        var image = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"overlay2:{root}:app:1"), null, CancellationToken.None);

        Assert.Contains("FROM_DOCKER=1", image.Config!.Config!.Env!);
        var expected = layers.Select(layer => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(layer.ToTar()))).ToArray();
        Assert.Equal(expected, image.Layers.Select(layer => layer.Descriptor!.Digest.ToString()).ToArray());
    }

    [RootFact]
    public async Task ChainDirectoryAndLayerDirectory_GiveTheSameTree()
    {
        var layers = Layers();
        var root = BuildDockerRoot(layers, out var chains, out var directories);
        var byName = await ExportAsync($"overlay2:{root}:app:1", "by-name");
        var byChain = await ExportAsync($"overlay2:{chains[^1]}", "by-chain");
        var byDirectory = await ExportAsync(directories[^1], "by-bare-layer-directory");

        AssertSameTree(byName, byChain);
        AssertSameTree(byName, byDirectory);
    }

    [RootFact]
    public async Task GetOciFileView_ShowsOverlayWhiteoutsAsWhiteouts()
    {
        var root = BuildDockerRoot(Layers(), out _, out _);
        var image = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"overlay2:{root}:app:1"), null, CancellationToken.None);
        var entries = new List<OciFileEntry>();
        await foreach (var entry in LayerReader.ReadAsync(image.Layers[1], CancellationToken.None))
        {
            entries.Add(entry.Entry);
        }

        Assert.Contains(entries, e => e.Path == "opt/app/old" && e.Type == OciFileType.Whiteout);
        Assert.Contains(entries, e => e.Path == "opt/cache" && e.Type == OciFileType.OpaqueWhiteout);
        Assert.All(entries, e => Assert.Equal(1, e.LayerIndex));
    }

    [Fact]
    public void UnknownImageName_IsNotFoundAndListsTheNames()
    {
        var root = _temp.Combine("docker-empty");
        var store = Path.Combine(root, "image", "overlay2");
        Directory.CreateDirectory(Path.Combine(store, "imagedb", "content", "sha256"));
        File.WriteAllText(Path.Combine(store, "imagedb", "content", "sha256", new string('b', 64)), "{}");
        File.WriteAllText(Path.Combine(store, "imagedb", "content", "sha256", new string('c', 64)), "{}");
        File.WriteAllText(Path.Combine(store, "repositories.json"), "{\"Repositories\":{\"app\":{\"app:1\":\"sha256:" + new string('b', 64) + "\"},\"web\":{\"web:2\":\"sha256:" + new string('c', 64) + "\"}}}");

        var missing = Assert.Throws<ManifestNotFoundException>(() => ImageSources.Open($"overlay2:{root}:nope:1"));
        Assert.Equal("ManifestNotFound", missing.ErrorId);
        var ambiguous = Assert.Throws<ManifestNotFoundException>(() => ImageSources.Open($"overlay2:{root}"));
        Assert.Equal(["app:1", "web:2"], ambiguous.Available);
    }
}
