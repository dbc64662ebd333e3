using System.Text;
using OciPS.Core;
using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Artifacts;

public sealed class ArtifactPullerTests : IDisposable
{
    private readonly TempDirectory _dir = new("pull");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Published_files_and_directories_come_back_bit_identical()
    {
        var binary = new byte[200_000];
        new Random(7).NextBytes(binary);
        Directory.CreateDirectory(_dir.Combine("src"));
        File.WriteAllBytes(_dir.Combine("src", "blob.bin"), binary);
        _dir.WriteFile("src/tree/a.txt", "a\n");
        _dir.WriteFile("src/tree/deep/b.txt", "b\n");
        File.CreateSymbolicLink(_dir.Combine("src/tree/link"), "a.txt");
        File.SetUnixFileMode(_dir.Combine("src/tree/a.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await PublishAsync("items:\n  - from: blob.bin\n  - from: dir://tree\n  - from: tree/a.txt\n    title: nested/copy.txt\n");

        var saved = await ArtifactPuller.SaveAsync(ImageSources.Open($"oci:{_dir.Combine("out")}:v1"), _dir.Combine("pulled"), new ArtifactSaveOptions(), CancellationToken.None);

        Assert.Equal([_dir.Combine("pulled/blob.bin"), _dir.Combine("pulled/tree"), _dir.Combine("pulled/nested/copy.txt")], saved.Select(s => s.Path));
        Assert.Equal(binary, File.ReadAllBytes(_dir.Combine("pulled/blob.bin")));
        Assert.Equal("b\n", File.ReadAllText(_dir.Combine("pulled/tree/deep/b.txt")));
        Assert.Equal("a.txt", new FileInfo(_dir.Combine("pulled/tree/link")).LinkTarget);
        Assert.True(File.GetUnixFileMode(_dir.Combine("pulled/tree/a.txt")).HasFlag(UnixFileMode.UserExecute));
        Assert.Equal("a\n", File.ReadAllText(_dir.Combine("pulled/nested/copy.txt")));

        var again = await Assert.ThrowsAsync<OciException>(() => ArtifactPuller.SaveAsync(ImageSources.Open($"oci:{_dir.Combine("out")}:v1"), _dir.Combine("pulled"), new ArtifactSaveOptions(), CancellationToken.None));
        Assert.Equal("ArtifactFileExists", again.ErrorId);
        await ArtifactPuller.SaveAsync(ImageSources.Open($"oci:{_dir.Combine("out")}:v1"), _dir.Combine("pulled"), new ArtifactSaveOptions { Force = true }, CancellationToken.None);
    }

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("/tmp/absolute.txt")]
    [InlineData("a/../../escape.txt")]
    public async Task Titles_that_leave_the_directory_are_refused_before_anything_is_written(string title)
    {
        var layout = OciLayoutWriter.Open(_dir.Combine("hostile"));
        var good = await layout.WriteBlobAsync("fine"u8.ToArray(), "text/plain", CancellationToken.None);
        var bad = await layout.WriteBlobAsync("evil"u8.ToArray(), "text/plain", CancellationToken.None);
        await WriteManifestAsync(layout, [
            good with { Annotations = new Dictionary<string, string> { [AnnotationKeys.Title] = "fine.txt" } },
            bad with { Annotations = new Dictionary<string, string> { [AnnotationKeys.Title] = title } }]);

        var ex = await Assert.ThrowsAsync<OciException>(() => ArtifactPuller.SaveAsync(ImageSources.Open($"oci:{_dir.Combine("hostile")}:v1"), _dir.Combine("target/inner"), new ArtifactSaveOptions(), CancellationToken.None));
        Assert.Equal("ArtifactPathUnsafe", ex.ErrorId);
        Assert.Equal(OciErrorKind.Security, ex.Kind);
        Assert.False(File.Exists(_dir.Combine("target/inner/fine.txt")));
        Assert.False(File.Exists(_dir.Combine("target/escape.txt")));
    }

    [Theory]
    [InlineData("../escape.txt", null)]
    [InlineData("dir/link", "../../..")]
    public async Task Packed_directories_whose_entries_escape_are_refused(string name, string? link)
    {
        var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, leaveOpen: true))
        {
            await writer.WriteAsync(new TarHeader { Name = "dir/", Kind = TarEntryKind.Directory, TypeFlag = (byte)'5', Mode = 0x1ED }, null, CancellationToken.None);
            if (link is null)
            {
                await writer.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.File, TypeFlag = (byte)'0', Mode = 0x1A4, Size = 4 }, new MemoryStream("evil"u8.ToArray()), CancellationToken.None);
            }
            else
            {
                await writer.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.Symlink, TypeFlag = (byte)'2', LinkName = link, Mode = 0x1FF }, null, CancellationToken.None);
            }

            await writer.CompleteAsync(CancellationToken.None);
        }

        var layout = OciLayoutWriter.Open(_dir.Combine("hostile"));
        var blob = await layout.WriteBlobAsync(tar.ToArray(), MediaTypes.OciLayer, CancellationToken.None);
        await WriteManifestAsync(layout, [blob with { Annotations = new Dictionary<string, string> { [AnnotationKeys.Title] = "dir", [OrasAnnotations.Unpack] = "true" } }]);

        var ex = await Assert.ThrowsAsync<OciException>(() => ArtifactPuller.SaveAsync(ImageSources.Open($"oci:{_dir.Combine("hostile")}:v1"), _dir.Combine("target/inner"), new ArtifactSaveOptions(), CancellationToken.None));
        Assert.Equal("ArtifactPathUnsafe", ex.ErrorId);
        Assert.False(File.Exists(_dir.Combine("target/escape.txt")));
    }

    private async Task PublishAsync(string yaml)
    {
        var pack = await PackFileReader.ReadAsync(_dir.WriteFile("src/pack.yaml", yaml), null, CancellationToken.None);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, new ArtifactPackOptions(), CancellationToken.None);
        await using var destination = ArtifactDestinations.Open(ImageLocation.Parse("oci:" + _dir.Combine("out") + ":v1"));
        await ArtifactPublisher.PushAsync(plan, destination, null, CancellationToken.None);
    }

    private static async Task WriteManifestAsync(OciLayoutWriter layout, IReadOnlyList<Descriptor> layers)
    {
        var config = await layout.WriteBlobAsync("{}"u8.ToArray(), MediaTypes.OciEmpty, CancellationToken.None);
        var manifest = new ImageManifest { SchemaVersion = 2, MediaType = MediaTypes.OciManifest, ArtifactType = "application/vnd.test", Config = config, Layers = layers };
        var bytes = OciJson.Serialize(manifest, OciJson.Compact.ImageManifest);
        var descriptor = await layout.WriteBlobAsync(bytes, MediaTypes.OciManifest, CancellationToken.None);
        await layout.AddToIndexAsync(descriptor, "v1", CancellationToken.None);
        _ = Encoding.UTF8;
    }
}
