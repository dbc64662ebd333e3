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

/// <summary>-Checkout: the work tree written by libgit2, checked with the git CLI and against the Directory export.</summary>
[Trait("Requires", "LinuxPeers")]
public sealed class GitCheckoutTests : IDisposable
{
    private readonly TempDirectory _temp = new("git-checkout");
    private int _layouts;

    public void Dispose() => _temp.Dispose();

    private static string Git(string repository, params string[] arguments) => GitRepoConverterTests.Git(repository, arguments);

    private async Task<OciImage> BuildAsync(Action<ImageBuilder> build, string tag)
    {
        var layout = OciLayoutWriter.Open(_temp.Combine("layout" + _layouts++));
        var builder = new ImageBuilder();
        build(builder);
        await builder.WriteAsync(layout, tag);
        return (OciImage)await ImageLoader.LoadAsync(ImageSources.Open($"oci:{layout.Root}:{tag}"), null, CancellationToken.None);
    }

    private static Task<GitConversionResult> ConvertAsync(OciImage image, string repository, string branch, bool checkout = true) =>
        GitRepoConverter.ConvertAsync(image, repository, new GitConversionOptions { Branch = branch, Checkout = checkout }, null, null, null, CancellationToken.None);

    private static void Base(ImageBuilder image) => image
        .LayerTar(new TarLayer()
            .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/shadow", "secret", mode: 0x180, gid: 42).File("etc/empty", string.Empty)
            .Dir("bin").File("bin/busybox", "#!busybox", mode: 0x1ED).Hardlink("bin/sh", "bin/busybox").Symlink("bin/ls", "busybox").Symlink("bin/abs", "/etc/passwd")
            .Dir("usr/bin").File("usr/bin/sudo", "sudo", mode: 0x9ED).File("usr/bin/tool", "tool", mode: 0x1C0)
            .Node("dev/null", TarEntryKind.CharDevice, 1, 3).Dir("var/empty")
            .File(".gitignore", "*\n").Dir("src/.git").File("src/.git/config", "[core]\n").File("tab\tname", "tab").File("back\\slash", "b").File("dot.", "d")
            .Dir("opt/app").File("opt/app/old", "old\n").File("opt/app/config", "a=1\n").ToTar())
        .LayerTar(new TarLayer().Whiteout("opt/app/old").File("opt/app/config", "a=2\n").File("opt/app/run", "#!/bin/sh\n", mode: 0x1ED).ToTar(), "RUN configure");

    [Fact]
    public async Task Checkout_WorkTreeEqualsDirectoryExport_AndGitStatusIsClean()
    {
        var image = await BuildAsync(Base, "one");
        var repository = _temp.Combine("repo");
        await ConvertAsync(image, repository, "one");

        Assert.Equal(string.Empty, Git(repository, "status", "--porcelain", "--untracked-files=all"));
        Assert.Equal("refs/heads/one", Git(repository, "symbolic-ref", "HEAD").Trim());
        Assert.True(File.Exists(Path.Combine(repository, "Image.md")));
        Assert.Equal(Git(repository, "show", "HEAD:rootfs.meta"), File.ReadAllText(Path.Combine(repository, "rootfs.meta")));

        var export = _temp.Combine("export");
        await using (var sink = DirectorySink.Create(export, new DirectorySinkOptions()))
        {
            await foreach (var entry in LayerMerger.For(image).MergeAsync(CancellationToken.None))
            {
                await sink.AddAsync(entry.Entry, entry.Content, CancellationToken.None);
            }

            await sink.CompleteAsync(CancellationToken.None);
        }

        // Files and symlinks git holds: same content, targets and executable bits, under the escaped names.
        string Kind(TreeEntry e) => e.Type == "regular empty file" ? "regular file" : e.Type;
        string Fingerprint(TreeEntry e) => $"{Kind(e)} {e.ContentHash} {e.LinkTarget} executable={(Convert.ToInt32(e.Mode, 8) & 0x49) != 0}";
        var gitKinds = new[] { "regular file", "regular empty file", "symbolic link" };
        var want = TreeSnapshot.Capture(export).Values.Where(e => gitKinds.Contains(e.Type)).ToDictionary(e => GitNames.EscapePath(e.Path), Fingerprint);
        var got = TreeSnapshot.Capture(Path.Combine(repository, "rootfs")).Values.Where(e => gitKinds.Contains(e.Type)).ToDictionary(e => e.Path, Fingerprint);
        var mismatches = want.Keys.Union(got.Keys).Where(path => want.GetValueOrDefault(path) != got.GetValueOrDefault(path))
            .Select(path => $"{path}: export '{want.GetValueOrDefault(path)}', work tree '{got.GetValueOrDefault(path)}'").ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.Contains(".oci~.gitignore", got.Keys);
        Assert.Contains("src/.oci~.git/config", got.Keys);
        Assert.Equal("/etc/passwd", new FileInfo(Path.Combine(repository, "rootfs/bin/abs")).LinkTarget);
        Assert.False(File.Exists(Path.Combine(repository, "rootfs/opt/app/old")));

        // The image's own .gitignore is not git's: nothing is ignored.
        Assert.Equal(string.Empty, Git(repository, "status", "--porcelain", "--ignored"));
    }

