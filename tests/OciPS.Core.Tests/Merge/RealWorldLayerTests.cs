using OciPS.Core.Compare;
using OciPS.Core.Layers;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks;
using OciPS.Core.Tests.Layers;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Merge;

/// <summary>
/// Layers as real tools write them (GNU tar in each of its formats, sparse files both GNU and PAX)
/// merged and written back out equal the tree they were made from; and the regressions other merge
/// implementations shipped (ocirender's list, go-containerregistry's hardlink bugs).
/// </summary>
[Trait("Requires", "LinuxPeers")]
public sealed class RealWorldLayerTests : IDisposable
{
    private readonly GnuTarTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private static MergeLayer LayerOf(string archive) =>
        new(0, Path.GetFileName(archive), ct => LayerReader.ReadAsync(File.OpenRead(archive), null, 0, null, Path.GetFileName(archive), ct));

    public static TheoryData<string, string[]> Formats() => new()
    {
        { "gnu", [] },
        { "gnu", ["--sparse"] },
        { "posix", [] },
        { "posix", ["--sparse"] },
        { "posix", ["--sparse", "--sparse-version=1.0"] },
        { "posix", ["--sparse", "--sparse-version=0.1"] },
    };

    [RootTheory]
    [MemberData(nameof(Formats))]
    public async Task GnuTarLayer_ExportsToTheTreeItWasMadeFrom(string format, string[] options)
    {
        var archive = _tree.Archive(format, options);
        var target = _tree.TempPath($"out-{format}-{string.Join('-', options)}");
        await using (var sink = RootfsExport.CreateSink(RootfsFormat.Directory, target, new RootfsExportOptions(), null))
        {
            var issues = new List<MergeIssue>();
            await RootfsExport.RunAsync(new LayerMerger([LayerOf(archive)], issues.Add).MergeAsync(CancellationToken.None), sink, CancellationToken.None);
            Assert.Empty(issues);
        }

        var differences = TreeSnapshot.Differences(TreeSnapshot.Capture(_tree.Root), TreeSnapshot.Capture(target));
        Assert.True(differences.Count == 0, string.Join("\n", differences));
        if (options.Contains("--sparse"))
        {
            // Holes stay holes: 64 MiB of file, a few blocks on disk.
            var blocks = long.Parse(ProcessRunner.Run("stat", ["-c", "%b", Path.Combine(target, "sparse.img")]).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(blocks * 512 < 1 << 20, $"sparse.img takes {blocks * 512} bytes on disk");
        }

        // The same tree, read back as Test-OciRootfs does, equals the source tree.
        var compared = await RootfsComparer.CompareAsync(RootfsReader.Open(_tree.Root, CancellationToken.None), RootfsReader.Open(target, CancellationToken.None), RootfsProperties.None, CancellationToken.None);
        Assert.Empty(compared);
    }

    [Fact]
    public async Task FilesSpreadOverManyDirectoriesInTurn_AllLandWhereTheyBelong()
    {
        // The directory sink keeps 128 directories open; a layer that goes round 300 of them in turn
        // makes it close and reopen them all the time (tar's order here: every directory, then one
        // file in each, twice).
        var source = _tree.TempPath("many-dirs");
        var names = new List<string>();
        for (var d = 0; d < 300; d++)
        {
            var directory = $"d{d:000}/sub";
            Directory.CreateDirectory(Path.Combine(source, directory));
            names.Add($"d{d:000}");
            names.Add(directory);
        }

        for (var round = 0; round < 2; round++)
        {
            for (var d = 0; d < 300; d++)
            {
                var file = $"d{d:000}/sub/f{round}.txt";
                File.WriteAllText(Path.Combine(source, file), file);
                names.Add(file);
            }
        }

        var list = _tree.TempPath("many-dirs.list");
        File.WriteAllLines(list, names);
        var archive = _tree.TempPath("many-dirs.tar");
        ProcessRunner.Run("tar", ["--format=posix", "-cf", archive, "-C", source, "--no-recursion", "-T", list]);
        var target = _tree.TempPath("many-dirs-out");
        await using (var sink = RootfsExport.CreateSink(RootfsFormat.Directory, target, new RootfsExportOptions(), null))
        {
            await RootfsExport.RunAsync(new LayerMerger([LayerOf(archive)], null).MergeAsync(CancellationToken.None), sink, CancellationToken.None);
        }

        var differences = TreeSnapshot.Differences(TreeSnapshot.Capture(source), TreeSnapshot.Capture(target));
        Assert.True(differences.Count == 0, string.Join("\n", differences));
        Assert.Equal("d299/sub/f1.txt", File.ReadAllText(Path.Combine(target, "d299", "sub", "f1.txt")));
    }

    [Fact]
    public async Task SymlinkReplacingADirectory_HidesWhatWasBelowIt()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("lib").File("lib/libc.so", "c").Dir("usr/lib"),
            new TarLayer().Symlink("lib", "usr/lib"));
        Assert.Equal(["lib", "usr/lib"], result.Paths);
        Assert.Equal(OciFileType.Symlink, result["lib"].Type);
        Assert.Empty(result.Issues);
    }

    [Fact]
    public async Task AbsoluteHardlinkTarget_LinksInsideTheRoot()
    {
        var result = await MergeResult.RunAsync(new TarLayer().Dir("bin").File("bin/busybox", "bb", mode: 0x1ED).Hardlink("bin/sh", "/bin/busybox"));
        Assert.Equal(OciFileType.Hardlink, result["bin/sh"].Type);
        Assert.Equal("bin/busybox", result["bin/sh"].LinkTarget);
    }

    [Fact]
    public async Task HardlinkWhoseParentNoLayerLists_IsStillALink()
    {
        // apple/container#1797: the link's directory has no entry of its own.
        var result = await MergeResult.RunAsync(new TarLayer().File("a/file", "x").Hardlink("b/c/link", "a/file"));
        Assert.Equal("a/file", result["b/c/link"].LinkTarget);
        Assert.Empty(result.Issues);
    }

    [Fact]
    public async Task WhiteoutOfADirectory_HidesItsWholeSubtreeButNotNewerEntries()
    {
        var result = await MergeResult.RunAsync(
            new TarLayer().Dir("var/cache/apt").File("var/cache/apt/pkgcache.bin", "p").File("var/cache/apt/archives/x.deb", "d"),
            new TarLayer().Whiteout("var/cache").Dir("var/cache").File("var/cache/new", "n"));
        Assert.Equal(["var/cache", "var/cache/new"], result.Paths);
    }
}
