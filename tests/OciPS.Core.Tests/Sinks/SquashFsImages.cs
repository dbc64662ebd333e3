using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;

namespace OciPS.Core.Tests.Sinks;

/// <summary>The images the squashfs tests write: every kind of entry the merge produces, fed to any sink.</summary>
internal static class SquashFsImages
{
    public static readonly byte[] Capability = Convert.FromHexString("0100000280040000000000000000000000000000");

    /// <summary>Files, empty, big (many blocks), mostly-zero and duplicate files, hardlinks, symlinks, devices, FIFOs,
    /// xattrs, setuid/setgid/sticky, owners, non-UTF-8 and 255-byte names, a directory of thousands of entries, a deep tree.</summary>
    public static TarLayer[] EveryKindOfEntry()
    {
        var random = new Random(42);
        var big = new byte[(300 * 1024) + 123];
        random.NextBytes(big);
        var mostlyZeros = new byte[600 * 1024];
        mostlyZeros[1000] = 1;
        mostlyZeros[^1] = 2;
        var text = new string('x', 9000) + "\n";
        var bottom = new TarLayer()
            .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/shadow", "secret", mode: 0x180, uid: 0, gid: 42)
            .Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Hardlink("bin/ash", "bin/busybox").Symlink("bin/ls", "busybox")
            .Dir("usr/bin").File("usr/bin/sudo", "sudo", mode: 0x9ED).File("usr/bin/ping", "ping", mode: 0x1ED, xattrs: new Dictionary<string, byte[]> { ["security.capability"] = Capability })
            .File("usr/bin/tagged", "t", xattrs: new Dictionary<string, byte[]> { ["user.comment"] = "hello"u8.ToArray(), ["user.empty"] = [] })
            .File("usr/bin/tagged2", "t2", xattrs: new Dictionary<string, byte[]> { ["user.comment"] = "hello"u8.ToArray(), ["user.empty"] = [] })
            .Dir("tmp", mode: 0x3FF).Dir("var/mail", mode: 0xBFD, gid: 8)
            .Node("dev/null", TarEntryKind.CharDevice, 1, 3).Node("dev/loop9", TarEntryKind.BlockDevice, 7, 9).Node("dev/big", TarEntryKind.CharDevice, 300, 70000)
            .Node("run/initctl", TarEntryKind.Fifo, mode: 0x180)
            .Dir("home/user", uid: 1000, gid: 1000).File("home/user/.profile", "export A=1\n", uid: 1000, gid: 1000)
            .Dir("opt/app").File("opt/app/old", "old").File("opt/app/stays", "stays")
            .File("caf\udce9", "latin-1 name")
            .File("data/empty", [])
            .File("data/big.bin", big).File("data/big-copy.bin", big).File("data/text", text).File("data/text-copy", text)
            .File("data/mostly-zeros.img", mostlyZeros)
            .File("data/" + new string('n', 255), "a 255-byte name")
            .File(string.Join('/', Enumerable.Repeat("deep", 60)) + "/leaf", "deep");
        bottom.Add(new TarHeader { Name = "var/tagged-dir", Kind = TarEntryKind.Directory, Mode = 0x1C0, Uid = 7, Gid = 7, ModifiedTime = TarLayer.Time, Xattrs = new Dictionary<string, byte[]> { ["user.dir"] = "1"u8.ToArray() } });
        var crowd = new TarLayer();
        for (var i = 0; i < 3000; i++)
        {
            crowd.File($"usr/share/crowd/entry-{i:D5}-{new string('p', i % 40)}", $"content {i}\n", uid: i % 3, gid: 100 + (i % 5));
        }

        var top = new TarLayer()
            .Whiteout("opt/app/old").File("etc/passwd", "root:x:0:0::/root:/bin/ash\n")
            .Symlink("lib/ld-musl.so.1", "/lib/libc.so")
            .Whiteout("home").File("bin/busybox", "#!busybox v2", mode: 0x1ED);
        return [bottom, crowd, top];
    }

    /// <summary>Entries that no tar layer has (sockets only come from directory sources), added after the merge.</summary>
    public static OciFileEntry[] Extras() =>
    [
        new() { Path = "run/app.sock", Type = OciFileType.Socket, Mode = 0x1FF, ModifiedTime = TarLayer.Time },
    ];

    /// <summary>Merges the layers into the sink and completes it.</summary>
    public static async Task WriteAsync(IRootfsSink sink, TarLayer[] layers, IEnumerable<OciFileEntry>? extras = null)
    {
        await using (sink)
        {
            await foreach (var merged in new LayerMerger(TarLayer.Layers(layers), _ => { }).MergeAsync(CancellationToken.None))
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

    /// <summary>squashfs keeps whole seconds: the Directory export's nanoseconds are cut for comparison.</summary>
    public static TreeEntry Seconds(TreeEntry entry) => entry with { ModifiedTime = entry.ModifiedTime.Split('.')[0] };
}
