using System.Text;
using OciPS.Core.Content;
using OciPS.Core.Git;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks.Directory;
using OciPS.Core.Tests.Merge;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Core.Tests.Git;

/// <summary>Converted repositories checked with the git CLI: fsck, log, ls-tree, archive, merge-base.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class GitRepoConverterTests : IDisposable
{
    private readonly TempDirectory _temp = new("git-convert");
    private int _layouts;

    public void Dispose() => _temp.Dispose();

    internal static string Git(string repository, params string[] arguments) =>
        ProcessRunner.Run("git", ["-C", repository, .. arguments]).StandardOutput;

    internal static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private async Task<OciImage> BuildAsync(Action<ImageBuilder> build, string tag = "t")
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("layout" + _layouts++));
        var builder = new ImageBuilder();
        build(builder);
        await builder.WriteAsync(layout, tag);
        return (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:{tag}"), null, CancellationToken.None);
    }

    private static Task<GitConversionResult> ConvertAsync(OciImage image, string repository, string? branch = null, List<string>? warnings = null, List<string>? log = null, IProgress<OciProgress>? progress = null, CancellationToken cancellationToken = default) =>
        GitRepoConverter.ConvertAsync(image, repository, new GitConversionOptions { Branch = branch }, progress, log is null ? null : log.Add, warnings is null ? null : warnings.Add, cancellationToken);

    /// <summary>A base of three steps (two layers, one ENV) that several tests build on.</summary>
    private static void Base(ImageBuilder image) => image
        .LayerTar(new TarLayer().Dir("etc").File("etc/os-release", "ID=test\n").Dir("bin").File("bin/sh", "#!sh", mode: 0x1ED).Symlink("bin/ash", "sh").ToTar(), "/bin/sh -c #(nop) ADD file:0123abcd in / ")
        .LayerTar(new TarLayer().Dir("opt/app").File("opt/app/old", "old\n").File("opt/app/config", "a=1\n").ToTar(), "/bin/sh -c mkdir -p /opt/app && echo a=1 > /opt/app/config")
        .EmptyStep("/bin/sh -c #(nop)  ENV APP=1");

    private static TarLayer RichLayer() => new TarLayer()
        .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/shadow", "secret", mode: 0x180, uid: 0, gid: 42).File("etc/empty", string.Empty)
        .Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Symlink("bin/ls", "busybox")
        .Dir("usr/bin").File("usr/bin/sudo", "sudo", mode: 0x9ED).File("usr/bin/tagged", "t", xattrs: new Dictionary<string, byte[]> { ["user.comment"] = "hello"u8.ToArray() })
        .Dir("tmp", mode: 0x3FF).Dir("var/mail", mode: 0xBFD, gid: 8).Dir("var/empty")
        .Node("dev/null", TarEntryKind.CharDevice, 1, 3).Node("run/initctl", TarEntryKind.Fifo, mode: 0x180)
        .Dir("home/user", uid: 1000, gid: 1000).File("home/user/.profile", "export A=1\n", uid: 1000, gid: 1000)
        .Dir("opt/app").File("opt/app/old", "old").File("opt/app/stays", "stays").Dir("opt/cache").File("opt/cache/x", "x");

    [Fact]
    public async Task OneCommitPerHistoryStep_ThenImageMd_FsckClean()
    {
        var image = await BuildAsync(image =>
        {
            Base(image);
            image.LayerTar(new TarLayer().Whiteout("opt/app/old").File("opt/app/new", "new\n").ToTar(), "RUN /bin/sh -c rm /opt/app/old && echo new > /opt/app/new # buildkit");
            image.EmptyStep("CMD [\"/bin/sh\"]");
        });
        var repository = _temp.Combine("repo");
        var result = await ConvertAsync(image, repository);

        Assert.True(result.Changed);
        Assert.Equal(image.History.Count + 1, result.Commits.Count);
        var fsck = ProcessRunner.Run("git", ["-C", repository, "fsck", "--strict", "--no-dangling"]);
        Assert.Equal(string.Empty, fsck.StandardError.Trim());

        var subjects = Lines(Git(repository, "log", "--reverse", "--format=%s", result.Branch));
        Assert.Equal(
            ["ADD file:0123abcd in /", "RUN mkdir -p /opt/app && echo a=1 > /opt/app/config", "ENV APP=1", "RUN rm /opt/app/old && echo new > /opt/app/new", "CMD [\"/bin/sh\"]", "Image " + image.Reference],
            subjects);
        Assert.Equal(result.Commits, Lines(Git(repository, "log", "--reverse", "--format=%H", result.Branch)));

        // Trailers name the layer; the ENV step is an empty commit; the date is the history's.
        var second = Git(repository, "show", "-s", "--format=%B%n%at %ct", result.Commits[1]);
        Assert.Contains("Layer-Index: 1", second, StringComparison.Ordinal);
        Assert.Contains("Layer-Digest: " + image.Layers[1].Digest, second, StringComparison.Ordinal);
        Assert.Contains("Layer-DiffID: " + image.Layers[1].DiffId, second, StringComparison.Ordinal);
        Assert.Contains("1704164645 1704164645", second, StringComparison.Ordinal);
        Assert.Equal(Git(repository, "rev-parse", result.Commits[1] + "^{tree}"), Git(repository, "rev-parse", result.Commits[2] + "^{tree}"));

        // The deletion is found by git's own history search.
        Assert.Equal([result.Commits[3]], Lines(Git(repository, "log", "--diff-filter=D", "--format=%H", "--", "rootfs/opt/app/old")));
        Assert.Equal([result.Commits[1]], Lines(Git(repository, "log", "--diff-filter=A", "--format=%H", "--", "rootfs/opt/app/old")));

        // Only the last commit holds Image.md; HEAD names the branch.
        Assert.Equal(["Image.md", "rootfs.meta", "rootfs"], Lines(Git(repository, "ls-tree", "--name-only", "HEAD")));
        Assert.Equal(["rootfs.meta", "rootfs"], Lines(Git(repository, "ls-tree", "--name-only", result.Commits[^2])));
        Assert.Equal("refs/heads/" + result.Branch, Git(repository, "symbolic-ref", "HEAD").Trim());
        var markdown = Git(repository, "show", "HEAD:Image.md");
        Assert.Contains(image.Digest.ToString(), markdown, StringComparison.Ordinal);
        Assert.Contains("| 3 | 2024-01-02T03:04:05.123456789Z | RUN rm /opt/app/old && echo new > /opt/app/new |", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LastCommit_EqualsDirectoryExport_AndMetaMatchesOwnersAndModes()
    {
        var image = await BuildAsync(image => image
            .LayerTar(RichLayer().ToTar())
            .LayerTar(new TarLayer()
                .Whiteout("opt/app/old").Opaque("opt/cache").File("opt/cache/y", "y")
                .File("etc/passwd", "root:x:0:0::/root:/bin/ash\n").Dir("lib").File("lib/libc.so", "libc", mode: 0x1ED)
                .Symlink("lib/ld-musl.so.1", "/lib/libc.so").File("usr/bin/tool", "tool", mode: 0x1C0).ToTar())
            .LayerTar(new TarLayer().Whiteout("home").File("bin/busybox", "#!busybox v2", mode: 0x1ED).ToTar()));
        var repository = _temp.Combine("repo");
        await ConvertAsync(image, repository);
        Assert.Equal(string.Empty, ProcessRunner.Run("git", ["-C", repository, "fsck", "--strict", "--no-dangling"]).StandardError.Trim());

        var export = _temp.Combine("export");
        await using (var sink = DirectorySink.Create(export, new DirectorySinkOptions()))
        {
            await foreach (var entry in LayerMerger.For(image).MergeAsync(CancellationToken.None))
            {
                await sink.AddAsync(entry.Entry, entry.Content, CancellationToken.None);
            }

            await sink.CompleteAsync(CancellationToken.None);
        }

        var extracted = _temp.Combine("extracted");
        Directory.CreateDirectory(extracted);
        ProcessRunner.Run("sh", ["-c", $"git -C '{repository}' archive HEAD rootfs | tar -x -C '{extracted}'"]);
        var expected = TreeSnapshot.Capture(export);
        var actual = TreeSnapshot.Capture(Path.Combine(extracted, "rootfs"));

        // Files and symlinks: same paths, content, targets and executable bits; devices and FIFOs are not in git.
        string Kind(TreeEntry e) => e.Type == "regular empty file" ? "regular file" : e.Type;
        string Fingerprint(TreeEntry e) => $"{Kind(e)} {e.ContentHash} {e.LinkTarget} executable={(Convert.ToInt32(e.Mode, 8) & 0x49) != 0}";
        var gitKinds = new[] { "regular file", "regular empty file", "symbolic link" };
        var want = expected.Values.Where(e => gitKinds.Contains(e.Type)).ToDictionary(e => e.Path, Fingerprint);
        var got = actual.Values.Where(e => gitKinds.Contains(e.Type)).ToDictionary(e => e.Path, Fingerprint);
        var mismatches = want.Keys.Union(got.Keys).Where(path => want.GetValueOrDefault(path) != got.GetValueOrDefault(path))
            .Select(path => $"{path}: export '{want.GetValueOrDefault(path)}', git '{got.GetValueOrDefault(path)}'").ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));

        // rootfs.meta holds every path of the export with its type, mode and owner, empty directories and devices included.
        var meta = Lines(Git(repository, "show", "HEAD:rootfs.meta")).Select(RootfsMeta.Parse).OfType<(string Path, RootfsMeta Meta)>().ToDictionary(m => m.Path, m => m.Meta);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), meta.Keys.Order(StringComparer.Ordinal));
        foreach (var entry in expected.Values)
        {
            var recorded = meta[entry.Path];
            Assert.True(
                entry.Mode == Convert.ToString(recorded.Mode, 8) && entry.Uid == recorded.Uid && entry.Gid == recorded.Gid,
                $"{entry.Path}: export {entry.Mode} {entry.Uid}:{entry.Gid}, meta {Convert.ToString(recorded.Mode, 8)} {recorded.Uid}:{recorded.Gid}");
        }

        Assert.Equal(OciFileType.CharDevice, meta["dev/null"].Type);
        Assert.Equal((1, 3), (meta["dev/null"].DeviceMajor, meta["dev/null"].DeviceMinor));
        Assert.Equal(OciFileType.Fifo, meta["run/initctl"].Type);
        Assert.Equal(OciFileType.Directory, meta["var/empty"].Type);
        Assert.Equal("hello"u8.ToArray(), meta["usr/bin/tagged"].Xattrs["user.comment"]);
        Assert.Null(meta["bin/sh"].HardlinkTo);
    }

    [Fact]
    public async Task Hardlinks_AndModeChanges_ShowInMetaDiff()
    {
        var image = await BuildAsync(image => image
            .LayerTar(new TarLayer().Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Hardlink("bin/ash", "bin/sh").ToTar())
            .LayerTar(new TarLayer().File("bin/busybox", "#!busybox", mode: 0x9ED, uid: 0, gid: 10).ToTar(), "RUN chmod u+s /bin/busybox"));
        var repository = _temp.Combine("repo");
        var result = await ConvertAsync(image, repository);

        var first = Git(repository, "show", result.Commits[0] + ":rootfs.meta");
        Assert.Contains("bin/sh\tfile\t0755\t0:0\tlink=bin/busybox\n", first, StringComparison.Ordinal);
        Assert.Contains("bin/ash\tfile\t0755\t0:0\tlink=bin/busybox\n", first, StringComparison.Ordinal);

        // The chmod/chown is visible in git's diff of the layer, though the content did not change.
        var diff = Git(repository, "diff", result.Commits[0], result.Commits[1], "--", "rootfs.meta");
        Assert.Contains("+bin/busybox\tfile\t4755\t0:10\n", diff, StringComparison.Ordinal);
        Assert.Equal(string.Empty, Git(repository, "diff", "--stat", result.Commits[0], result.Commits[1], "--", "rootfs").Trim());

        // Replacing the group's first file hands the group to the next link.
        var second = Git(repository, "show", result.Commits[1] + ":rootfs.meta");
        Assert.Contains("bin/sh\tfile\t0755\t0:0\n", second, StringComparison.Ordinal);
        Assert.Contains("bin/ash\tfile\t0755\t0:0\tlink=bin/sh\n", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GitNamesInsideTheImage_AreStoredEscaped_AndChangeNothing()
    {
        var image = await BuildAsync(image => image.LayerTar(new TarLayer()
            .File(".gitignore", "*\n").File(".gitattributes", "* filter=evil\n").File(".gitmodules", "[submodule \"x\"]\n")
            .Dir("src/.git").File("src/.git/config", "[core]\n").File("src/.GIT", "case").File("src/main.c", "int main;\n")
            .File(".oci~already", "prefixed").File("caf\udce9", "latin-1").File("tab\tname", "tab").ToTar()));
        var repository = _temp.Combine("repo");
        await ConvertAsync(image, repository);

        var fsck = ProcessRunner.Run("git", ["-C", repository, "fsck", "--strict", "--no-dangling"]);
        Assert.Equal(string.Empty, fsck.StandardError.Trim());
        var files = Lines(Git(repository, "-c", "core.quotePath=false", "ls-tree", "-r", "--name-only", "HEAD", "rootfs"));
        Assert.Equal(
            ["rootfs/.oci~%636166e9", "rootfs/.oci~.gitattributes", "rootfs/.oci~.gitignore", "rootfs/.oci~.gitmodules", "rootfs/.oci~.oci~already", "rootfs/src/.oci~.GIT", "rootfs/src/.oci~.git/config", "rootfs/src/main.c", "\"rootfs/tab\\tname\""],
            files);
        Assert.Equal("*\n", Git(repository, "show", "HEAD:rootfs/.oci~.gitignore"));

        // rootfs.meta names them as the image does.
        var meta = Git(repository, "show", "HEAD:rootfs.meta");
        Assert.Contains("\n.gitignore\tfile\t0644\t0:0\n", meta, StringComparison.Ordinal);
        Assert.Contains("\nsrc/.git/config\tfile\t0644\t0:0\n", meta, StringComparison.Ordinal);
        Assert.Contains("\n\"caf\\351\"\tfile\t0644\t0:0\n", meta, StringComparison.Ordinal);
        Assert.Contains("\n\"tab\\tname\"\tfile\t0644\t0:0\n", meta, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoImagesSharingABase_ShareExactlyThoseCommits_AndBranch()
    {
        var first = await BuildAsync(image => { Base(image); image.LayerTar(new TarLayer().File("opt/app/first", "1").ToTar(), "COPY first /opt/app/"); }, "first");
        var second = await BuildAsync(image => { Base(image); image.LayerTar(new TarLayer().File("opt/app/second", "2").ToTar(), "COPY second /opt/app/"); }, "second");
        var repository = _temp.Combine("repo");
        var a = await ConvertAsync(first, repository, "first");
        var log = new List<string>();
        var b = await ConvertAsync(second, repository, "second", log: log);

        Assert.Equal(0, a.ReusedCommits);
        Assert.Equal(3, b.ReusedCommits);
        Assert.Equal(a.Commits.Take(3), b.Commits.Take(3));
        Assert.Empty(a.Commits.Skip(3).Intersect(b.Commits));
        Assert.Equal(a.Commits[2], Git(repository, "merge-base", "first", "second").Trim());
        Assert.Contains(log, line => line.Contains("3 history step(s)", StringComparison.Ordinal));
        Assert.Equal(["first", "second"], Lines(Git(repository, "branch", "--format=%(refname:short)")));
        Assert.Equal("2", Git(repository, "show", "second:rootfs/opt/app/second"));
        Assert.Equal("a=1\n", Git(repository, "show", "second:rootfs/opt/app/config"));
        Assert.Equal(string.Empty, ProcessRunner.Run("git", ["-C", repository, "fsck", "--strict", "--no-dangling"]).StandardError.Trim());
    }

    [Fact]
    public async Task SameImageTwice_ChangesNothing_AndSaysSo()
    {
        var image = await BuildAsync(Base);
        var repository = _temp.Combine("repo");
        var first = await ConvertAsync(image, repository);
        var refs = Git(repository, "show-ref");
        var objects = Git(repository, "count-objects");
        var log = new List<string>();
        var again = await ConvertAsync(image, repository, log: log);

        Assert.False(again.Changed);
        Assert.Equal(first.Commits, again.Commits);
        Assert.Equal(first.Commits.Count, again.ReusedCommits);
        Assert.Equal(refs, Git(repository, "show-ref"));
        Assert.Equal(objects, Git(repository, "count-objects"));
        Assert.Contains(log, line => line.Contains("already converted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SameImage_GivesTheSameCommitIds_InAnyRepository()
    {
        var image = await BuildAsync(image => image.LayerTar(RichLayer().ToTar()).EmptyStep("ENV A=1"));
        var one = await ConvertAsync(image, _temp.Combine("one"));
        var two = await ConvertAsync(image, _temp.Combine("two"));
        Assert.Equal(one.Commits, two.Commits);
    }

    [Fact]
    public async Task StoppedConversion_LeavesTheBranchAtACompleteCommit_AndResumes()
    {
        var image = await BuildAsync(image => { Base(image); image.LayerTar(new TarLayer().File("last", "x").ToTar()); });
        var expected = await ConvertAsync(image, _temp.Combine("reference"));

        var repository = _temp.Combine("repo");
        using var stop = new CancellationTokenSource();
        var progress = new SynchronousProgress(report =>
        {
            if (report.ParentKey is null && report.Current == 3 && !report.Completed)
            {
                stop.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ConvertAsync(image, repository, progress: progress, cancellationToken: stop.Token));
        Assert.Equal(expected.Commits[2], Git(repository, "rev-parse", expected.Branch).Trim());
        Assert.Equal(string.Empty, ProcessRunner.Run("git", ["-C", repository, "fsck", "--strict", "--no-dangling"]).StandardError.Trim());

        var resumed = await ConvertAsync(image, repository);
        Assert.Equal(expected.Commits, resumed.Commits);
        Assert.Equal(3, resumed.ReusedCommits);
    }

    [Fact]
    public async Task LargeFiles_CompressedOrStored_ReadBackExactly_AndRandomDataIsNotInflated()
    {
        var random = new Random(6);
        byte[] Random(int size)
        {
            var bytes = new byte[size];
            random.NextBytes(bytes);
            return bytes;
        }

        var text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 40_000).Select(i => $"line {i} of a compressible file\n")));
        var mixed = Random(70_000).Concat(text).ToArray();

        // Larger than the pieces objects are compressed in (1 MiB), so one object is several pieces
        // compressed on different threads; the copy is found already written once it has streamed by.
        var longText = Enumerable.Repeat(text, 3).SelectMany(t => t).Concat(Random(1000)).ToArray();
        var files = new Dictionary<string, byte[]>
        {
            ["random-65535"] = Random(65_535), ["random-65536"] = Random(65_536), ["random-65537"] = Random(65_537),
            ["random-big"] = Random(600_000), ["text"] = text, ["random-then-text"] = mixed, ["small"] = "small\n"u8.ToArray(),
            ["random-pieces"] = Random((3 << 20) + 17), ["text-pieces"] = longText, ["text-pieces-copy"] = longText,
        };
        var layer = new TarLayer().Dir("data");
        foreach (var (name, content) in files)
        {
            layer.File("data/" + name, content);
        }

        var image = await BuildAsync(image => image.LayerTar(layer.ToTar()));
        var repository = _temp.Combine("repo");
        await ConvertAsync(image, repository);
        Assert.Equal(string.Empty, ProcessRunner.Run("git", ["-C", repository, "fsck", "--strict", "--no-dangling"]).StandardError.Trim());

        foreach (var (name, content) in files)
        {
            var copy = _temp.Combine("read-" + name);
            ProcessRunner.Run("sh", ["-c", $"git -C '{repository}' cat-file blob HEAD:rootfs/data/{name} > '{copy}'"]);
            Assert.True(content.AsSpan().SequenceEqual(File.ReadAllBytes(copy)), name + " reads back differently");
        }

        // On disk: random data stored (zlib's 5 bytes a 64 KiB block, no Huffman overhead), text compressed hard.
        long OnDisk(string name) => long.Parse(
            ProcessRunner.Run("sh", ["-c", $"git -C '{repository}' rev-parse HEAD:rootfs/data/{name} | git -C '{repository}' cat-file --batch-check='%(objectsize:disk)'"]).StandardOutput.Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(OnDisk("random-big"), 600_000, 600_000 + 80);
        Assert.InRange(OnDisk("random-65536"), 65_536, 65_536 + 20);
        Assert.InRange(OnDisk("random-pieces"), (3 << 20) + 17, (3 << 20) + 17 + 300);
        Assert.True(OnDisk("text") < text.Length / 8, $"text: {OnDisk("text")} bytes on disk for {text.Length}");
        Assert.True(OnDisk("text-pieces") < longText.Length / 8, $"text-pieces: {OnDisk("text-pieces")} bytes on disk for {longText.Length}");
    }

    [Fact]
    public async Task NonRepositoryDirectory_IsRefused()
    {
        var image = await BuildAsync(Base);
        var directory = _temp.Combine("occupied");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "file"), "x");
        var error = await Assert.ThrowsAsync<OciException>(() => ConvertAsync(image, directory));
        Assert.Equal("GitRepoPathInUse", error.ErrorId);
    }

    private sealed class SynchronousProgress(Action<OciProgress> handler) : IProgress<OciProgress>
    {
        public void Report(OciProgress value) => handler(value);
    }
}
