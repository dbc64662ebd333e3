using OciPS.Core.Compare;
using OciPS.Core.Content;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Compare;

/// <summary>
/// The comparison behind Test-OciRootfs, checked against trees written by OciPS and by umoci (an
/// independent writer), and against trees changed behind its back.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RootfsComparerTests : IDisposable
{
    private static readonly byte[] Capability = Convert.FromHexString("0100000280040000000000000000000000000000");
    private readonly TempDirectory _temp = new("compare");

    public void Dispose() => _temp.Dispose();

    private async Task<OciImage> BuildAsync()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("layout"));
        var builder = new ImageBuilder();
        builder.LayerTar(new TarLayer()
            .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/shadow", "secret", mode: 0x180, gid: 42)
            .Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Hardlink("bin/ash", "bin/busybox").Symlink("bin/ls", "busybox")
            .Dir("usr/bin").File("usr/bin/sudo", "sudo", mode: 0x9ED).File("usr/bin/ping", "ping", mode: 0x1ED, xattrs: new Dictionary<string, byte[]> { ["security.capability"] = Capability })
            .Dir("tmp", mode: 0x3FF).Node("dev/null", TarEntryKind.CharDevice, 1, 3).Node("run/initctl", TarEntryKind.Fifo, mode: 0x180)
            .File("caf\udce9", "latin-1 name").ToTar());
        builder.LayerTar(new TarLayer().Whiteout("etc/shadow").File("opt/data", new byte[300_000]).ToTar());
        await builder.WriteAsync(layout, "t");
        return (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:t"), null, CancellationToken.None);
    }

    private async Task<string> ExportAsync(OciImage image, RootfsFormat format, string name)
    {
        var path = _temp.Combine(name);
        await using var sink = RootfsExport.CreateSink(format, path, new RootfsExportOptions(), null);
        await RootfsExport.RunAsync(LayerMerger.For(image).MergeAsync(CancellationToken.None), sink, CancellationToken.None);
        return path;
    }

    private static Task<IReadOnlyList<OciRootfsDifference>> CompareAsync(OciImage image, string tree, RootfsProperties ignore = RootfsProperties.None) =>
        RootfsComparer.CompareAsync(RootfsComparer.FromMerge(LayerMerger.For(image).MergeAsync(CancellationToken.None)), RootfsReader.Open(tree, CancellationToken.None), ignore, CancellationToken.None);

    [RootFact]
    public async Task DirectoryAndTarExports_EqualTheImage()
    {
        var image = await BuildAsync();
        Assert.Empty(await CompareAsync(image, await ExportAsync(image, RootfsFormat.Directory, "dir")));
        Assert.Empty(await CompareAsync(image, await ExportAsync(image, RootfsFormat.Tar, "rootfs.tar")));
    }

    [RootFact]
    public async Task UmociUnpack_EqualsTheImage_ButForTheTimesOfParentsItCreates()
    {
        var image = await BuildAsync();
        var umoci = _temp.Combine("umoci");
        Umoci.Run("raw", "unpack", "--image", _temp.Combine("layout") + ":t", umoci);

        var differences = await CompareAsync(image, umoci);
        // "dev", "run" and "opt" are never listed by the layers: both writers create them, at the time of writing.
        Assert.All(differences, d => Assert.True(d.Kind == RootfsDifferenceKind.Extra && d.Path is "dev" or "run" or "opt" || d.Kind == RootfsDifferenceKind.ModifiedTime, d.ToString()));
        Assert.Empty(await CompareAsync(image, umoci, RootfsProperties.DirectoryModifiedTime));
    }

    [RootFact]
    public async Task ChangesBehindItsBack_AreEachReported()
    {
        var image = await BuildAsync();
        var tree = await ExportAsync(image, RootfsFormat.Directory, "changed");
        // Break the hardlink group: ash gets its own inode with the same bytes.
        File.Delete(Path.Combine(tree, "bin", "ash"));
        File.WriteAllText(Path.Combine(tree, "bin", "ash"), "#!busybox");
        ProcessRunner.Run("chmod", ["0755", Path.Combine(tree, "bin", "ash")]);
        ProcessRunner.Run("touch", ["-h", "-d", "@1700000000.25", Path.Combine(tree, "bin", "ash")]);
        ProcessRunner.Run("setfattr", ["-x", "security.capability", Path.Combine(tree, "usr", "bin", "ping")]);
        ProcessRunner.Run("chown", ["-h", "7:7", Path.Combine(tree, "etc", "passwd")]);
        File.Delete(Path.Combine(tree, "dev", "null"));
        ProcessRunner.Run("mknod", ["-m", "0666", Path.Combine(tree, "dev", "null"), "c", "1", "5"]);
        await using (var data = File.OpenWrite(Path.Combine(tree, "opt", "data")))
        {
            data.Position = 150_000;
            data.WriteByte(1);
        }

        var differences = (await CompareAsync(image, tree, RootfsProperties.ModifiedTime)).Select(d => (d.Path, d.Kind)).ToArray();
        Assert.Equal(
            [
                // Every name of the group it left: the group is not what it was for any of them.
                ("bin/ash", RootfsDifferenceKind.Hardlink),
                ("bin/busybox", RootfsDifferenceKind.Hardlink),
                ("bin/sh", RootfsDifferenceKind.Hardlink),
                ("dev/null", RootfsDifferenceKind.Device),
                ("etc/passwd", RootfsDifferenceKind.Owner),
                ("opt/data", RootfsDifferenceKind.Content),
                ("usr/bin/ping", RootfsDifferenceKind.Xattrs),
            ],
            differences);
        var group = (await CompareAsync(image, tree, RootfsProperties.ModifiedTime)).First(d => d.Path == "bin/sh");
        Assert.Equal(("bin/ash, bin/busybox, bin/sh", "bin/busybox, bin/sh"), (group.Expected, group.Actual));
    }
}
