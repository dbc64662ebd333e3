using System.Formats.Tar;
using System.Text.Json;
using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Model;

namespace OciPS.TestSupport.Fixtures;

/// <summary>
/// Writes test archives in-process, so fixtures need no external tool on any OS: an OCI layout as an
/// oci-archive, and an image as a <c>docker save</c> tarball (the classic layout: one
/// <c>&lt;id&gt;/layer.tar</c> per layer, <c>&lt;config&gt;.json</c>, manifest.json with repo tags).
/// </summary>
public static class ArchiveWriter
{
    public static void WriteOciArchive(string layoutDirectory, string archivePath) =>
        TarFile.CreateFromDirectory(layoutDirectory, archivePath, includeBaseDirectory: false);

    public static async Task WriteDockerArchiveAsync(OciImage image, string archivePath, string repoTag, CancellationToken cancellationToken = default)
    {
        await using var file = File.Create(archivePath);
        await using var tar = new TarWriter(file, TarEntryFormat.Ustar);
        var configName = image.ConfigDigest.Encoded + ".json";
        await AddAsync(tar, configName, image.ConfigBytes!, cancellationToken);

        var layerNames = new List<string>();
        foreach (var layer in image.Layers)
        {
            var blob = await image.Source.OpenBlobAsync(layer.Descriptor!, cancellationToken);
            var (stream, _) = await LayerDecompressor.OpenAsync(blob, cancellationToken);
            await using (stream)
            {
                using var uncompressed = new MemoryStream();
                await stream.CopyToAsync(uncompressed, cancellationToken);
                var name = layer.DiffId!.Encoded + "/layer.tar";
                await AddAsync(tar, name, uncompressed.ToArray(), cancellationToken);
                layerNames.Add(name);
            }
        }

        var manifest = new[] { new Dictionary<string, object> { ["Config"] = configName, ["RepoTags"] = new[] { repoTag }, ["Layers"] = layerNames } };
        await AddAsync(tar, "manifest.json", JsonSerializer.SerializeToUtf8Bytes(manifest), cancellationToken);
    }

    private static async Task AddAsync(TarWriter tar, string name, byte[] content, CancellationToken cancellationToken)
    {
        var entry = new UstarTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(content, writable: false),
            Mode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            ModificationTime = DateTimeOffset.UnixEpoch,
        };
        await tar.WriteEntryAsync(entry, cancellationToken);
    }
}
