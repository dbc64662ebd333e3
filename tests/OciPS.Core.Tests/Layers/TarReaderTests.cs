using System.Security.Cryptography;
using System.Text;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Layers;

[Trait("Requires", "LinuxPeers")]
public sealed class TarReaderTests : IDisposable
{
    private readonly GnuTarTree _tree = new();

    public void Dispose() => _tree.Dispose();

    internal sealed record ReadEntry(TarHeader Header, string? ContentHash);

    internal static async Task<List<ReadEntry>> ReadAllAsync(Stream stream)
    {
        var entries = new List<ReadEntry>();
        await using var reader = new TarReader(stream, "test archive");
        while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
        {
            string? hash = null;
            if (header.Kind == TarEntryKind.File)
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[100_000];
                int read;
                long total = 0;
                while ((read = await reader.DataStream.ReadAsync(buffer)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    total += read;
                }

                Assert.Equal(header.Size, total);
                hash = Convert.ToHexString(sha.GetHashAndReset());
            }

            entries.Add(new ReadEntry(header, hash));
        }

        await reader.DrainAsync(CancellationToken.None);
        return entries;
    }

    private static ReadEntry Find(List<ReadEntry> entries, string name) =>
        entries.Single(e => EntryName.Normalize(e.Header.Name) == name);

    [Theory]
    [InlineData("gnu")]
    [InlineData("posix")]
    [InlineData("gnu", "--sparse")]
    [InlineData("posix", "--sparse", "--sparse-version=0.0")]
    [InlineData("posix", "--sparse", "--sparse-version=0.1")]
    [InlineData("posix", "--sparse", "--sparse-version=1.0")]
    public async Task EveryEntryOfAGnuTarArchive_IsReadAsTheFilesystemHasIt(string format, params string[] options)
    {
        var archive = _tree.Archive(format, options);
        var entries = await ReadAllAsync(File.OpenRead(archive));

        var plain = Find(entries, "plain.txt").Header;
        Assert.Equal(1234567, plain.Uid);
        Assert.Equal(7654321, plain.Gid);
        Assert.Equal(new DateTimeOffset(2021, 2, 3, 4, 5, 6, TimeSpan.Zero).ToUnixTimeSeconds(), plain.ModifiedTime.Seconds);
        if (format == "posix")
        {
            Assert.Equal(123456789, plain.ModifiedTime.Nanoseconds);
        }

        Assert.Equal(0x9ED, Find(entries, "exec.sh").Header.Mode);
        Assert.Equal(TarEntryKind.Directory, Find(entries, "dir").Header.Kind);
        Assert.Equal(0x3FF, Find(entries, "dir").Header.Mode);
        Assert.Equal("../plain.txt", Find(entries, "dir/link").Header.LinkName);
        Assert.Equal(string.Join('/', Enumerable.Repeat("target-component-that-is-long", 6)), Find(entries, "long-target-link").Header.LinkName);
        Assert.Equal(TarEntryKind.Fifo, Find(entries, "fifo").Header.Kind);

        var links = new[] { Find(entries, "plain.txt"), Find(entries, "dir/hard.txt") };
        var link = Assert.Single(links, e => e.Header.Kind == TarEntryKind.Hardlink);
        var target = Assert.Single(links, e => e.Header.Kind == TarEntryKind.File);
        Assert.Equal(EntryName.Normalize(target.Header.Name), EntryName.Normalize(link.Header.LinkName!));

        Assert.Equal(GnuTarTree.HashOf(Path.Combine(_tree.Root, GnuTarTree.LongName)), Find(entries, GnuTarTree.LongName).ContentHash);
        Assert.Equal(GnuTarTree.HashOf(Path.Combine(_tree.Root, "random.bin")), Find(entries, "random.bin").ContentHash);

        var nonUtf8 = Find(entries, GnuTarTree.NonUtf8Name);
        Assert.Equal(Encoding.Latin1.GetBytes("latin1-caf\u00e9.txt"), EntryName.Encode(EntryName.Normalize(nonUtf8.Header.Name)));
        Assert.Equal(Convert.ToHexString(SHA256.HashData("non-utf8\n"u8)), nonUtf8.ContentHash);

        var xattrs = Find(entries, "xattr.bin").Header.Xattrs;
        Assert.Equal(GnuTarTree.Capability, xattrs["security.capability"]);
        Assert.Equal("hello world"u8.ToArray(), xattrs["user.comment"]);

        var sparse = Find(entries, "sparse.img");
        Assert.Equal(64L << 20, sparse.Header.Size);
        Assert.Equal(GnuTarTree.HashOf(Path.Combine(_tree.Root, "sparse.img")), sparse.ContentHash);
        if (options.Contains("--sparse"))
        {
            Assert.NotNull(sparse.Header.SparseMap);
            Assert.True(sparse.Header.SparseMap!.Sum(r => r.Length) < 1 << 20);
        }
    }

