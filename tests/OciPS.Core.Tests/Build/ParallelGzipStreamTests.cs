using System.IO.Compression;
using OciPS.Core.Build.Layers;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Build;

public sealed class ParallelGzipStreamTests
{
    private static async Task<byte[]> CompressAsync(byte[] input, int parallelism, int writeSize)
    {
        using var output = new MemoryStream();
        await using (var gzip = new ParallelGzipStream(output, parallelism))
        {
            for (var offset = 0; offset < input.Length; offset += writeSize)
            {
                await gzip.WriteAsync(input.AsMemory(offset, Math.Min(writeSize, input.Length - offset)));
            }
        }

        return output.ToArray();
    }

    private static byte[] Input(int size)
    {
        var random = new Random(7);
        var data = new byte[size];
        for (var i = 0; i < size; i++)
        {
            data[i] = (byte)(i % 97 < 50 ? 'a' + (i % 26) : random.Next(256));
        }

        return data;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData((1 << 20) - 1)]
    [InlineData(1 << 20)]
    [InlineData((3 << 20) + 12345)]
    public async Task OutputIsTheSameWhateverTheParallelismAndReadsBack(int size)
    {
        var input = Input(size);
        var one = await CompressAsync(input, 1, 4096);
        var four = await CompressAsync(input, 4, 100_000);
        Assert.Equal(one, four);
        Assert.Equal(0xFF, one[9]);

        using var reader = new GZipStream(new MemoryStream(one), CompressionMode.Decompress);
        using var back = new MemoryStream();
        await reader.CopyToAsync(back);
        Assert.Equal(input, back.ToArray());
    }

    [Fact]
    public async Task GzipToolReadsEveryMember()
    {
        using var temp = new TempDirectory("pgzip");
        var input = Input((2 << 20) + 5);
        var path = temp.Combine("data.gz");
        await File.WriteAllBytesAsync(path, await CompressAsync(input, 2, 65536));
        var result = ProcessRunner.RunBytes("gzip", ["-dc", path]);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(input, result.StandardOutput);
    }
}