    [Fact]
    public async Task SecondImage_SwitchesTheWorkTree_AndLocalChangesStopIt()
    {
        var first = await BuildAsync(Base, "first");
        var second = await BuildAsync(image => { Base(image); image.LayerTar(new TarLayer().Whiteout("etc/passwd").File("opt/app/second", "2\n").ToTar(), "RUN second"); }, "second");
        var repository = _temp.Combine("repo");
        await ConvertAsync(first, repository, "first");
        Assert.True(File.Exists(Path.Combine(repository, "rootfs/etc/passwd")));

        await ConvertAsync(second, repository, "second");
        Assert.Equal("refs/heads/second", Git(repository, "symbolic-ref", "HEAD").Trim());
        Assert.Equal(string.Empty, Git(repository, "status", "--porcelain", "--untracked-files=all"));
        Assert.False(File.Exists(Path.Combine(repository, "rootfs/etc/passwd")));
        Assert.Equal("2\n", File.ReadAllText(Path.Combine(repository, "rootfs/opt/app/second")));

        // A changed file that checking out would overwrite: an error naming the work tree, the file kept, the branch converted.
        File.WriteAllText(Path.Combine(repository, "rootfs/opt/app/second"), "mine\n");
        var error = await Assert.ThrowsAsync<OciException>(() => ConvertAsync(first, repository, "first"));
        Assert.Equal("GitCheckoutConflict", error.ErrorId);
        Assert.Equal(repository + "/", error.Target);
        Assert.Equal("mine\n", File.ReadAllText(Path.Combine(repository, "rootfs/opt/app/second")));
        Assert.Equal("refs/heads/second", Git(repository, "symbolic-ref", "HEAD").Trim());

        // Without -Checkout the work tree is not touched.
        var third = await BuildAsync(image => { Base(image); image.EmptyStep("ENV THIRD=1"); }, "third");
        await ConvertAsync(third, repository, "third", checkout: false);
        Assert.Equal("refs/heads/second", Git(repository, "symbolic-ref", "HEAD").Trim());
        Assert.Equal(" M rootfs/opt/app/second", Git(repository, "status", "--porcelain").TrimEnd());
    }

    [Fact]
    public async Task LargeFiles_StreamedOutOfThePack_AreCheckedOutExactly()
    {
        var random = new byte[GitCheckout.StreamedSize + 3];
        new Random(7).NextBytes(random);
        var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 1_400_000).Select(i => $"line {i:D7}\n")));
        Assert.True(text.Length >= GitCheckout.StreamedSize);
        var image = await BuildAsync(image => image.LayerTar(new TarLayer().Dir("opt").File("opt/random.bin", random).File("opt/tool", text, mode: 0x1ED).File("opt/small", "small\n").ToTar()), "large");
        var repository = _temp.Combine("repo");
        await ConvertAsync(image, repository, "large");

        Assert.Equal(string.Empty, Git(repository, "status", "--porcelain", "--untracked-files=all"));
        Assert.True(random.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(repository, "rootfs/opt/random.bin"))));
        Assert.True(text.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(repository, "rootfs/opt/tool"))));
        Assert.True(File.GetUnixFileMode(Path.Combine(repository, "rootfs/opt/tool")).HasFlag(UnixFileMode.UserExecute));
        Assert.False(File.GetUnixFileMode(Path.Combine(repository, "rootfs/opt/random.bin")).HasFlag(UnixFileMode.UserExecute));
        Assert.Equal("small\n", File.ReadAllText(Path.Combine(repository, "rootfs/opt/small")));
        Assert.Equal(["100644 rootfs/opt/random.bin", "100644 rootfs/opt/small", "100755 rootfs/opt/tool"], GitRepoConverterTests.Lines(Git(repository, "ls-files", "--stage", "rootfs/opt")).Select(l => l.Split(' ')[0] + " " + l.Split('\t')[1]));
    }
}
