using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using OciPS.Core.Layers;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks.Directory;
using OciPS.Core.Sinks.SquashFs;
using OciPS.Core.Tests.Layers;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Sinks;

/// <summary>The squashfs images OciPS writes, read back by unsquashfs and by the kernel.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed partial class SquashFsSinkTests : IDisposable
{
    private const long Epoch = 1_800_000_000;
    private readonly TempDirectory _temp = new("squashfs");

    public void Dispose() => _temp.Dispose();

    public static TheoryData<SquashFsCompression, int> Settings => new()
    {
        { SquashFsCompression.Gzip, 4096 },
        { SquashFsCompression.Zstd, SquashFsSinkOptions.DefaultBlockSize },
    };

    private async Task<string> WriteImageAsync(string name, SquashFsSinkOptions options, TarLayer[]? layers = null)
    {
        var path = _temp.Combine(name);
        await SquashFsImages.WriteAsync(SquashFsSink.Create(path, options), layers ?? SquashFsImages.EveryKindOfEntry(), SquashFsImages.Extras());
        return path;
    }

    private async Task<IReadOnlyDictionary<string, TreeEntry>> DirectoryExportAsync()
    {
        var path = _temp.Combine("directory");
        await SquashFsImages.WriteAsync(DirectorySink.Create(path, new DirectorySinkOptions { SourceDateEpoch = Epoch }), SquashFsImages.EveryKindOfEntry(), SquashFsImages.Extras());
        return TreeSnapshot.Capture(path);
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public async Task Unsquashfs_ReadsTheSuperblockAndListsEveryEntryAsMerged(SquashFsCompression compression, int blockSize)
    {
        var image = await WriteImageAsync("image.sqfs", new SquashFsSinkOptions { Compression = compression, BlockSize = blockSize, SourceDateEpoch = Epoch });

        var superblock = ProcessRunner.Run("unsquashfs", ["-s", image]).StandardOutput;
        Assert.Contains("Filesystem size", superblock, StringComparison.Ordinal);
        Assert.Contains($"Compression {compression.ToString().ToLowerInvariant()}", superblock, StringComparison.Ordinal);
        Assert.Contains($"Block size {blockSize}", superblock, StringComparison.Ordinal);
        Assert.Contains("Xattrs are compressed", superblock, StringComparison.Ordinal);
        Assert.Contains("Filesystem is exportable via NFS", superblock, StringComparison.Ordinal);
        Assert.Contains("Duplicates are removed", superblock, StringComparison.Ordinal);

        var merged = new Dictionary<string, OciFileEntry>(StringComparer.Ordinal);
        await foreach (var entry in new LayerMerger(TarLayer.Layers(SquashFsImages.EveryKindOfEntry()), _ => { }).MergeAsync(CancellationToken.None))
        {
            merged[entry.Entry.Path] = entry.Entry;
        }

        foreach (var extra in SquashFsImages.Extras())
        {
            merged[extra.Path] = extra;
        }

        var listed = List(image);
        var expected = merged.Keys.SelectMany(Ancestors).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, listed.Keys.Order(StringComparer.Ordinal).ToList());
        foreach (var (path, entry) in merged)
        {
            var line = listed[path];
            // A hardlink shows its target's inode (all targets here are root-owned 0755 or 0644 files).
            var source = entry.Type == OciFileType.Hardlink ? merged[entry.LinkTarget!] : entry;
            Assert.True(line.Permissions == PermissionsOf(source), $"{path}: {line.Permissions} vs {PermissionsOf(source)}");
            Assert.Equal($"{source.Uid}/{source.Gid}", line.Owner);
            switch (entry.Type)
            {
                case OciFileType.File:
                    Assert.Equal(entry.Size.ToString(CultureInfo.InvariantCulture), line.Size);
                    break;
                case OciFileType.Symlink:
                    Assert.Equal(entry.LinkTarget, line.Target);
                    break;
                case OciFileType.CharDevice or OciFileType.BlockDevice when entry.DeviceMinor < 256:
                    // unsquashfs lists larger numbers in the old 8:8 split; the mount and extraction tests check those.
                    Assert.Equal($"{entry.DeviceMajor},{entry.DeviceMinor}", line.Size.Replace(" ", string.Empty, StringComparison.Ordinal));
                    break;
            }

            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(Math.Min(entry.ModifiedTime.Seconds, Epoch)).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), line.Time);
        }

        // The human-readable listing works too, and names the owners.
        Assert.Contains("root/root", ProcessRunner.Run("unsquashfs", ["-lls", image]).StandardOutput, StringComparison.Ordinal);
    }

    [RootTheory]
    [MemberData(nameof(Settings))]
    public async Task TheKernelMountsTheImage_AndItsTreeEqualsTheDirectoryExport(SquashFsCompression compression, int blockSize)
    {
        var image = await WriteImageAsync("image.sqfs", new SquashFsSinkOptions { Compression = compression, BlockSize = blockSize, SourceDateEpoch = Epoch });
        var expected = await DirectoryExportAsync();
        var mountPoint = _temp.Combine("mnt");
        Directory.CreateDirectory(mountPoint);
        ProcessRunner.Run("mount", ["-t", "squashfs", "-o", "loop,ro", image, mountPoint]);
        try
        {
            var mounted = TreeSnapshot.Capture(mountPoint);
            var differences = TreeSnapshot.Differences(expected, mounted, SquashFsImages.Seconds);
            Assert.True(differences.Count == 0, string.Join("\n", differences));

            // Lookups by name in the big directory go through its index.
            var crowd = Path.Combine(mountPoint, "usr", "share", "crowd");
            foreach (var i in new[] { 0, 1, 777, 1500, 2999 })
            {
                Assert.Equal($"content {i}\n", await File.ReadAllTextAsync(Path.Combine(crowd, $"entry-{i:D5}-{new string('p', i % 40)}")));
            }

            Assert.False(File.Exists(Path.Combine(crowd, "entry-03000-")));
            // bin/sh and bin/ash link the busybox the top layer replaced: that inode has two names, the new one its own.
            Assert.Equal("2 2 1", ProcessRunner.Run("stat", ["-c", "%h", Path.Combine(mountPoint, "bin/sh"), Path.Combine(mountPoint, "bin/ash"), Path.Combine(mountPoint, "bin/busybox")]).StandardOutput.ReplaceLineEndings(" ").Trim()[..5]);
        }
        finally
        {
            ProcessRunner.Run("umount", [mountPoint], check: false);
        }
    }

    [RootTheory]
    [InlineData("gnu", "--sparse")]
    [InlineData("posix", "--sparse", "--sparse-version=1.0")]
    public async Task AGnuTarLayerWithSparseFiles_MountsAsTheTreeItWasMadeFrom(string format, params string[] options)
    {
        using var tree = new GnuTarTree();
        var archive = tree.Archive(format, options);
        var image = _temp.Combine("gnu.sqfs");
        await using (var sink = SquashFsSink.Create(image, new SquashFsSinkOptions()))
        {
            var layer = new MergeLayer(0, "gnu", ct => LayerReader.ReadAsync(File.OpenRead(archive), null, 0, null, "gnu", ct));
            await foreach (var merged in new LayerMerger([layer], _ => { }).MergeAsync(CancellationToken.None))
            {
                await sink.AddAsync(merged.Entry, merged.Content, CancellationToken.None);
            }

            await sink.CompleteAsync(CancellationToken.None);
        }

        // 64 MiB of sparse file and 3 MiB of random bytes: the holes take no space.
        Assert.True(new FileInfo(image).Length < 4 << 20, $"the image has {new FileInfo(image).Length} bytes");
        var mountPoint = _temp.Combine("mnt");
        Directory.CreateDirectory(mountPoint);
        ProcessRunner.Run("mount", ["-t", "squashfs", "-o", "loop,ro", image, mountPoint]);
        try
        {
            var differences = TreeSnapshot.Differences(TreeSnapshot.Capture(tree.Root), TreeSnapshot.Capture(mountPoint), SquashFsImages.Seconds);
            Assert.True(differences.Count == 0, string.Join("\n", differences));
        }
        finally
        {
            ProcessRunner.Run("umount", [mountPoint], check: false);
        }
    }

    [RootTheory]
    [MemberData(nameof(Settings))]
    public async Task UnsquashfsExtraction_EqualsTheDirectoryExport(SquashFsCompression compression, int blockSize)
    {
        var image = await WriteImageAsync("image.sqfs", new SquashFsSinkOptions { Compression = compression, BlockSize = blockSize, SourceDateEpoch = Epoch });
        var expected = await DirectoryExportAsync();
        var extracted = _temp.Combine("extracted");
        ProcessRunner.Run("unsquashfs", ["-no-progress", "-d", extracted, image]);
        var differences = TreeSnapshot.Differences(expected, TreeSnapshot.Capture(extracted), SquashFsImages.Seconds);
        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public async Task TheSameInputTwice_GivesTheSameBytes_WithParallelCompression(SquashFsCompression compression, int blockSize)
    {
        var first = await WriteImageAsync("first.sqfs", new SquashFsSinkOptions { Compression = compression, BlockSize = blockSize, SourceDateEpoch = Epoch, Parallelism = 4 });
        var second = await WriteImageAsync("second.sqfs", new SquashFsSinkOptions { Compression = compression, BlockSize = blockSize, SourceDateEpoch = Epoch, Parallelism = 1 });
        Assert.Equal(await File.ReadAllBytesAsync(first), await File.ReadAllBytesAsync(second));
        Assert.Equal(0, new FileInfo(first).Length % 4096);
    }

    [Fact]
    public async Task DuplicateAndZeroBlocks_TakeNoSpace()
    {
        var random = new Random(7);
        var content = new byte[1 << 20];
        random.NextBytes(content);
        var once = await WriteImageAsync("once.sqfs", new SquashFsSinkOptions(), [new TarLayer().File("a", content)]);
        var thrice = await WriteImageAsync("thrice.sqfs", new SquashFsSinkOptions(), [new TarLayer().File("a", content).File("b", content).File("c/d", content).File("zeros", new byte[8 << 20])]);
        Assert.True(new FileInfo(thrice).Length < new FileInfo(once).Length + 8192, $"{new FileInfo(thrice).Length} vs {new FileInfo(once).Length}");

        var extracted = _temp.Combine("out");
        ProcessRunner.Run("unsquashfs", ["-no-progress", "-no-xattrs", "-d", extracted, thrice]);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(extracted, "b")));
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(extracted, "c", "d")));
        Assert.Equal(new byte[8 << 20], await File.ReadAllBytesAsync(Path.Combine(extracted, "zeros")));
    }

    [Theory]
    [InlineData(SquashFsCompression.Gzip)]
    [InlineData(SquashFsCompression.Zstd)]
    public async Task FilesWhoseHashesCollide_AreComparedAndNeverMerged_WhileTrueDuplicatesStillAre(SquashFsCompression compression)
    {
        // Every file of a size is a duplicate candidate under this hash: only the byte comparison tells them apart.
        var random = new Random(11);
        var a = new byte[(3 * 4096) + 1000];
        random.NextBytes(a);
        var lastByteDiffers = (byte[])a.Clone();
        lastByteDiffers[^1] ^= 1;
        var firstByteDiffers = (byte[])a.Clone();
        firstByteDiffers[0] ^= 1;
        var small = new byte[700];
        random.NextBytes(small);
        var smallOther = (byte[])small.Clone();
        smallOther[350] ^= 1;
        var files = new List<(string Name, byte[] Content)> { ("a", a), ("small", small) };
        for (var i = 0; i < 6; i++)
        {
            // Tails that fill fragment blocks, so the later small files are compared with a fragment read back from the image.
            var filler = new byte[3000 + i];
            random.NextBytes(filler);
            files.Add(($"filler{i}", filler));
        }

        files.AddRange([("last-byte-differs", lastByteDiffers), ("first-byte-differs", firstByteDiffers), ("small-other", smallOther), ("small-copy", (byte[])small.Clone()), ("a-copy", (byte[])a.Clone())]);
        var options = new SquashFsSinkOptions { Compression = compression, BlockSize = 4096, SourceDateEpoch = Epoch, DuplicateHash = () => new CollidingHash() };

        var layer = new TarLayer();
        files.ForEach(file => layer.File(file.Name, file.Content));
        var image = await WriteImageAsync("colliding.sqfs", options, [layer]);
        var withoutCopies = new TarLayer();
        files.Where(file => !file.Name.EndsWith("-copy", StringComparison.Ordinal)).ToList().ForEach(file => withoutCopies.File(file.Name, file.Content));
        var imageWithoutCopies = await WriteImageAsync("no-copies.sqfs", options, [withoutCopies]);

        var extracted = _temp.Combine("out");
        ProcessRunner.Run("unsquashfs", ["-no-progress", "-no-xattrs", "-d", extracted, image]);
        foreach (var (name, content) in files)
        {
            var read = await File.ReadAllBytesAsync(Path.Combine(extracted, name));
            Assert.True(content.SequenceEqual(read), $"{name} differs after extraction");
        }

        // The copies took no data blocks of their own (a's 3 random blocks would be 12 KiB more).
        Assert.True(new FileInfo(image).Length <= new FileInfo(imageWithoutCopies).Length + 4096, $"{new FileInfo(image).Length} vs {new FileInfo(imageWithoutCopies).Length}");
    }

    /// <summary>A duplicate-detection hash under which every file collides with every other of its size.</summary>
    private sealed class CollidingHash : DuplicateHash
    {
        public override void Append(ReadOnlySpan<byte> data)
        {
        }

        public override ulong GetAndReset() => 0;
    }

    [Fact]
    public async Task AHostileImage_NeverYieldsAnEntryOutsideTheRoot()
    {
        var image = await WriteImageAsync("hostile.sqfs", new SquashFsSinkOptions(), [
            new TarLayer().File("../../escaped", "x").File("/abs/file", "a").File("a/../../../b", "b").Symlink("evil", "/etc").File("evil/planted", "p")
                .Symlink(".", "/").Hardlink("stolen", "../../../../etc/passwd").File("etc/passwd", "inside").Hardlink("stolen2", "../../../../etc/passwd"),
        ]);
        var listed = List(image);
        Assert.All(listed.Keys, path => Assert.DoesNotContain("..", path.Split('/')));
        Assert.Contains("escaped", listed.Keys);
        Assert.Contains("abs/file", listed.Keys);
        Assert.Equal("/etc", listed["evil"].Target);
        Assert.DoesNotContain("evil/planted", listed.Keys);

        var extracted = _temp.Combine("jail", "out");
        Directory.CreateDirectory(_temp.Combine("jail"));
        ProcessRunner.Run("unsquashfs", ["-no-progress", "-no-xattrs", "-d", extracted, image]);
        Assert.Equal(["out"], Directory.GetFileSystemEntries(_temp.Combine("jail")).Select(Path.GetFileName));

        // The sink itself refuses what the merge would never give it.
        await using var sink = SquashFsSink.Create(_temp.Combine("direct.sqfs"), new SquashFsSinkOptions());
        var error = await Assert.ThrowsAsync<OciException>(async () => await sink.AddAsync(new OciFileEntry { Path = "a/../../x", Type = OciFileType.Fifo }, null, CancellationToken.None));
        Assert.Equal("ExportEntryUnsafe", error.ErrorId);
    }

    [RootFact]
    public async Task AnImageWithoutFragmentsOrXattrs_Mounts()
    {
        var block = new byte[4096];
        new Random(5).NextBytes(block);
        var image = await WriteImageAsync("plain.sqfs", new SquashFsSinkOptions { BlockSize = 4096 }, [new TarLayer().File("one-block", block).Dir("empty")]);
        var superblock = ProcessRunner.Run("unsquashfs", ["-s", image]).StandardOutput;
        Assert.Contains("Number of fragments 0", superblock, StringComparison.Ordinal);
        Assert.Contains("Xattrs are not stored", superblock, StringComparison.Ordinal);
        var mountPoint = _temp.Combine("mnt");
        Directory.CreateDirectory(mountPoint);
        ProcessRunner.Run("mount", ["-t", "squashfs", "-o", "loop,ro", image, mountPoint]);
        try
        {
            Assert.Equal(block, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "one-block")));
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(mountPoint, "empty")));
        }
        finally
        {
            ProcessRunner.Run("umount", [mountPoint], check: false);
        }
    }

    [Fact]
    public async Task TheExportTable_MapsEveryInodeNumberToItsInode_AndCanBeLeftOut()
    {
        var image = await WriteImageAsync("export.sqfs", new SquashFsSinkOptions { SourceDateEpoch = Epoch });
        var bytes = await File.ReadAllBytesAsync(image);
        var inodeCount = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        var rootInode = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(32));
        var inodeTable = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(64));
        var directoryTable = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(72));
        var exportTable = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(88));

        var (inodes, blockOffsets) = ReadMetadata(bytes, inodeTable, directoryTable);
        var references = new List<long>();
        for (var list = exportTable; references.Count < inodeCount; list += 8)
        {
            var block = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan((int)list));
            var (entries, _) = ReadMetadata(bytes, block, block + 1);
            for (var i = 0; i + 8 <= entries.Length && references.Count < inodeCount; i += 8)
            {
                references.Add(BinaryPrimitives.ReadInt64LittleEndian(entries.AsSpan(i)));
            }
        }

        Assert.Equal(rootInode, references[0]);
        for (var number = 1; number <= inodeCount; number++)
        {
            var reference = references[number - 1];
            var at = blockOffsets[reference >> 16] + (int)(reference & 0xFFFF);
            Assert.Equal((uint)number, BinaryPrimitives.ReadUInt32LittleEndian(inodes.AsSpan(at + 12)));
        }

        var plain = await WriteImageAsync("no-export.sqfs", new SquashFsSinkOptions { SourceDateEpoch = Epoch, ExportTable = false });
        Assert.Equal(-1, BinaryPrimitives.ReadInt64LittleEndian((await File.ReadAllBytesAsync(plain)).AsSpan(88)));
        Assert.Contains("Filesystem is not exportable via NFS", ProcessRunner.Run("unsquashfs", ["-s", plain]).StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANameLongerThanSquashFsHolds_IsAnErrorNamingIt_AndLeavesNothing()
    {
        var name = "data/" + new string('\u00e9', 129);
        var error = await Assert.ThrowsAsync<OciException>(() => WriteImageAsync("long.sqfs", new SquashFsSinkOptions(), [new TarLayer().File("ok", "ok").File(name, "x")]));
        Assert.Equal("SquashFsNameTooLong", error.ErrorId);
        Assert.Equal(name, error.Target);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(2 << 20)]
    [InlineData(3 * 4096)]
    public void ABlockSizeThatIsNotAPowerOfTwoFrom4KTo1M_IsRefused(int blockSize)
    {
        var error = Assert.Throws<OciException>(() => SquashFsSink.Create(_temp.Combine("x.sqfs"), new SquashFsSinkOptions { BlockSize = blockSize }));
        Assert.Equal("SquashFsBlockSizeInvalid", error.ErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [Fact]
    public async Task AnUncompletedSink_LeavesNothing()
    {
        var path = _temp.Combine("never.sqfs");
        await using (var sink = SquashFsSink.Create(path, new SquashFsSinkOptions()))
        {
            await sink.AddAsync(new OciFileEntry { Path = "f", Type = OciFileType.File, Size = 3 }, new MemoryStream("abc"u8.ToArray()), CancellationToken.None);
        }

        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>Reads gzip metadata blocks from <paramref name="start"/> until <paramref name="end"/> (or one block): the bytes and where each block starts in them.</summary>
    private static (byte[] Bytes, Dictionary<long, int> BlockOffsets) ReadMetadata(byte[] image, long start, long end)
    {
        using var output = new MemoryStream();
        var offsets = new Dictionary<long, int>();
        var position = start;
        do
        {
            offsets[position - start] = (int)output.Length;
            var header = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)position));
            var length = header & 0x7FFF;
            if ((header & 0x8000) != 0)
            {
                output.Write(image, (int)position + 2, length);
            }
            else
            {
                using var zlib = new ZLibStream(new MemoryStream(image, (int)position + 2, length), CompressionMode.Decompress);
                zlib.CopyTo(output);
            }

            position += 2 + length;
        }
        while (position < end);
        return (output.ToArray(), offsets);
    }

    private static IEnumerable<string> Ancestors(string path)
    {
        for (var current = path; current != "."; current = EntryName.Parent(current))
        {
            yield return current;
        }
    }

    private static string PermissionsOf(OciFileEntry entry) => entry.Permissions;

    /// <summary>unsquashfs -lln: one line per entry, numeric owners, paths as exact bytes.</summary>
    private static Dictionary<string, Listed> List(string image)
    {
        var output = ProcessRunner.RunBytes("env", ["TZ=UTC", PeerTools.Resolve("unsquashfs"), "-lln", image]).StandardOutput;
        var result = new Dictionary<string, Listed>(StringComparer.Ordinal);
        foreach (var raw in SplitLines(output))
        {
            var match = ListingLine().Match(raw);
            if (!match.Success || match.Groups["path"].Value.Length == 0)
            {
                continue;
            }

            var path = match.Groups["path"].Value[1..];
            string? target = null;
            if (match.Groups["perm"].Value[0] == 'l')
            {
                var arrow = path.IndexOf(" -> ", StringComparison.Ordinal);
                target = path[(arrow + 4)..];
                path = path[..arrow];
            }

            result[path] = new Listed(match.Groups["perm"].Value, match.Groups["owner"].Value, match.Groups["size"].Value, match.Groups["time"].Value, target);
        }

        return result;
    }

    private static IEnumerable<string> SplitLines(byte[] output)
    {
        var start = 0;
        for (var i = 0; i < output.Length; i++)
        {
            if (output[i] == '\n')
            {
                yield return EntryName.Decode(output.AsSpan(start, i - start));
                start = i + 1;
            }
        }
    }

    [GeneratedRegex(@"^(?<perm>\S{10}) (?<owner>\d+/\d+)\s+(?<size>\d+,\s*\d+|\d+) (?<time>\d{4}-\d\d-\d\d \d\d:\d\d) squashfs-root(?<path>/.*)?$", RegexOptions.Singleline)]
    private static partial Regex ListingLine();

    private sealed record Listed(string Permissions, string Owner, string Size, string Time, string? Target);
}
