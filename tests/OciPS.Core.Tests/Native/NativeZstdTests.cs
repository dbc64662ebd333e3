using OciPS.Core.Native;
using Xunit;

namespace OciPS.Core.Tests.Native;

/// <summary>The system libzstd binding. Linux only: Debian and Ubuntu always have the library (CI on other systems leaves these out).</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class NativeZstdTests
{
    [Fact]
    public void TheSystemLibrary_IsFound_OnDebian()
    {
        // libzstd1 is a dependency of apt itself: where it cannot be loaded, squashfs zstd exports
        // silently fall back to the slower managed compressor, which this test is here to notice.
        Assert.True(NativeZstd.IsAvailable, "libzstd.so.1 was not loaded");
        Assert.True(NativeZstd.Version >= 10400, $"libzstd {NativeZstd.Version} is older than 1.4");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(19)]
    public void Blocks_ItCompresses_DecompressWithZstdSharp(int level)
    {
        var random = new Random(level);
        var input = new byte[128 * 1024];
        for (var i = 0; i < input.Length; i++)
        {
            input[i] = (byte)(i % 251 < 200 ? 'a' + (i / 7 % 26) : random.Next(256));
        }

        var output = new byte[input.Length + (input.Length >> 3) + 1024];
        using var context = NativeZstd.CreateContext(level);
        var length = context.Compress(input, output);

        Assert.InRange(length, 1, input.Length - 1);
        using var decompressor = new ZstdSharp.Decompressor();
        Assert.Equal(input, decompressor.Unwrap(output.AsSpan(0, length)).ToArray());
    }

    [Fact]
    public void FramesZstdSharpWrote_DecompressToTheirBytes_AndACorruptFrameIsAnError()
    {
        var input = new byte[100_000];
        for (var i = 0; i < input.Length; i++)
        {
            input[i] = (byte)("squashfs fragment "[i % 18] ^ (i / 1000));
        }

        using var compressor = new ZstdSharp.Compressor(3);
        var frame = compressor.Wrap(input).ToArray();
        var output = new byte[128 * 1024];
        Assert.Equal(input.Length, NativeZstd.Decompress(frame, output));
        Assert.Equal(input, output[..input.Length]);

        frame[frame.Length / 2] ^= 0xFF;
        frame[4] ^= 0xFF;
        Assert.Throws<InvalidDataException>(() => NativeZstd.Decompress(frame, output));
    }

    [Fact]
    public void AnOutputTooSmall_IsAnErrorNotACorruptBlock()
    {
        var input = new byte[4096];
        Random.Shared.NextBytes(input);
        using var context = NativeZstd.CreateContext(3);
        Assert.Throws<InvalidOperationException>(() => context.Compress(input, new byte[16]));
    }
}
