using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OciPS.Core.Content;
using OciPS.Core.Git;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Git;

/// <summary>Runs alone: it measures the test process's peak memory, which other tests running beside it would move.</summary>
[CollectionDefinition(nameof(PeakMemoryRunsAlone), DisableParallelization = true)]
public sealed class PeakMemoryRunsAlone;

/// <summary>A conversion streams file contents: a file far larger than the memory it may use goes through.</summary>
[Trait("Requires", "LinuxPeers")]
[Collection(nameof(PeakMemoryRunsAlone))]
public sealed class GitMemoryTests : IDisposable
{
    private const long RandomSize = 128L << 20;
    private const long TextSize = 32L << 20;

    /// <summary>The most the process's resident memory may grow during the conversion: half the random file alone.</summary>
    private const long AllowedGrowth = 64L << 20;

    private readonly TempDirectory _temp = new("git-memory");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task LargeFiles_AreStreamed_PeakMemoryStaysBounded()
    {
        // The layer is written to disk as it is generated: the test itself never holds a file either.
        var tarPath = _temp.Combine("layer.tar");
        await using (var tar = File.Create(tarPath))
        {
            var writer = new TarWriter(tar, leaveOpen: true);
            await writer.WriteAsync(new TarHeader { Name = "opt", Kind = TarEntryKind.Directory, Mode = 0x1ED, ModifiedTime = TarLayer.Time }, null, CancellationToken.None);
            await writer.WriteAsync(FileHeader("opt/random.bin", RandomSize), new GeneratedStream(RandomSize, text: false), CancellationToken.None);
            await writer.WriteAsync(FileHeader("opt/text.txt", TextSize), new GeneratedStream(TextSize, text: true), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }

        var layout = OciLayoutWriter.Open(_temp.Combine("layout"));
        await new ImageBuilder().LayerFile(tarPath, "COPY big files /opt/").WriteAsync(layout, "big");
        var image = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:big"), null, CancellationToken.None);
        var repository = _temp.Combine("repo");

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = ResetPeakResidentMemory();
        await GitRepoConverter.ConvertAsync(image, repository, new GitConversionOptions(), null, null, null, CancellationToken.None);
        var growth = PeakResidentMemory() - before;

        Assert.True(growth < AllowedGrowth, $"the process's peak resident memory grew by {growth >> 20} MiB converting files of {RandomSize >> 20} and {TextSize >> 20} MiB (allowed: {AllowedGrowth >> 20} MiB)");
        Assert.Equal(string.Empty, ProcessRunner.Run("git", ["-C", repository, "fsck", "--strict", "--no-dangling"]).StandardError.Trim());
        Assert.Equal(BlobId(RandomSize, text: false), GitRepoConverterTests.Git(repository, "rev-parse", "HEAD:rootfs/opt/random.bin").Trim());
        Assert.Equal(BlobId(TextSize, text: true), GitRepoConverterTests.Git(repository, "rev-parse", "HEAD:rootfs/opt/text.txt").Trim());

        // The random file is stored, the text compressed: both as the pack says, not inflated.
        var sizes = GitRepoConverterTests.Lines(ProcessRunner.Run("sh", ["-c", $"git -C '{repository}' rev-parse HEAD:rootfs/opt/random.bin HEAD:rootfs/opt/text.txt | git -C '{repository}' cat-file --batch-check='%(objectsize:disk)'"]).StandardOutput)
            .Select(line => long.Parse(line, CultureInfo.InvariantCulture)).ToArray();
        Assert.InRange(sizes[0], RandomSize, RandomSize + (RandomSize / 10_000));
        Assert.True(sizes[1] < TextSize / 2, $"the text takes {sizes[1]} bytes in the pack");
    }

    private static TarHeader FileHeader(string name, long size) =>
        new() { Name = name, Kind = TarEntryKind.File, Mode = 0x1A4, Size = size, ModifiedTime = TarLayer.Time };

    /// <summary>Git's id of the generated content, computed as it streams by.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "Git names objects by SHA-1.")]
    private static string BlobId(long size, bool text)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        hash.AppendData(Encoding.ASCII.GetBytes($"blob {size}\0"));
        using var content = new GeneratedStream(size, text);
        var buffer = new byte[1 << 16];
        int read;
        while ((read = content.Read(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
        }

        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>Resets the kernel's record of the peak (VmHWM) to the current resident size, and returns it.</summary>
    private static long ResetPeakResidentMemory()
    {
        File.WriteAllText("/proc/self/clear_refs", "5");
        return PeakResidentMemory();
    }

    private static long PeakResidentMemory()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Deterministic content of a given length, made as it is read: random bytes, or lines of words.</summary>
    private sealed class GeneratedStream(long length, bool text) : Stream
    {
        private static readonly string[] Words = ["layer", "image", "commit", "tree", "blob", "pack", "delta", "index", "digest", "manifest", "config", "rootfs"];
        private readonly Random _random = new(text ? 2 : 1);
        private readonly byte[] _line = new byte[256];
        private int _lineLength;
        private int _lineUsed;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var count = (int)Math.Min(buffer.Length, length - _position);
            buffer = buffer[..count];
            if (!text)
            {
                _random.NextBytes(buffer);
            }
            else
            {
                for (var done = 0; done < count;)
                {
                    if (_lineUsed == _lineLength)
                    {
                        var line = string.Join(' ', Enumerable.Range(0, 8).Select(_ => Words[_random.Next(Words.Length)])) + $" {_random.Next(100_000)}\n";
                        _lineLength = Encoding.ASCII.GetBytes(line, _line);
                        _lineUsed = 0;
                    }

                    var take = Math.Min(count - done, _lineLength - _lineUsed);
                    _line.AsSpan(_lineUsed, take).CopyTo(buffer[done..]);
                    _lineUsed += take;
                    done += take;
                }
            }

            _position += count;
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
