using OciPS.Core.Content;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks.Directory;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Merge;

/// <summary>
/// The merged tree OciPS writes equals what umoci raw unpack writes from the same image (as root, so
/// owners, devices and security xattrs are real), except where umoci departs from the image-spec.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class UmociCrossCheckTests : IDisposable
{
    private static readonly byte[] Capability = Convert.FromHexString("0100000280040000000000000000000000000000");
    private readonly TempDirectory _temp = new("umoci-merge");

    public void Dispose() => _temp.Dispose();

    private async Task<OciImage> BuildAsync(params TarLayer[] layers)
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("layout"));
        var builder = new ImageBuilder();
        foreach (var layer in layers)
        {
            builder.LayerTar(layer.ToTar());
        }

        await builder.WriteAsync(layout, "t");
        return (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:t"), null, CancellationToken.None);
    }

    private async Task<(IReadOnlyDictionary<string, TreeEntry> Ours, IReadOnlyDictionary<string, TreeEntry> Umoci, List<MergeIssue> Issues)> CompareAsync(OciImage image)
    {
        var ours = _temp.Combine("ours");
        var issues = new List<MergeIssue>();
        await using (var sink = DirectorySink.Create(ours, new DirectorySinkOptions()))
        {
            await foreach (var entry in LayerMerger.For(image, issues.Add).MergeAsync(CancellationToken.None))
            {
                await sink.AddAsync(entry.Entry, entry.Content, CancellationToken.None);
            }

            await sink.CompleteAsync(CancellationToken.None);
        }

        var theirs = _temp.Combine("umoci");
        Umoci.Run("raw", "unpack", "--image", _temp.Combine("layout") + ":t", theirs);
        return (TreeSnapshot.Capture(ours), TreeSnapshot.Capture(theirs), issues);
    }

    [RootFact]
    public async Task EveryKindOfEntry_AgreesWithUmoci()
    {
        var image = await BuildAsync(
            new TarLayer()
                .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/world-writable", "w", mode: 0x1B6).File("etc/none", "n", mode: 0).File("etc/shadow", "secret", mode: 0x180, uid: 0, gid: 42)
                .Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Symlink("bin/ls", "busybox")
                .Dir("usr/bin").File("usr/bin/sudo", "sudo", mode: 0x9ED).File("usr/bin/ping", "ping", mode: 0x1ED, xattrs: new Dictionary<string, byte[]> { ["security.capability"] = Capability })
                .File("usr/bin/tagged", "t", xattrs: new Dictionary<string, byte[]> { ["user.comment"] = "hello"u8.ToArray() })
                .Dir("tmp", mode: 0x3FF).Dir("var/mail", mode: 0xBFD, gid: 8)
                .Node("dev/null", TarEntryKind.CharDevice, 1, 3).Node("dev/loop9", TarEntryKind.BlockDevice, 7, 9).Node("run/initctl", TarEntryKind.Fifo, mode: 0x180)
                .Dir("home/user", uid: 1000, gid: 1000).File("home/user/.profile", "export A=1\n", uid: 1000, gid: 1000)
                .Dir("opt/app").File("opt/app/old", "old").File("opt/app/stays", "stays").Dir("opt/cache").File("opt/cache/x", "x")
                .File("caf\udce9", "latin-1 name"),
            new TarLayer()
                .Whiteout("opt/app/old").Opaque("opt/cache").File("opt/cache/y", "y")
                .File("etc/passwd", "root:x:0:0::/root:/bin/ash\n").Dir("lib").File("lib/libc.so", "libc", mode: 0x1ED)
                .File(string.Join('/', Enumerable.Repeat("long-directory-name-component", 8)) + "/leaf", "deep")
                .Symlink("lib/ld-musl.so.1", "/lib/libc.so"),
            new TarLayer()
                .Whiteout("home").File("bin/busybox", "#!busybox v2", mode: 0x1ED));

        var (ours, umoci, issues) = await CompareAsync(image);
        Assert.Empty(issues);
        // Parents the image never lists get the time of unpacking, from both tools.
        var differences = TreeSnapshot.Differences(umoci, ours, e => e.ModifiedTime.StartsWith("1700000000.", StringComparison.Ordinal) ? e : e with { ModifiedTime = "(time of unpacking)" });
        Assert.True(differences.Count == 0, string.Join("\n", differences));

        // The hardlink's target was replaced by the top layer: the link keeps the content it was made with.
        Assert.NotEqual(ours["bin/busybox"].ContentHash, ours["bin/sh"].ContentHash);
        Assert.Equal("1:3", ours["dev/null"].Device);
        Assert.Equal("0x" + Convert.ToHexString(Capability).ToLowerInvariant(), ours["usr/bin/ping"].Xattrs["security.capability"]);
        Assert.Equal("4755", ours["usr/bin/sudo"].Mode);
        Assert.Equal("666", ours["etc/world-writable"].Mode.TrimStart('0'));
        Assert.DoesNotContain("home/user", ours.Keys);
    }

    [RootFact]
    public async Task SetgidDestinationParent_DoesNotLendItsGroupToTheFiles()
    {
        // A new file in a setgid directory takes the directory's group, not its creator's: owners of
        // root-owned files must still be set explicitly, whatever the destination's parent is.
        var image = await BuildAsync(new TarLayer().Dir("etc").File("etc/hosts", "127.0.0.1 localhost\n").File("etc/group-42", "x", gid: 42));
        var shared = _temp.Combine("shared");
        Directory.CreateDirectory(shared);
        ProcessRunner.Run("chgrp", ["1234", shared]);
        ProcessRunner.Run("chmod", ["2775", shared]);
        var target = Path.Combine(shared, "rootfs");
        await using (var sink = DirectorySink.Create(target, new DirectorySinkOptions()))
        {
            await foreach (var entry in LayerMerger.For(image, _ => { }).MergeAsync(CancellationToken.None))
            {
                await sink.AddAsync(entry.Entry, entry.Content, CancellationToken.None);
            }

            await sink.CompleteAsync(CancellationToken.None);
        }

        var tree = TreeSnapshot.Capture(target);
        Assert.Equal((0, 0), (tree["etc/hosts"].Uid, tree["etc/hosts"].Gid));
        Assert.Equal((0, 42), (tree["etc/group-42"].Uid, tree["etc/group-42"].Gid));
        Assert.Equal((0, 0), (tree["etc"].Uid, tree["etc"].Gid));
    }
}
