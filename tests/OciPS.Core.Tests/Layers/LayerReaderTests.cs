using System.IO.Compression;
using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Model;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Layers;

public sealed class LayerReaderTests : IDisposable
{
    private readonly TempDirectory _temp = new("layers");

    public void Dispose() => _temp.Dispose();

    private async Task<OciImage> BuildAsync(ImageBuilder builder)
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        await builder.WriteAsync(layout, "t");
        return (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:t"), null, CancellationToken.None);
    }

    private static async Task<List<(OciFileEntry Entry, string? Text)>> ReadAsync(OciLayer layer)
    {
        var entries = new List<(OciFileEntry, string?)>();
        await foreach (var item in LayerReader.ReadAsync(layer, CancellationToken.None))
        {
            string? text = null;
            if (item.Content is not null)
            {
                using var reader = new StreamReader(item.Content, leaveOpen: true);
                text = await reader.ReadToEndAsync();
            }

            entries.Add((item.Entry, text));
        }

        return entries;
    }

    [Theory]
    [InlineData(FixtureCompression.Gzip)]
    [InlineData(FixtureCompression.Zstd)]
    [InlineData(FixtureCompression.None)]
    public async Task Entries_AreTypedWithWhiteoutsAndLayerPositions(FixtureCompression compression)
    {
        var image = await BuildAsync(new ImageBuilder()
            .Layer(new LayerBuilder().Directory("etc").File("etc/a", "A").File("etc/b", "B"))
            .Layer(new LayerBuilder().Whiteout("etc/a").Opaque("etc").File("etc/c", "C").Hardlink("etc/d", "etc/c").Symlink("etc/e", "/etc/c").Whiteout("top"), compression: compression));

        var lower = await ReadAsync(image.Layers[0]);
        Assert.Equal(["etc", "etc/a", "etc/b"], lower.Select(e => e.Entry.Path));
        Assert.Equal("A", lower[1].Text);

        var upper = await ReadAsync(image.Layers[1]);
        Assert.Equal(OciFileType.Whiteout, upper[0].Entry.Type);
        Assert.Equal("etc/a", upper[0].Entry.Path);
        Assert.Equal("etc/.wh.a", upper[0].Entry.RawName);
        Assert.Equal(OciFileType.OpaqueWhiteout, upper[1].Entry.Type);
        Assert.Equal("etc", upper[1].Entry.Path);
        Assert.Equal("C", upper[2].Text);
        Assert.Equal(OciFileType.Hardlink, upper[3].Entry.Type);
        Assert.Equal("etc/c", upper[3].Entry.LinkTarget);
        Assert.Equal("/etc/c", upper[4].Entry.LinkTarget);
        Assert.Equal(("top", OciFileType.Whiteout), (upper[5].Entry.Path, upper[5].Entry.Type));
        Assert.All(upper, e => Assert.Equal(1, e.Entry.LayerIndex));
        Assert.All(upper, e => Assert.Equal(image.Layers[1].Digest, e.Entry.LayerDigest));
    }

    [Fact]
    public async Task WrongDiffId_IsADigestMismatchAtTheEnd()
    {
        var image = await BuildAsync(new ImageBuilder().Layer(new LayerBuilder().File("a", "a")));
        var layer = image.Layers[0];
        var blob = await image.Source.OpenBlobAsync(layer.Descriptor!, CancellationToken.None);
        var wrong = Digest.Compute("not the layer"u8);

        var error = await Assert.ThrowsAsync<DigestMismatchException>(async () =>
        {
            await foreach (var _ in LayerReader.ReadAsync(blob, wrong, 0, layer.Digest, layer.DisplayName, CancellationToken.None))
            {
            }
        });
        Assert.Equal(wrong, error.Expected);
        Assert.Contains("diffID", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TamperedCompressedBlob_IsCaughtByItsDigest()
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("l"));
        await new ImageBuilder().Layer(new LayerBuilder().File("a", new string('x', 10_000))).WriteAsync(layout, "t");
        var image = (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:t"), null, CancellationToken.None);
        var path = layout.BlobPath(image.Layers[0].Digest!);

        // Append a second, valid gzip member: the layer still decompresses, only its digest is wrong.
        using (var extra = new MemoryStream())
        {
            await using (var gzip = new GZipStream(extra, CompressionLevel.Fastest, leaveOpen: true))
            {
                await gzip.WriteAsync(new byte[1024]);
            }

            await File.AppendAllBytesAsync(path, extra.ToArray());
        }

        await Assert.ThrowsAsync<DigestMismatchException>(() => ReadAsync(image.Layers[0]));
    }

    [Fact]
    public async Task GarbageBlob_IsACorruptLayerNamingIt()
    {
        var garbage = new byte[4096];
        new Random(5).NextBytes(garbage);
        garbage[0] = 0x1f;
        garbage[1] = 0x8b;

        var error = await Assert.ThrowsAsync<CorruptContentException>(async () =>
        {
            await foreach (var _ in LayerReader.ReadAsync(new MemoryStream(garbage), null, 3, null, "layer 3 of test", CancellationToken.None))
            {
            }
        });
        Assert.Equal("LayerCorrupt", error.ErrorId);
        Assert.Contains("layer 3 of test", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ContentOfAnEarlierEntry_CannotBeReadAfterMovingOn()
    {
        var image = await BuildAsync(new ImageBuilder().Layer(new LayerBuilder().File("a", "a").File("b", "b")));
        Stream? first = null;
        await foreach (var item in LayerReader.ReadAsync(image.Layers[0], CancellationToken.None))
        {
            if (first is null)
            {
                first = item.Content;
                continue;
            }

            await Assert.ThrowsAsync<InvalidOperationException>(async () => await first.ReadExactlyAsync(new byte[1]));
        }
    }
}
