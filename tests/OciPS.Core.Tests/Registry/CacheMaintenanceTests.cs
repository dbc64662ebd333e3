using OciPS.Core.Registry;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Registry;

public sealed class CacheMaintenanceTests : IDisposable
{
    private readonly TempDirectory _temp = new("cache-clear");

    public void Dispose() => _temp.Dispose();

    private string Blob(string name, int size)
    {
        var path = _temp.Combine("blobs", "sha256", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[size]);
        return path;
    }

    [Fact]
    public void APartialFileADownloadHolds_IsLeftAlone_AndRemovedOnceReleased()
    {
        var whole = Blob(new string('a', 64), 100);
        var partial = Blob(new string('b', 64) + ".partial", 40);

        // Held the way BlobCache holds a partial file while it downloads into it.
        using (new FileStream(partial, FileMode.Open, FileAccess.ReadWrite, BlobCache.PartialShare))
        {
            var result = CacheMaintenance.Clear(_temp.Path, null, (_, _) => true);
            Assert.Equal(1, result.BlobsRemoved);
            Assert.Equal(100, result.BytesFreed);
            Assert.False(File.Exists(whole));
            Assert.True(File.Exists(partial), "a partial file being downloaded into was deleted");
        }

        var after = CacheMaintenance.Clear(_temp.Path, null, (_, _) => true);
        Assert.Equal(1, after.BlobsRemoved);
        Assert.False(File.Exists(partial));
    }
}
