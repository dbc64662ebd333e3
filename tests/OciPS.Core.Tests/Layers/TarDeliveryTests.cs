using System.Security.Cryptography;
using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.Core.Sinks.Directory;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Layers;

/// <summary>
/// The tar reader and the directory sink read what is ready without waiting, and wait only when
/// nothing is. However the bytes arrive (a few at a time, in read-ahead blocks that cut headers and
/// content anywhere), the entries, their content and the written tree are the same.
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class TarDeliveryTests : IDisposable
{
    private readonly GnuTarTree _tree = new();

    public static TheoryData<string, string[]> Formats => new()
    {
        { "posix", [] },
        { "gnu", ["--sparse"] },
        { "posix", ["--sparse", "--sparse-version=1.0"] },
    };

    public void Dispose() => _tree.Dispose();

    /// <summary>The ways the archive's bytes reach the reader.</summary>
    private static IEnumerable<(string Name, Func<string, Stream> Open)> Deliveries()
    {
        yield return ("a few bytes per read", path => new TrickleStream(File.OpenRead(path)));
        yield return ("read-ahead blocks of 512 bytes", path => new ReadAheadStream(File.OpenRead(path), 512, 2));
        yield return ("read-ahead blocks of 1000 bytes (headers cut in two)", path => new ReadAheadStream(File.OpenRead(path), 1000, 3));
        yield return ("read-ahead blocks of 64 KiB filled a few bytes at a time", path => new ReadAheadStream(new TrickleStream(File.OpenRead(path)), 64 << 10, 2));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task EntriesAndContent_AreTheSame_HoweverTheBytesArrive(string format, string[] options)
    {
        var archive = _tree.Archive(format, options);
        var expected = Describe(await TarReaderTests.ReadAllAsync(File.OpenRead(archive)));
        Assert.Contains(expected, line => line.StartsWith("random.bin ", StringComparison.Ordinal));

        foreach (var (name, open) in Deliveries())
        {
            // The delivery's name leads each list, so that a failure says which one it was.
            Assert.Equal(expected.Prepend(name), Describe(await TarReaderTests.ReadAllAsync(open(archive))).Prepend(name));
            Assert.Equal(expected.Prepend(name), Describe(await ReadAllLendingAsync(open(archive))).Prepend(name));
        }
    }

    [Fact]
    public async Task TheDirectorySink_WritesTheSameTree_HoweverTheBytesArrive()
    {
        var archive = _tree.Archive("posix", "--sparse");
        var reference = await ExportAsync(File.OpenRead(archive), "reference");
        var expected = TreeSnapshot.Capture(reference);
        Assert.Equal(GnuTarTree.HashOf(Path.Combine(_tree.Root, "random.bin")), expected["random.bin"].ContentHash, ignoreCase: true);

        foreach (var (name, open) in Deliveries())
        {
            var target = await ExportAsync(open(archive), "delivered-" + name.Length);
            Assert.Equal([name], TreeSnapshot.Differences(expected, TreeSnapshot.Capture(target)).Prepend(name));
        }
    }

    private async Task<string> ExportAsync(Stream archive, string name)
    {
        var target = _tree.TempPath(name);
        await using (var sink = DirectorySink.Create(target, new DirectorySinkOptions()))
        {
            await using var reader = new TarReader(archive, name);
            while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
            {
                var entry = LayerReader.ToEntry(header, 0, null);
                if (entry.Path != ".")
                {
                    await sink.AddAsync(entry, entry.Type == OciFileType.File ? reader.DataStream : null, CancellationToken.None);
                }
            }

            await sink.CompleteAsync(CancellationToken.None);
        }

        return target;
    }

    /// <summary>Reads every entry taking file content the way the directory sink does: lent in place where ready, waited for otherwise.</summary>
    private static async Task<List<TarReaderTests.ReadEntry>> ReadAllLendingAsync(Stream stream)
    {
        var entries = new List<TarReaderTests.ReadEntry>();
        await using var reader = new TarReader(stream, "test archive");
        while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
        {
            string? hash = null;
            if (header.Kind == TarEntryKind.File)
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var content = reader.DataStream;
                var lender = Assert.IsAssignableFrom<ILendingStream>(content);
                var buffer = new byte[4096];
                long total = 0;
                while (true)
                {
                    var lent = Lend(lender, sha);
                    total += lent;
                    if (lent > 0 || await lender.WaitAsync(CancellationToken.None))
                    {
                        continue;
                    }

                    // Nothing to lend: a hole of a sparse file, or the end.
                    var read = await content.ReadAsync(buffer);
                    if (read == 0)
                    {
                        break;
                    }

                    sha.AppendData(buffer, 0, read);
                    total += read;
                }

                Assert.Equal(header.Size, total);
                hash = Convert.ToHexString(sha.GetHashAndReset());
            }

            entries.Add(new TarReaderTests.ReadEntry(header, hash));
        }

        await reader.DrainAsync(CancellationToken.None);
        return entries;
    }

    private static int Lend(ILendingStream lender, IncrementalHash sha)
    {
        var ready = lender.Peek(777);
        sha.AppendData(ready);
        lender.Consume(ready.Length);
        return ready.Length;
    }

    private static List<string> Describe(List<TarReaderTests.ReadEntry> entries) =>
        entries.Select(e =>
        {
            var h = e.Header;
            var xattrs = string.Join(",", h.Xattrs.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => x.Key + "=" + Convert.ToHexString(x.Value)));
            var sparse = h.SparseMap is null ? "-" : string.Join(",", h.SparseMap.Select(r => $"{r.Offset}+{r.Length}"));
            return $"{EntryName.Normalize(h.Name)} {h.Kind} {h.Mode} {h.Uid}:{h.Gid} {h.UserName}:{h.GroupName} {h.Size} {h.LinkName} {h.ModifiedTime} {h.Format} {sparse} [{xattrs}] {e.ContentHash}";
        }).ToList();

    /// <summary>Gives a few bytes per read (1 to 13, in turn), and then one read as large as asked, so that reads end anywhere.</summary>
    private sealed class TrickleStream(Stream inner) : ReadOnlyStream
    {
        private int _turn;

        public override int Read(Span<byte> buffer) => inner.Read(buffer[..Next(buffer.Length)]);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            return await inner.ReadAsync(buffer[..Next(buffer.Length)], cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private int Next(int length) => _turn++ % 14 is var turn && turn == 13 ? length : Math.Min(length, turn + 1);
    }
}
