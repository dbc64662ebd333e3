using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using Xunit;

namespace OciPS.Core.Tests.Merge;

/// <summary>The overlay semantics of the OCI image-spec, case by case, including the cases peers got wrong.</summary>
public sealed class MergeSemanticsTests
{
    [Fact]
    public async Task LaterLayersWin_AndEachPathComesOnce()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("etc").File("etc/a", "old").File("etc/b", "b"),
            new TarLayer().File("etc/a", "new"));
        Assert.Equal(["etc", "etc/a", "etc/b"], result.Paths);
        Assert.Equal("new", result.Text("etc/a"));
        Assert.Equal(result.Entries.Count, result.Entries.Select(e => e.Entry.Path).Distinct().Count());
    }

    [Fact]
    public async Task Whiteout_DeletesAFile_AndADirectoryWithItsSubtree()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("a").File("a/x", "x").Dir("a/sub").File("a/sub/y", "y").File("keep", "k"),
            new TarLayer().Whiteout("a"),
            new TarLayer().File("top", "t"));
        Assert.Equal(["keep", "top"], result.Paths);
    }

    [Fact]
    public async Task WhiteoutHidesOnlyLowerLayers_EvenWhenListedAfterTheFileItNames()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().File("f", "lower"),
            new TarLayer().File("f", "same layer").Whiteout("f"));
        Assert.Equal("same layer", result.Text("f"));
    }

    [Fact]
    public async Task OpaqueDirectory_HidesLowerContentsButNotItselfNorItsOwnLayer()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("d", mode: 0x1C0).File("d/old", "o").Dir("d/oldsub").File("d/oldsub/z", "z"),
            new TarLayer().File("d/new", "n").Opaque("d"));
        Assert.Equal(["d", "d/new"], result.Paths);
        Assert.Equal(0x1C0, result["d"].Mode);
    }

    [Fact]
    public async Task DirectoryReplacedByAFile_AndBackAgain_KeepsOnlyTheNewestDirectorysContents()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("x").File("x/from-first", "1"),
            new TarLayer().File("x", "now a file"),
            new TarLayer().Dir("x").File("x/from-third", "3"));
        Assert.Equal(["x", "x/from-third"], result.Paths);
        Assert.Equal(OciFileType.Directory, result["x"].Type);
    }

    [Fact]
    public async Task FileReplacingADirectory_HidesWhatWasBelowIt()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("lib").File("lib/a.so", "a"),
            new TarLayer().Symlink("lib", "usr/lib"));
        Assert.Equal(["lib"], result.Paths);
        Assert.Equal("usr/lib", result["lib"].LinkTarget);
    }

    [Fact]
    public async Task SymlinksAreKeptAsTheyAre_AbsoluteOrRelative()
    {
        var result = await MergeResult.RunAsync(new TarLayer().Symlink("abs", "/etc/passwd").Symlink("rel", "../../x").Symlink("dangling", "nowhere"));
        Assert.Equal("/etc/passwd", result["abs"].LinkTarget);
        Assert.Equal("../../x", result["rel"].LinkTarget);
        Assert.Empty(result.Issues);
    }

    [Fact]
    public async Task HardlinkWithinALayer_LinksToItsTarget()
    {
        var result = await MergeResult.RunAsync(new TarLayer().File("a", "content").Hardlink("b", "a"));
        Assert.Equal(OciFileType.Hardlink, result["b"].Type);
        Assert.Equal("a", result["b"].LinkTarget);
        Assert.True(result.Entries.ToList().FindIndex(e => e.Entry.Path == "a") < result.Entries.ToList().FindIndex(e => e.Entry.Path == "b"));
    }

    [Fact]
    public async Task HardlinkToALowerLayersFile_IsEmittedAfterIt()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().File("bin/busybox", "bb", mode: 0x1ED),
            new TarLayer().Hardlink("bin/sh", "bin/busybox"));
        var order = result.Entries.Select(e => e.Entry.Path).ToList();
        Assert.True(order.IndexOf("bin/busybox") < order.IndexOf("bin/sh"));
        Assert.Equal("bin/busybox", result["bin/sh"].LinkTarget);
    }

    [Fact]
    public async Task HardlinkWhoseTargetALaterLayerChanged_KeepsTheOldContent()
    {
        // go-containerregistry #2002: the link is an inode; overwriting the target's path later does not change it.
        var result = await MergeResult.RunAsync(
            new TarLayer().File("target", "original").Hardlink("link", "target"),
            new TarLayer().File("target", "replaced"));
        Assert.Equal("replaced", result.Text("target"));
        Assert.Equal(OciFileType.File, result["link"].Type);
        Assert.Equal("original", result.Text("link"));
    }

    [Fact]
    public async Task HardlinkWhoseTargetALaterLayerDeleted_SurvivesAsAFile()
    {
        // go-containerregistry #977.
        var result = await MergeResult.RunAsync(
            new TarLayer().File("target", "content"),
            new TarLayer().Hardlink("link", "target"),
            new TarLayer().Whiteout("target"));
        Assert.Equal(["link"], result.Paths);
        Assert.Equal(OciFileType.File, result["link"].Type);
        Assert.Equal("content", result.Text("link"));
    }

    [Fact]
    public async Task SeveralLinksToADeletedTarget_BecomeOneFileAndLinksToIt()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().File("t", "shared"),
            new TarLayer().Hardlink("l1", "t").Hardlink("l2", "t"),
            new TarLayer().Whiteout("t"));
        Assert.Equal("shared", result.Text("l1"));
        Assert.Equal(OciFileType.Hardlink, result["l2"].Type);
        Assert.Equal("l1", result["l2"].LinkTarget);
    }

    [Fact]
    public async Task HardlinkChains_ResolveToTheFile()
    {
        // buildah #6297: a -> b -> c.
        var result = await MergeResult.RunAsync(new TarLayer().File("c", "data").Hardlink("b", "c").Hardlink("a", "b"));
        Assert.Equal("c", result["a"].LinkTarget);
        Assert.Equal("c", result["b"].LinkTarget);
    }

    [Fact]
    public async Task HardlinkToATargetDeletedBelowTheLink_IsReportedAndLeftOut()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().File("t", "x"),
            new TarLayer().Whiteout("t"),
            new TarLayer().Hardlink("l", "t"));
        Assert.DoesNotContain("l", result.Paths);
        var issue = Assert.Single(result.Issues);
        Assert.Equal("MergeHardlinkBroken", issue.ErrorId);
        Assert.Equal(2, issue.LayerIndex);
    }

    [Fact]
    public async Task LongLinkTargets_AndNonUtf8Names_SurviveExactly()
    {
        var target = string.Join('/', Enumerable.Repeat("component-of-a-long-link-target", 6));
        var name = "caf\udce9-\udcff";
        var result = await MergeResult.RunAsync(new TarLayer().Dir("d").File(target, "deep").Hardlink("d/link", target).Symlink("d/sym", target).File("d/" + name, "latin1"));
        Assert.Equal(target, result["d/link"].LinkTarget);
        Assert.Equal(target, result["d/sym"].LinkTarget);
        Assert.Equal(new byte[] { (byte)'c', (byte)'a', (byte)'f', 0xe9, (byte)'-', 0xff }, EntryName.Encode(result.Entries.Single(e => e.Entry.Path.StartsWith("d/caf", StringComparison.Ordinal)).Entry.Path)[2..]);
    }

    [Fact]
    public async Task Metadata_PassesThroughUntouched()
    {
        var capability = Convert.FromHexString("0100000280040000000000000000000000000000");
        var result = await MergeResult.RunAsync(new TarLayer()
            .File("suid", "s", mode: 0xDED, uid: 100_000, gid: 200_000, xattrs: new Dictionary<string, byte[]> { ["security.capability"] = capability, ["user.x"] = [1, 2, 3] })
            .Dir("tmp", mode: 0x3FF)
            .Node("dev/null", TarEntryKind.CharDevice, 1, 3)
            .Node("dev/sda", TarEntryKind.BlockDevice, 8, 0)
            .Node("run/fifo", TarEntryKind.Fifo, mode: 0x180));
        var suid = result["suid"];
        Assert.Equal(0xDED, suid.Mode);
        Assert.Equal((100_000L, 200_000L), (suid.Uid, suid.Gid));
        Assert.Equal(capability, suid.Xattrs["security.capability"]);
        Assert.Equal(TarLayer.Time, suid.ModifiedTime);
        Assert.Equal(0x3FF, result["tmp"].Mode);
        Assert.Equal((OciFileType.CharDevice, 1, 3), (result["dev/null"].Type, result["dev/null"].DeviceMajor, result["dev/null"].DeviceMinor));
        Assert.Equal(OciFileType.BlockDevice, result["dev/sda"].Type);
        Assert.Equal(OciFileType.Fifo, result["run/fifo"].Type);
    }

    [Fact]
    public async Task BareRootEntry_IsSkipped_AndMissingParentsAreLeftToTheSink()
    {
        var result = await MergeResult.RunAsync(new TarLayer().Dir("./").Dir(".").File("a/b/c/file", "deep"));
        Assert.Equal(["a/b/c/file"], result.Paths);
        Assert.Empty(result.Issues);
    }

    [Fact]
    public async Task EntriesBelowAPathThatTheSameLayerTurnedIntoAFile_AreLeftOut()
    {
        // umoci emits whiteouts under a file that replaced a directory in the same layer.
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("p").File("p/child", "c"),
            new TarLayer().File("p", "file now").Whiteout("p/child"));
        Assert.Equal(["p"], result.Paths);
        Assert.Empty(result.Issues);
    }

    [Fact]
    public async Task DuplicateEntriesInALayer_TheLastWins()
    {
        var result = await MergeResult.RunAsync(new TarLayer().File("dup", "first").File("dup", "second"));
        Assert.Equal("second", result.Entries.Last(e => e.Entry.Path == "dup").Text);
        Assert.Equal("MergeDuplicateEntry", Assert.Single(result.Issues).ErrorId);
    }

    [Fact]
    public async Task EmptyWhiteoutName_IsIgnoredNotADeletionOfItsDirectory()
    {
        // image-spec #1301: ".wh." names nothing; containerd once deleted the directory.
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("d").File("d/keep", "k"),
            new TarLayer().File("d/.wh.", []));
        Assert.Equal(["d", "d/keep"], result.Paths);
        Assert.Equal("MergeWhiteoutInvalid", Assert.Single(result.Issues).ErrorId);
    }

    [Fact]
    public async Task MergeOrder_IsStable()
    {
        var layers = new[]
        {
            new TarLayer().Dir("a").File("a/1", "1").File("b", "b"),
            new TarLayer().File("a/2", "2").Hardlink("c", "b"),
            new TarLayer().Whiteout("a/1").File("z", "z"),
        };
        var first = await MergeResult.RunAsync(layers);
        var second = await MergeResult.RunAsync(layers);
        Assert.Equal(first.Entries.Select(e => e.Entry.Path), second.Entries.Select(e => e.Entry.Path));
    }
}
