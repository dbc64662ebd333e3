using OciPS.Core.Sinks.SquashFs;
using Xunit;

namespace OciPS.Core.Tests.Sinks;

/// <summary>The squashfs writer's duplicate-candidate hash: the same bytes however they arrive, different bytes apart.</summary>
public sealed class DuplicateHashTests
{
    private static readonly byte[] Content = MakeContent();

    private static byte[] MakeContent()
    {
        var content = new byte[(3 * 4096) + 77];
        new Random(3).NextBytes(content);
        return content;
    }

    private static ulong Hash(params int[] cuts)
    {
        var hash = new LaneHash();
        var start = 0;
        foreach (var cut in cuts.Append(Content.Length))
        {
            hash.Append(Content.AsSpan(start, cut - start));
            start = cut;
        }

        return hash.GetAndReset();
    }

    [Fact]
    public void TheSameBytes_HashAlike_HoweverTheyAreSplitIntoAppends()
    {
        var whole = Hash();
        Assert.Equal(whole, Hash(4096, 8192, 12288));
        Assert.Equal(whole, Hash(1, 33, 34, 64, 5000, 12300));
        Assert.Equal(whole, Hash(31, 32, 63));
    }

    [Fact]
    public void EachReset_StartsOver()
    {
        var hash = new LaneHash();
        hash.Append(Content);
        var first = hash.GetAndReset();
        hash.Append(Content);
        Assert.Equal(first, hash.GetAndReset());
        Assert.NotEqual(first, hash.GetAndReset());
    }

    [Fact]
    public void AnyOneBitChanged_OrABytesMore_ChangesTheHash()
    {
        var original = Hash();
        var seen = new HashSet<ulong> { original };
        foreach (var position in new[] { 0, 7, 8, 31, 32, 4095, 4096, Content.Length - 40, Content.Length - 1 })
        {
            Content[position] ^= 0x10;
            Assert.True(seen.Add(Hash()), $"a bit flipped at {position} left the hash unchanged");
            Content[position] ^= 0x10;
        }

        var longer = new LaneHash();
        longer.Append(Content);
        longer.Append(new byte[1]);
        Assert.True(seen.Add(longer.GetAndReset()));
        Assert.Equal(original, Hash());
    }
}
