using System.Security.Cryptography;
using System.Text;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Layers;

public sealed class TarWriterTests
{
    private static readonly byte[] Capability = Convert.FromHexString("0100000280040000000000000000000000000000");

    private static IEnumerable<(TarHeader Header, byte[]? Content)> Sample()
    {
        var time = new UnixTime(1_700_000_000, 123_456_789);
        yield return (new TarHeader { Name = "dir", Kind = TarEntryKind.Directory, Mode = 0x3FF, ModifiedTime = time }, null);
        yield return (new TarHeader { Name = "dir/file", Kind = TarEntryKind.File, Mode = 0x9ED, Uid = 1000, Gid = 1000, UserName = "user", GroupName = "group", Size = 5, ModifiedTime = time }, "hello"u8.ToArray());
        var longName = "dir/" + string.Join('/', Enumerable.Repeat("a-long-directory-name-for-pax", 10)) + "/leaf";
        yield return (new TarHeader { Name = longName, Kind = TarEntryKind.File, Mode = 0x1A4, Size = 3, ModifiedTime = time }, "abc"u8.ToArray());
        yield return (new TarHeader { Name = "dir/caf\udce9", Kind = TarEntryKind.File, Mode = 0x1A4, Size = 0, ModifiedTime = time }, []);
        yield return (new TarHeader { Name = "dir/link", Kind = TarEntryKind.Symlink, LinkName = string.Join('/', Enumerable.Repeat("target", 30)), Mode = 0x1FF, ModifiedTime = time }, null);
        yield return (new TarHeader { Name = "dir/hard", Kind = TarEntryKind.Hardlink, LinkName = "dir/file", Mode = 0x1A4, ModifiedTime = time }, null);
        yield return (new TarHeader { Name = "dir/big-ids", Kind = TarEntryKind.File, Mode = 0x1A4, Uid = 70_000_000, Gid = 80_000_000, Size = 1, ModifiedTime = new UnixTime(-86_400, 0) }, "x"u8.ToArray());
        yield return (new TarHeader
        {
            Name = "dir/capable",
            Kind = TarEntryKind.File,
            Mode = 0x1ED,
            Size = 2,
            ModifiedTime = time,
            Xattrs = new Dictionary<string, byte[]> { ["security.capability"] = Capability, ["user.note"] = "n\u00f6te"u8.ToArray() },
        }, "ok"u8.ToArray());
        yield return (new TarHeader { Name = "dir/fifo", Kind = TarEntryKind.Fifo, Mode = 0x1A4, ModifiedTime = time }, null);
        yield return (new TarHeader { Name = "dir/null", Kind = TarEntryKind.CharDevice, Mode = 0x1B6, DeviceMajor = 1, DeviceMinor = 3, ModifiedTime = time }, null);
    }

    private static async Task<byte[]> WriteAsync(IEnumerable<(TarHeader Header, byte[]? Content)> entries)
    {
        using var buffer = new MemoryStream();
        await using (var writer = new TarWriter(buffer, leaveOpen: true))
        {
            foreach (var (header, content) in entries)
            {
                await writer.WriteAsync(header, content is null ? null : new MemoryStream(content), CancellationToken.None);
            }

            await writer.CompleteAsync(CancellationToken.None);
        }

        return buffer.ToArray();
    }

    [Fact]
    public async Task WhatWeWrite_WeReadBackExactly()
    {
        var archive = await WriteAsync(Sample());
        var read = await TarReaderTests.ReadAllAsync(new MemoryStream(archive));
        var expected = Sample().ToArray();
        Assert.Equal(expected.Length, read.Count);
        for (var i = 0; i < expected.Length; i++)
        {
            var (want, content) = expected[i];
            var got = read[i].Header;
            Assert.Equal(EntryName.Encode(want.Name), EntryName.Encode(EntryName.Normalize(got.Name)));
            Assert.Equal(want.Kind, got.Kind);
            Assert.Equal(want.Mode, got.Mode);
            Assert.Equal(want.Uid, got.Uid);
            Assert.Equal(want.Gid, got.Gid);
            Assert.Equal(want.ModifiedTime, got.ModifiedTime);
            Assert.Equal(want.LinkName, got.LinkName);
            Assert.Equal(want.DeviceMajor, got.DeviceMajor);
            Assert.Equal(want.DeviceMinor, got.DeviceMinor);
            Assert.Equal(want.Xattrs.Keys.Order(), got.Xattrs.Keys.Order());
            foreach (var (key, value) in want.Xattrs)
            {
                Assert.Equal(value, got.Xattrs[key]);
            }

            if (content is not null)
            {
                Assert.Equal(Convert.ToHexString(SHA256.HashData(content)), read[i].ContentHash);
            }
        }
    }

    [Fact]
    public async Task SameEntries_SameBytes()
    {
        Assert.Equal(await WriteAsync(Sample()), await WriteAsync(Sample()));
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public async Task GnuTar_ExtractsWhatWeWrite_XattrsIncluded()
    {
        using var temp = new TempDirectory("tarwriter");
        var archive = temp.Combine("ours.tar");
        await File.WriteAllBytesAsync(archive, await WriteAsync(Sample().Where(e => e.Header.Kind != TarEntryKind.CharDevice)));
        var listing = ProcessRunner.Run("tar", ["-tvf", archive]).StandardOutput;
        Assert.Contains("dir/fifo", listing, StringComparison.Ordinal);

        var target = temp.Combine("out");
        Directory.CreateDirectory(target);
        ProcessRunner.Run("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xf", archive, "-C", target]);
        Assert.Equal("hello", File.ReadAllText(Path.Combine(target, "dir", "file")));
        Assert.Equal("abc", File.ReadAllText(Path.Combine(target, "dir", string.Join('/', Enumerable.Repeat("a-long-directory-name-for-pax", 10)), "leaf")));
        Assert.Equal(string.Join('/', Enumerable.Repeat("target", 30)), new FileInfo(Path.Combine(target, "dir", "link")).LinkTarget);
        var stat = ProcessRunner.Run("stat", ["-c", "%a %u %g %Y.%y", Path.Combine(target, "dir", "file")]).StandardOutput;
        Assert.StartsWith("4755 1000 1000 1700000000.", stat, StringComparison.Ordinal);
        Assert.Contains(".123456789", stat, StringComparison.Ordinal);
        Assert.StartsWith("644 70000000 80000000", ProcessRunner.Run("stat", ["-c", "%a %u %g", Path.Combine(target, "dir", "big-ids")]).StandardOutput, StringComparison.Ordinal);
        var caps = ProcessRunner.Run("getfattr", ["-d", "-m", "-", "-e", "hex", Path.Combine(target, "dir", "capable")]).StandardOutput;
        Assert.Contains("security.capability=0x" + Convert.ToHexString(Capability).ToLowerInvariant(), caps, StringComparison.Ordinal);
        Assert.Contains("user.note=0x" + Convert.ToHexString("n\u00f6te"u8).ToLowerInvariant(), caps, StringComparison.Ordinal);
        var nonUtf8 = ProcessRunner.Run("sh", ["-c", "ls dir | od -c"], workingDirectory: target).StandardOutput;
        Assert.Contains("351", nonUtf8, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ContentShorterThanTheSize_IsAnError()
    {
        using var buffer = new MemoryStream();
        await using var writer = new TarWriter(buffer, leaveOpen: true);
        var header = new TarHeader { Name = "f", Kind = TarEntryKind.File, Size = 10 };
        await Assert.ThrowsAsync<InvalidDataException>(async () => await writer.WriteAsync(header, new MemoryStream(new byte[3]), CancellationToken.None));
    }
}
