using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks;
using OciPS.Core.Sinks.Ext4;
using OciPS.Core.Tests.Layers;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Sinks;

/// <summary>
/// The ext4 writer checked by the ext4 tools and the kernel: e2fsck finds nothing, debugfs shows extents
/// and nanosecond times, and the loop-mounted image equals the Directory export of the same layers.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class Ext4SinkTests : IDisposable
{
    private readonly TempDirectory _temp = new("ext4");

    public void Dispose() => _temp.Dispose();

    public static TheoryData<int, bool, bool> Variants() => new()
    {
        { 4096, true, false },
        { 4096, false, false },
        { 1024, true, false },
        { 2048, true, true },
        { 4096, true, true },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task EveryKindOfEntry_IsCleanForE2fsck(int blockSize, bool checksums, bool journal)
    {
        var image = _temp.Combine($"every-{blockSize}-{checksums}-{journal}.ext4");
        var options = new Ext4SinkOptions { BlockSize = blockSize, MetadataChecksums = checksums, Journal = journal, Label = "rootfs" };
        await Ext4Images.WriteAsync(Ext4Sink.Create(image, options), TarLayer.Layers(Ext4Images.EveryKindOfEntry()), Ext4Images.Extras());
        Ext4Images.AssertClean(image);
        var header = ProcessRunner.Run("dumpe2fs", ["-h", image]).StandardOutput;
        Assert.Contains("extent", header, StringComparison.Ordinal);
        Assert.Contains("dir_index", header, StringComparison.Ordinal);
        Assert.Equal(journal, header.Contains("has_journal", StringComparison.Ordinal));
        Assert.Equal(checksums, header.Contains("metadata_csum", StringComparison.Ordinal));
        Assert.Contains("Filesystem volume name:   rootfs", header, StringComparison.Ordinal);
        Assert.Contains($"Block size:               {blockSize}", header, StringComparison.Ordinal);
    }

    [RootTheory]
    [InlineData(4096)]
    [InlineData(1024)]
    public async Task MountedImage_EqualsTheDirectoryExport(int blockSize)
    {
        // A SOURCE_DATE_EPOCH after every entry's time gives parents that no layer lists the same time in both exports.
        const long Epoch = 2_000_000_000;
        var expected = _temp.Combine("expected");
        await Ext4Images.WriteAsync(RootfsExport.CreateSink(RootfsFormat.Directory, expected, new RootfsExportOptions { SourceDateEpoch = Epoch }, null), TarLayer.Layers(Ext4Images.EveryKindOfEntry()), Ext4Images.Extras());
        var image = _temp.Combine("every.ext4");
        await Ext4Images.WriteAsync(Ext4Sink.Create(image, new Ext4SinkOptions { BlockSize = blockSize, SourceDateEpoch = Epoch }), TarLayer.Layers(Ext4Images.EveryKindOfEntry()), Ext4Images.Extras());
        Ext4Images.AssertClean(image);
        Ext4Images.WithMounted(image, _temp.Combine("mnt"), mounted =>
        {
            var actual = TreeSnapshot.Capture(mounted).Where(e => e.Key != "lost+found").ToDictionary();
            var differences = TreeSnapshot.Differences(TreeSnapshot.Capture(expected), actual);
            Assert.True(differences.Count == 0, string.Join("\n", differences));
            // busybox was replaced by the top layer: sh and ash still share the old inode.
            Assert.Equal(2, LinkCount(Path.Combine(mounted, "bin/sh")));
            Assert.Equal(1, LinkCount(Path.Combine(mounted, "bin/busybox")));
            Assert.Equal("4000000000", ProcessRunner.Run("stat", ["-c", "%u", Path.Combine(mounted, "home/user/.profile")]).StandardOutput.Trim());
            Assert.Equal(5000, Directory.GetFiles(Path.Combine(mounted, "usr/share/crowd")).Length);
        });
    }

    [RootFact]
    public async Task GnuTarTree_SparseAndAllKinds_MountsAsTheSourceTree()
    {
        using var tree = new GnuTarTree();
        var archive = tree.Archive("posix", "--sparse");
        var image = _temp.Combine("gnu.ext4");
        await Ext4Images.WriteAsync(Ext4Sink.Create(image, new Ext4SinkOptions()), [Ext4Images.ArchiveLayer(archive)]);
        Ext4Images.AssertClean(image);
        Ext4Images.WithMounted(image, _temp.Combine("mnt"), mounted =>
        {
            var actual = TreeSnapshot.Capture(mounted).Where(e => e.Key != "lost+found").ToDictionary();
            var differences = TreeSnapshot.Differences(TreeSnapshot.Capture(tree.Root), actual);
            Assert.True(differences.Count == 0, string.Join("\n", differences));

            // Holes stay holes: 64 MiB of file, three 4 KiB blocks on disk.
            var blocks = long.Parse(ProcessRunner.Run("stat", ["-c", "%b", Path.Combine(mounted, "sparse.img")]).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(3 * 8, blocks);
        });
    }

    [Fact]
    public async Task Debugfs_ShowsExtentsNanosecondsOwnersAndAnIndexedDirectory()
    {
        var image = _temp.Combine("debugfs.ext4");
        await Ext4Images.WriteAsync(Ext4Sink.Create(image, new Ext4SinkOptions()), TarLayer.Layers(Ext4Images.EveryKindOfEntry()));
        var big = Ext4Images.Debugfs(image, "stat /data/big.bin");
        Assert.Contains("EXTENTS:", big, StringComparison.Ordinal);
        Assert.Contains("Size: 307323", big, StringComparison.Ordinal);

        // 250 ms = 250000000 ns, stored shifted left by two next to the two epoch bits: 0x3b9aca00.
        Assert.Contains("mtime: 0x6553f100:3b9aca00", big, StringComparison.Ordinal);
        var home = Ext4Images.Debugfs(image, "stat /home/user");
        Assert.Contains("User: 100000   Group: 200000", home, StringComparison.Ordinal);
        var crowd = Ext4Images.Debugfs(image, "htree /usr/share/crowd");
        Assert.Contains("Root node dump:", crowd, StringComparison.Ordinal);
        var link = Ext4Images.Debugfs(image, "stat /bin/ls");
        Assert.Contains("Fast link dest: \"busybox\"", link, StringComparison.Ordinal);
        var device = Ext4Images.Debugfs(image, "stat /dev/big");
        Assert.Contains("(New-style) Device major/minor number: 300:70000", device, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SparseFileWithThousandsOfRegions_GetsATwoLevelExtentTree()
    {
        const int BlockSize = 4096;
        const int Regions = 1500;
        var size = (long)Regions * 2 * BlockSize;
        var map = Enumerable.Range(0, Regions).Select(i => new SparseRegion((long)i * 2 * BlockSize, BlockSize)).ToArray();
        var content = new byte[size];
        foreach (var region in map)
        {
            content.AsSpan((int)region.Offset, BlockSize).Fill((byte)(region.Offset / BlockSize % 251));
        }

        var image = _temp.Combine("sparse.ext4");
        await using (var sink = Ext4Sink.Create(image, new Ext4SinkOptions()))
        {
            await sink.AddAsync(new OciFileEntry { Path = "holes.img", Type = OciFileType.File, Mode = 0x1A4, Size = size, SparseMap = map, ModifiedTime = TarLayer.Time }, new MemoryStream(content), CancellationToken.None);
            await sink.CompleteAsync(CancellationToken.None);
        }

        Ext4Images.AssertClean(image);
        var stat = Ext4Images.Debugfs(image, "stat /holes.img");
        Assert.Contains("(ETB1)", stat, StringComparison.Ordinal);
        var dumped = _temp.Combine("holes.out");
        Ext4Images.Debugfs(image, $"dump /holes.img {dumped}");
        Assert.Equal(content, File.ReadAllBytes(dumped));
    }

    [Fact]
    public async Task DenseFileLongerThanOneExtent_IsStreamedIntoSeveralExtents()
    {
        // With 1 KiB blocks an extent covers at most 32 MiB: 70 MiB of content needs three, and a hardlink shares them.
        const long Size = (70L << 20) + 123;
        var image = _temp.Combine("dense.ext4");
        string expected;
        await using (var sink = Ext4Sink.Create(image, new Ext4SinkOptions { BlockSize = 1024 }))
        {
            await using var content = new PatternStream(Size);
            await sink.AddAsync(new OciFileEntry { Path = "opt/big.bin", Type = OciFileType.File, Mode = 0x1A4, Size = Size, ModifiedTime = TarLayer.Time }, content, CancellationToken.None);
            expected = content.Hash();
            await sink.AddAsync(new OciFileEntry { Path = "opt/same.bin", Type = OciFileType.Hardlink, LinkTarget = "opt/big.bin", ModifiedTime = TarLayer.Time }, null, CancellationToken.None);
            await sink.CompleteAsync(CancellationToken.None);
        }

        Ext4Images.AssertClean(image);
        var stat = Ext4Images.Debugfs(image, "stat /opt/same.bin");
        Assert.Contains("Links: 2", stat, StringComparison.Ordinal);
        Assert.Contains("(0-32767):", stat, StringComparison.Ordinal);
        Assert.Contains("(65536-71680):", stat, StringComparison.Ordinal);
        var dumped = _temp.Combine("big.out");
        Ext4Images.Debugfs(image, $"dump /opt/big.bin {dumped}");
        await using var read = File.OpenRead(dumped);
        Assert.Equal(expected, Convert.ToHexString(await System.Security.Cryptography.SHA256.HashDataAsync(read)));
    }

    [Fact]
    public async Task TooSmallSize_FailsBeforeWritingOrWhenFull_AndLeavesNothing()
    {
        var tiny = _temp.Combine("tiny.ext4");
        var early = Assert.Throws<Ext4SpaceException>(() => Ext4Sink.Create(tiny, new Ext4SinkOptions { Size = 16 * 1024 }));
        Assert.Equal("Ext4SizeTooSmall", early.ErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));

        var small = _temp.Combine("small.ext4");
        var late = await Assert.ThrowsAsync<Ext4SpaceException>(() => Ext4Images.WriteAsync(Ext4Sink.Create(small, new Ext4SinkOptions { Size = 1 << 20 }), TarLayer.Layers(new TarLayer().File("big", new byte[3 << 20]))));
        Assert.Contains("big", late.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [Fact]
    public async Task FixedSize_IsTheImageSize_AndAutoFitsTheContent()
    {
        var fixedImage = _temp.Combine("fixed.ext4");
        await Ext4Images.WriteAsync(Ext4Sink.Create(fixedImage, new Ext4SinkOptions { Size = 64L << 20, InodeRatio = 4096, Uuid = Guid.Parse("0b7e5b1c-52a6-4e2f-9b1a-3c5d7e9f1a2b") }), TarLayer.Layers(Ext4Images.EveryKindOfEntry()));
        Ext4Images.AssertClean(fixedImage);
        Assert.Equal(64L << 20, new FileInfo(fixedImage).Length);
        var header = ProcessRunner.Run("dumpe2fs", ["-h", fixedImage]).StandardOutput;
        Assert.Contains("Filesystem UUID:          0b7e5b1c-52a6-4e2f-9b1a-3c5d7e9f1a2b", header, StringComparison.Ordinal);
        Assert.Contains("Inode count:              16384", header, StringComparison.Ordinal);

        var autoImage = _temp.Combine("auto.ext4");
        await Ext4Images.WriteAsync(Ext4Sink.Create(autoImage, new Ext4SinkOptions()), TarLayer.Layers(Ext4Images.EveryKindOfEntry()));
        Ext4Images.AssertClean(autoImage);
        Assert.InRange(new FileInfo(autoImage).Length, 20L << 20, 64L << 20);
    }

    [Fact]
    public async Task MoreEntriesThanInodes_IsASizeError_AndLeavesNothing()
    {
        var layer = new TarLayer();
        for (var i = 0; i < 100; i++)
        {
            layer.File($"f{i}", "x");
        }

        var image = _temp.Combine("inodes.ext4");
        var error = await Assert.ThrowsAsync<Ext4SpaceException>(() => Ext4Images.WriteAsync(Ext4Sink.Create(image, new Ext4SinkOptions { Size = 4 << 20, InodeRatio = 65536 }), TarLayer.Layers(layer)));
        Assert.Contains("-InodeRatio", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [Fact]
    public async Task SameUuidAndSourceDateEpoch_GiveTheSameBytes()
    {
        var options = new Ext4SinkOptions { Uuid = Guid.Parse("0b7e5b1c-52a6-4e2f-9b1a-3c5d7e9f1a2b"), SourceDateEpoch = 1_000_000_000 };
        var first = _temp.Combine("a.ext4");
        var second = _temp.Combine("b.ext4");
        await Ext4Images.WriteAsync(Ext4Sink.Create(first, options), TarLayer.Layers(Ext4Images.EveryKindOfEntry()));
        await Ext4Images.WriteAsync(Ext4Sink.Create(second, options), TarLayer.Layers(Ext4Images.EveryKindOfEntry()));
        Ext4Images.AssertClean(first);
        var a = await File.ReadAllBytesAsync(first);
        var b = await File.ReadAllBytesAsync(second);
        Assert.True(a.AsSpan().SequenceEqual(b), "the two images differ");
    }

    [Fact]
    public void LabelOver16Bytes_IsRefused()
    {
        var error = Assert.Throws<OciException>(() => Ext4Sink.Create(_temp.Combine("label.ext4"), new Ext4SinkOptions { Label = "a-label-of-17-byt" }));
        Assert.Equal("Ext4LabelTooLong", error.ErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    [RootFact]
    public async Task HostileLayers_NeverPutAnEntryOutsideTheRoot()
    {
        var outside = _temp.Combine("outside");
        Directory.CreateDirectory(outside);
        TarLayer[] Hostile() =>
        [
            new TarLayer().File("../../escaped", "x").File("/abs/file", "a").Symlink("evil", outside).File("evil/planted", "pwned").Symlink("rel", "../../outside").File("rel/planted2", "pwned").Symlink(".", "/"),
            new TarLayer().File("evil/planted3", "pwned").Hardlink("stolen", "../../../../abs/file").Hardlink("missing", "../../sentinel"),
        ];
        var expected = _temp.Combine("expected");
        await Ext4Images.WriteAsync(RootfsExport.CreateSink(RootfsFormat.Directory, expected, new RootfsExportOptions { SourceDateEpoch = 2_000_000_000 }, null), TarLayer.Layers(Hostile()));
        var image = _temp.Combine("hostile.ext4");
        await Ext4Images.WriteAsync(Ext4Sink.Create(image, new Ext4SinkOptions { SourceDateEpoch = 2_000_000_000 }), TarLayer.Layers(Hostile()));
        Ext4Images.AssertClean(image);
        Ext4Images.WithMounted(image, _temp.Combine("mnt"), mounted =>
        {
            var actual = TreeSnapshot.Capture(mounted).Where(e => e.Key != "lost+found").ToDictionary();
            var differences = TreeSnapshot.Differences(TreeSnapshot.Capture(expected), actual);
            Assert.True(differences.Count == 0, string.Join("\n", differences));
            Assert.Contains("escaped", actual.Keys);
            Assert.Equal("directory", actual["evil"].Type);
            Assert.DoesNotContain(actual.Keys, p => p.Split('/').Contains(".."));
        });
        Assert.Empty(Directory.GetFileSystemEntries(outside));
    }

    private static int LinkCount(string path) =>
        int.Parse(ProcessRunner.Run("stat", ["-c", "%h", path]).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Deterministic bytes of any length, generated as they are read (the test never holds the file).</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private readonly System.Security.Cryptography.IncrementalHash _hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public string Hash() => Convert.ToHexString(_hash.GetHashAndReset());

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++)
            {
                var p = _position + i;
                buffer[offset + i] = (byte)((p * 2654435761L) >> 13);
            }

            _hash.AppendData(buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
