using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks.Directory;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Merge;

/// <summary>Hostile layers never make anything appear outside the target; each case is reported naming the layer and entry.</summary>
public sealed class HostileLayerTests : IDisposable
{
    private readonly TempDirectory _sandbox = new("hostile");

    public void Dispose() => _sandbox.Dispose();

    private string Target => _sandbox.Combine("jail", "rootfs");

    private async Task<List<MergeIssue>> ExportAsync(params TarLayer[] layers)
    {
        Directory.CreateDirectory(_sandbox.Combine("jail"));
        File.WriteAllText(_sandbox.Combine("sentinel"), "untouched");
        var issues = new List<MergeIssue>();
        await using var sink = DirectorySink.Create(Target, new DirectorySinkOptions());
        await foreach (var entry in new LayerMerger(TarLayer.Layers(layers), issues.Add).MergeAsync(CancellationToken.None))
        {
            await sink.AddAsync(entry.Entry, entry.Content, CancellationToken.None);
        }

        await sink.CompleteAsync(CancellationToken.None);
        return issues;
    }

    /// <summary>Everything in the sandbox that is not the target itself or the files the test put there.</summary>
    private string[] OutsideTheTarget() =>
        Directory.EnumerateFileSystemEntries(_sandbox.Path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => Path.GetRelativePath(_sandbox.Path, p))
            .Where(p => p != "sentinel" && p != "jail" && p != Path.Combine("jail", "rootfs") && !p.StartsWith(Path.Combine("jail", "rootfs") + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .ToArray();

    [Fact]
    public async Task DotDotAndAbsoluteNames_StayInside_AndAreReported()
    {
        var issues = await ExportAsync(new TarLayer().File("../../escaped", "x").File("/abs/file", "a").File("a/../../../b", "b").Whiteout("../../sentinel"));
        Assert.Empty(OutsideTheTarget());
        Assert.Equal("untouched", File.ReadAllText(_sandbox.Combine("sentinel")));
        Assert.True(File.Exists(Path.Combine(Target, "escaped")));
        Assert.True(File.Exists(Path.Combine(Target, "abs", "file")));
        Assert.Contains(issues, i => i.ErrorId == "MergeEntryEscapes" && i.Entry.Contains("escaped", StringComparison.Ordinal) && i.LayerIndex == 0);
    }

    [Fact]
    public async Task WritesThroughASymlinkToOutside_AreLeftOutAndReported()
    {
        // go-containerregistry #2227 and umoci's GHSA-9m95: a symlink, then an entry "through" it.
        var outside = _sandbox.Combine("outside");
        Directory.CreateDirectory(outside);
        var issues = await ExportAsync(
            new TarLayer().Symlink("evil", outside).File("evil/planted", "pwned").Symlink("rel", "../../outside").File("rel/planted2", "pwned"),
            new TarLayer().File("evil/planted3", "pwned"));
        Assert.Empty(Directory.GetFileSystemEntries(outside));

        // A later layer put a file below "evil", so it stays a directory (inside the root) and the symlink is dropped.
        Assert.Contains(issues, i => i.ErrorId == "MergeEntryConflictsWithDirectory" && i.Entry == "evil");
        Assert.Null(new DirectoryInfo(Path.Combine(Target, "evil")).LinkTarget);
        Assert.True(File.Exists(Path.Combine(Target, "evil", "planted3")));

        // In the same layer, the symlink comes first: what lies "below" it is never written.
        Assert.Contains(issues, i => i.ErrorId == "MergeEntryUnderNonDirectory" && i.Entry == "rel/planted2");
        Assert.Equal("../../outside", new FileInfo(Path.Combine(Target, "rel")).LinkTarget);
    }

    [Fact]
    public async Task ASymlinkNamedDotOrSlash_CannotReplaceTheRoot()
    {
        var issues = await ExportAsync(new TarLayer().Symlink(".", "/").Symlink("/", "/etc").File("inside", "ok"));
        Assert.True(Directory.Exists(Target));
        Assert.Null(new DirectoryInfo(Target).LinkTarget);
        Assert.Equal("ok", File.ReadAllText(Path.Combine(Target, "inside")));
        Assert.Equal(2, issues.Count(i => i.ErrorId == "MergeEntryReplacesRoot"));
    }

    [Fact]
    public async Task HardlinksToOutside_AreClampedInsideOrLeftOut()
    {
        var issues = await ExportAsync(new TarLayer().File("etc/passwd", "inside").Hardlink("stolen", "../../../../etc/passwd").Hardlink("missing", "../../sentinel"));
        Assert.Empty(OutsideTheTarget());
        Assert.Equal("inside", File.ReadAllText(Path.Combine(Target, "stolen")));
        Assert.False(File.Exists(Path.Combine(Target, "missing")));
        Assert.Contains(issues, i => i.ErrorId == "MergeHardlinkBroken" && i.Entry == "missing");
    }

    [Fact]
    public async Task NulInANameOrAnAbsurdSize_IsAnErrorNotAWrite()
    {
        var layer = new TarLayer().File("ok", "ok").Add(new TarHeader { Name = "huge", Kind = TarEntryKind.File, Size = 1L << 40, Mode = 0x1A4 }, new byte[16]);
        var error = await Assert.ThrowsAsync<InvalidDataException>(async () => await ExportAsync(layer));
        Assert.Contains("huge", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Target));
        Assert.Empty(Directory.GetFileSystemEntries(_sandbox.Combine("jail")));
    }
}
