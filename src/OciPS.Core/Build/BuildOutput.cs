using System.Globalization;
using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Build;

/// <summary>
/// Writes a built image to a local destination: an OCI layout (only blobs it lacks are copied), an
/// OCI archive, or a docker archive that <c>docker load</c> and <c>podman load</c> read. Archives are
/// written under a temporary name and renamed when complete. Registry destinations go through the
/// registry copy once it exists.
/// </summary>
public static class BuildOutput
{
    /// <param name="source">The image to write (usually a build's <see cref="BuiltImageSource"/>).</param>
    /// <param name="destination">Where it goes.</param>
    /// <param name="moveStagedBlobs">
    /// Move new blobs out of the build's staging directory into an OCI layout instead of copying them
    /// (a rename on the same file system): faster, but the source cannot be written again afterwards.
    /// </param>
    /// <param name="cancellationToken">Stops the write.</param>
    public static async Task WriteAsync(IImageSource source, ImageLocation destination, bool moveStagedBlobs, CancellationToken cancellationToken)
    {
        switch (destination.Transport)
        {
            case LocationTransport.OciLayout:
                await WriteLayoutAsync(source, destination.Path!, destination.Tag, moveStagedBlobs ? source as BuiltImageSource : null, cancellationToken).ConfigureAwait(false);
                break;
            case LocationTransport.OciArchive:
                await WriteArchiveAsync(destination.Path!, async (temporary, ct) =>
                {
                    var layout = temporary + ".layout";
                    try
                    {
                        await WriteLayoutAsync(source, layout, destination.Tag, null, ct).ConfigureAwait(false);
                        await TarDirectoryAsync(layout, temporary, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        Directory.Delete(layout, recursive: true);
                    }
                }, cancellationToken).ConfigureAwait(false);
                break;
            case LocationTransport.DockerArchive:
                await WriteArchiveAsync(destination.Path!, (temporary, ct) => WriteDockerArchiveAsync(source, temporary, destination.Reference?.FamiliarName, ct), cancellationToken).ConfigureAwait(false);
                break;
            default:
                throw new UnsupportedContentException("BuildDestinationUnsupported", $"New-OciImage cannot write to {destination.Transport} locations yet ('{destination.Original}'); use oci:, oci-archive: or docker-archive:.", destination.Original);
        }
    }

    public static Task WriteAsync(IImageSource source, ImageLocation destination, CancellationToken cancellationToken) =>
        WriteAsync(source, destination, moveStagedBlobs: false, cancellationToken);

    private static async Task WriteLayoutAsync(IImageSource source, string path, string? tag, BuiltImageSource? movable, CancellationToken cancellationToken)
    {
        var writer = OciLayoutWriter.Open(path);
        var root = (await source.ResolveAsync(cancellationToken).ConfigureAwait(false)).Content;
        var manifests = root.Kind == ManifestKind.Index
            ? await Task.WhenAll(root.Index.Manifests.Select(d => source.GetManifestAsync(d, cancellationToken))).ConfigureAwait(false)
            : [root];
        foreach (var manifest in manifests)
        {
            foreach (var blob in manifest.Manifest.Layers.Prepend(manifest.Manifest.Config))
            {
                if (!writer.HasBlob(blob.Digest) && movable is not null && movable.TryMoveStaged(blob.Digest, writer.BlobPath(blob.Digest)))
                {
                    continue;
                }

                if (!writer.HasBlob(blob.Digest))
                {
                    var stream = await source.OpenBlobAsync(blob, cancellationToken).ConfigureAwait(false);
                    await using (stream.ConfigureAwait(false))
                    {
                        await writer.WriteBlobAsync(stream, blob.MediaType, blob.Digest, blob.Size, cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            await writer.WriteBlobAsync(manifest.Bytes, manifest.MediaType, cancellationToken).ConfigureAwait(false);
        }

        await writer.WriteBlobAsync(root.Bytes, root.MediaType, cancellationToken).ConfigureAwait(false);
        await writer.AddToIndexAsync(root.ToDescriptor(), tag, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The classic <c>docker save</c> layout: manifest.json, the config as <c>&lt;hex&gt;.json</c>, each
    /// layer uncompressed as <c>&lt;diffID hex&gt;/layer.tar</c> (what every loader reads).
    /// </summary>
    private static async Task WriteDockerArchiveAsync(IImageSource source, string path, string? repoTag, CancellationToken cancellationToken)
    {
        var root = (await source.ResolveAsync(cancellationToken).ConfigureAwait(false)).Content;
        if (root.Kind == ManifestKind.Index)
        {
            throw new UnsupportedContentException("BuildDestinationUnsupported", "A docker archive holds one image per platform; build one -Platform at a time to write docker-archive:.", path);
        }

        var manifest = root.Manifest;
        var configBytes = await source.ReadBlobAsync(manifest.Config, cancellationToken).ConfigureAwait(false);
        var config = OciJson.Deserialize(configBytes, OciJsonContext.Default.ImageConfig, "the built config");
        var diffIds = config.RootFs?.DiffIds ?? [];
        var layerNames = new List<string>();
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        var tar = new TarWriter(file);
        await using (tar.ConfigureAwait(false))
        {
            var time = OciManifest.ParseTime(config.Created) is { } created ? UnixTime.FromDateTimeOffset(created) : UnixTime.Epoch;
            for (var i = 0; i < manifest.Layers.Count; i++)
            {
                var layer = manifest.Layers[i];
                var name = (i < diffIds.Count ? diffIds[i].Encoded : layer.Digest.Encoded) + "/layer.tar";
                layerNames.Add(name);
                var spool = path + ".layer-" + i.ToString(CultureInfo.InvariantCulture);
                try
                {
                    // The tar header needs the uncompressed size first: decompress to a spool file.
                    var blob = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
                    var (stream, _) = await LayerDecompressor.OpenAsync(blob, cancellationToken).ConfigureAwait(false);
                    var output = File.Create(spool);
                    await using (stream.ConfigureAwait(false))
                    await using (output.ConfigureAwait(false))
                    {
                        await stream.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                    }

                    await tar.WriteAsync(new TarHeader { Name = name[..name.IndexOf('/', StringComparison.Ordinal)], Kind = TarEntryKind.Directory, Mode = 0x1ED, ModifiedTime = time }, null, cancellationToken).ConfigureAwait(false);
                    var content = File.OpenRead(spool);
                    await using (content.ConfigureAwait(false))
                    {
                        await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.File, Mode = 0x1A4, Size = content.Length, ModifiedTime = time }, content, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    File.Delete(spool);
                }
            }

            var configName = manifest.Config.Digest.Encoded + ".json";
            await WriteSmallAsync(tar, configName, configBytes, time, cancellationToken).ConfigureAwait(false);
            var entries = new List<DockerArchiveManifestEntry>
            {
                new() { Config = configName, RepoTags = repoTag is null ? null : [repoTag], Layers = layerNames },
            };
            await WriteSmallAsync(tar, "manifest.json", OciJson.Serialize(entries, OciJson.Compact.ListDockerArchiveManifestEntry), time, cancellationToken).ConfigureAwait(false);
            await tar.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task WriteSmallAsync(TarWriter tar, string name, byte[] content, UnixTime time, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(content, writable: false);
        await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.File, Mode = 0x1A4, Size = content.Length, ModifiedTime = time }, stream, cancellationToken).ConfigureAwait(false);
    }

    private static async Task TarDirectoryAsync(string directory, string path, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        var tar = new TarWriter(file);
        await using (tar.ConfigureAwait(false))
        {
            foreach (var full in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var name = Path.GetRelativePath(directory, full).Replace('\\', '/');
                if (name == "index.json.lock")
                {
                    continue;
                }

                if (Directory.Exists(full))
                {
                    await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.Directory, Mode = 0x1ED }, null, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var content = File.OpenRead(full);
                await using (content.ConfigureAwait(false))
                {
                    await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.File, Mode = 0x1A4, Size = content.Length }, content, cancellationToken).ConfigureAwait(false);
                }
            }

            await tar.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task WriteArchiveAsync(string path, Func<string, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await write(temporary, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
