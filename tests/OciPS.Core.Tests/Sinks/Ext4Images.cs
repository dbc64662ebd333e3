using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Sinks;

/// <summary>The trees the ext4 tests write, and the peers that check the images (e2fsck, debugfs, dumpe2fs, the kernel).</summary>
internal static class Ext4Images
{
    public static readonly byte[] Capability = Convert.FromHexString("0100000280040000000000000000000000000000");

    /// <summary>Every kind of entry the merge produces: files (empty, multi-block), hardlinks, short and long symlinks,
    /// devices (old and new encodings), FIFOs, xattrs (in the inode and in a block), setuid/setgid/sticky,
    /// owners above 65535, a non-UTF-8 and a 255-byte name, a directory of 5000 entries, a deep tree, a whiteout.</summary>
    public static TarLayer[] EveryKindOfEntry()
    {
        var big = new byte[(300 * 1024) + 123];
        new Random(42).NextBytes(big);
        var manyXattrs = Enumerable.Range(0, 12).ToDictionary(i => $"user.attribute-number-{i:D2}", i => Enumerable.Repeat((byte)('a' + i), 40 + i).ToArray());
        manyXattrs["security.capability"] = Capability;
        var bottom = new TarLayer()
            .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/shadow", "secret", mode: 0x180, uid: 0, gid: 42)
            .Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Hardlink("bin/ash", "bin/busybox").Symlink("bin/ls", "busybox")
            .Symlink("bin/far", string.Join('/', Enumerable.Repeat("a-long-symlink-target-component", 5)))
            .Dir("usr/bin").File("usr/bin/sudo", "sudo", mode: 0x9ED).File("usr/bin/ping", "ping", mode: 0x1ED, xattrs: new Dictionary<string, byte[]> { ["security.capability"] = Capability })
            .File("usr/bin/tagged", "t", xattrs: new Dictionary<string, byte[]> { ["user.comment"] = "hello"u8.ToArray(), ["user.empty"] = [] })
            .File("usr/bin/crowded", "c", xattrs: manyXattrs)
            .Dir("tmp", mode: 0x3FF).Dir("var/mail", mode: 0xBFD, gid: 8)
            .Node("dev/null", TarEntryKind.CharDevice, 1, 3).Node("dev/loop9", TarEntryKind.BlockDevice, 7, 9).Node("dev/big", TarEntryKind.CharDevice, 300, 70000)
            .Node("run/initctl", TarEntryKind.Fifo, mode: 0x180)
            .Dir("home/user", uid: 100000, gid: 200000).File("home/user/.profile", "export A=1\n", uid: 4_000_000_000, gid: 70000)
            .Dir("opt/app").File("opt/app/old", "old").File("opt/app/stays", "stays")
            .File("caf\udce9", "latin-1 name")
            .File("data/empty", [])
            .File("data/big.bin", big)
            .File("data/" + new string('n', 255), "a 255-byte name")
            .File(string.Join('/', Enumerable.Repeat("deep", 60)) + "/leaf", "deep");
        bottom.Add(new TarHeader { Name = "var/tagged-dir", Kind = TarEntryKind.Directory, Mode = 0x1C0, Uid = 7, Gid = 7, ModifiedTime = TarLayer.Time, Xattrs = new Dictionary<string, byte[]> { ["user.dir"] = "1"u8.ToArray() } });
        var crowd = new TarLayer();
        for (var i = 0; i < 5000; i++)
        {
            crowd.File($"usr/share/crowd/entry-{i:D5}-{new string('p', i % 40)}", $"content {i}\n", uid: i % 3, gid: 100 + (i % 5));
        }

        var top = new TarLayer()
            .Whiteout("opt/app/old").File("etc/passwd", "root:x:0:0::/root:/bin/ash\n")
            .Symlink("lib/ld-musl.so.1", "/lib/libc.so")
            .File("bin/busybox", "#!busybox v2", mode: 0x1ED);
        return [bottom, crowd, top];
    }

    /// <summary>Merges layers into a sink and completes it.</summary>
    public static async Task WriteAsync(IRootfsSink sink, IReadOnlyList<MergeLayer> layers, IEnumerable<OciFileEntry>? extras = null)
    {
        await using (sink)
        {
            await foreach (var merged in new LayerMerger(layers, _ => { }).MergeAsync(CancellationToken.None))
            {
                await sink.AddAsync(merged.Entry, merged.Content, CancellationToken.None);
            }

            foreach (var extra in extras ?? [])
            {
                await sink.AddAsync(extra, null, CancellationToken.None);
            }

            await sink.CompleteAsync(CancellationToken.None);
        }
    }

    /// <summary>A layer archived by GNU tar from a real tree (sparse files included).</summary>
    public static MergeLayer ArchiveLayer(string archive) =>
        new(0, Path.GetFileName(archive), ct => LayerReader.ReadAsync(File.OpenRead(archive), null, 0, null, Path.GetFileName(archive), ct));

    /// <summary>Sockets come only from directory sources: added after the merge.</summary>
    public static OciFileEntry[] Extras() =>
    [
        new() { Path = "run/app.sock", Type = OciFileType.Socket, Mode = 0x1FF, ModifiedTime = TarLayer.Time },
    ];

    /// <summary>e2fsck in read-only forced mode must exit 0 and say nothing beyond its five passes and summary.</summary>
    public static void AssertClean(string image)
    {
        var check = ProcessRunner.Run("e2fsck", ["-fn", image], check: false);
        Assert.True(check.ExitCode == 0, "e2fsck -fn found problems:\n" + check);
        var unexpected = check.StandardOutput.Split('\n')
            .Where(line => line.Length > 0 && !line.StartsWith("Pass ", StringComparison.Ordinal) && !(line.Contains(" files (", StringComparison.Ordinal) && line.EndsWith(" blocks", StringComparison.Ordinal)) && !line.StartsWith("e2fsck ", StringComparison.Ordinal))
            .ToList();
        Assert.True(unexpected.Count == 0, "e2fsck printed:\n" + check);
    }

    public static string Debugfs(string image, string request) =>
        ProcessRunner.Run("debugfs", ["-R", request, image]).StandardOutput;

    /// <summary>Mounts the image read-only through a loop device, runs <paramref name="inspect"/>, always unmounts.</summary>
    public static void WithMounted(string image, string mountPoint, Action<string> inspect)
    {
        Directory.CreateDirectory(mountPoint);
        ProcessRunner.Run("mount", ["-t", "ext4", "-o", "loop,ro", image, mountPoint]);
        try
        {
            inspect(mountPoint);
        }
        finally
        {
            ProcessRunner.Run("umount", [mountPoint], check: false);
        }
    }
}