    [Theory]
    [InlineData("ustar")]
    [InlineData("v7")]
    public async Task PlainFormats_AreRead(string format)
    {
        using var temp = new TempDirectory("plain");
        Directory.CreateDirectory(temp.Combine("root", "usr", "bin"));
        File.WriteAllText(temp.Combine("root", "usr", "bin", "tool"), "tool\n");
        File.CreateSymbolicLink(temp.Combine("root", "usr", "bin", "alias"), "tool");
        var archive = temp.Combine("a.tar");
        ProcessRunner.Run("tar", ["--format=" + format, "-cf", archive, "-C", temp.Combine("root"), "."]);

        var entries = await ReadAllAsync(File.OpenRead(archive));
        Assert.Equal(TarEntryKind.Directory, Find(entries, "usr/bin").Header.Kind);
        Assert.Equal("tool", Find(entries, "usr/bin/alias").Header.LinkName);
        Assert.Equal(Convert.ToHexString(SHA256.HashData("tool\n"u8)), Find(entries, "usr/bin/tool").ContentHash);
    }

    [Fact]
    public async Task SystemFormatsTar_CorruptsBinaryCapabilities_OurReaderDoesNot()
    {
        var archive = _tree.Archive("posix");

        await using (var file = File.OpenRead(archive))
        {
            using var inbox = new System.Formats.Tar.TarReader(file);
            System.Formats.Tar.TarEntry? entry;
            while ((entry = inbox.GetNextEntry()) is not null && !entry.Name.EndsWith("xattr.bin", StringComparison.Ordinal))
            {
            }

            var pax = Assert.IsType<System.Formats.Tar.PaxTarEntry>(entry);
            var decoded = Encoding.UTF8.GetBytes(pax.ExtendedAttributes["SCHILY.xattr.security.capability"]);
            Assert.NotEqual(GnuTarTree.Capability, decoded);
        }

        var ours = await ReadAllAsync(File.OpenRead(archive));
        Assert.Equal(GnuTarTree.Capability, Find(ours, "xattr.bin").Header.Xattrs["security.capability"]);
    }

    [Fact]
    public async Task TruncatedArchive_IsCorruptNamingTheOffset()
    {
        var archive = _tree.Archive("gnu");
        var bytes = await File.ReadAllBytesAsync(archive);
        var error = await Assert.ThrowsAsync<CorruptContentException>(() => ReadAllAsync(new MemoryStream(bytes[..(bytes.Length / 2 + 7)])));
        Assert.Equal("LayerCorrupt", error.ErrorId);
        Assert.Contains("test archive", error.Message, StringComparison.Ordinal);
        Assert.Contains("offset", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DamagedHeader_FailsTheChecksum()
    {
        var archive = _tree.Archive("gnu");
        var bytes = await File.ReadAllBytesAsync(archive);
        bytes[3] ^= 0x20;
        var error = await Assert.ThrowsAsync<CorruptContentException>(() => ReadAllAsync(new MemoryStream(bytes)));
        Assert.Contains("checksum", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageAfterAZeroBlock_IsCorrupt_ButMissingEndBlocksAreTolerated()
    {
        using var temp = new TempDirectory("ends");
        File.WriteAllText(temp.Combine("f"), "x");
        var archive = temp.Combine("a.tar");
        ProcessRunner.Run("tar", ["--format=posix", "-cf", archive, "-C", temp.Path, "f"]);
        var bytes = await File.ReadAllBytesAsync(archive);
        var end = bytes.Length;
        while (end > 0 && bytes[end - 1] == 0)
        {
            end--;
        }

        end = (end + 511) / 512 * 512;
        Assert.Single(await ReadAllAsync(new MemoryStream(bytes[..end])));

        var garbage = bytes[..(end + 512)].Concat(Enumerable.Repeat((byte)'x', 512)).ToArray();
        await Assert.ThrowsAsync<CorruptContentException>(() => ReadAllAsync(new MemoryStream(garbage)));
    }

    [Fact]
    public async Task HugePaxHeader_IsRejectedBeforeItIsBuffered()
    {
        var header = new byte[512];
        Encoding.ASCII.GetBytes("PaxHeaders/x").CopyTo(header, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(header, 100);
        Encoding.ASCII.GetBytes("77777777777\0").CopyTo(header, 124);
        header[156] = (byte)'x';
        Encoding.ASCII.GetBytes("ustar\000").CopyTo(header, 257);
        "        "u8.CopyTo(header.AsSpan(148));
        var sum = header.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);

        var error = await Assert.ThrowsAsync<CorruptContentException>(() => ReadAllAsync(new MemoryStream(header)));
        Assert.Contains("extension header", error.Message, StringComparison.Ordinal);
    }
}
