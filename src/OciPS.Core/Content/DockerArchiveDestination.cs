using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Sinks;

namespace OciPS.Core.Content;

/// <summary>
/// Writes a <c>docker save</c> archive that <c>docker load</c> and <c>podman load</c> read:
/// <c>manifest.json</c>, <c>repositories</c>, each config as <c>&lt;hex&gt;.json</c>, each layer
/// uncompressed as <c>&lt;diffID hex&gt;.tar</c>. Layers are decompressed into a spool directory as
/// they are pushed (their diffIDs checked against the config) and the archive is written at commit,
/// under a temporary name renamed into place.
/// </summary>
public sealed class DockerArchiveDestination : IImageDestination
{
    private readonly string _spool;
    private readonly bool _force;
    private readonly ConcurrentDictionary<Digest, SpooledBlob> _blobs = new();
    private readonly List<(string Config, IReadOnlyList<string> Layers, string? RepoTag)> _images = [];
    private bool _committed;

    internal DockerArchiveDestination(ImageLocation location, bool force)
    {
        Location = location;
        _force = force;
        OutputPlacement.CheckDestination(location.Path!, force);
        _spool = OutputPlacement.TemporarySibling(location.Path!) + ".spool";
        Directory.CreateDirectory(_spool);
    }

    public ImageLocation Location { get; }

    public string Name => Location.ToString();

    public DestinationCapabilities Capabilities { get; } = new() { SupportsIndex = false };

    public Task<bool> BlobExistsAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        Task.FromResult(_blobs.ContainsKey(descriptor.Digest));

    public Task<bool> TryMountBlobAsync(Descriptor descriptor, ImageReference from, CancellationToken cancellationToken) => Task.FromResult(false);

    public async Task PushBlobAsync(Descriptor descriptor, Stream content, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var verifying = new VerifyingStream(new CountingStream(content, progress), descriptor, $"The blob {descriptor.Digest} written to {Name}", leaveOpen: true);
        var spool = Path.Combine(_spool, descriptor.Digest.Encoded + (MediaTypes.IsLayer(descriptor.MediaType) ? ".layer" : ".blob"));
        var output = new FileStream(spool, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        Digest? diffId = null;
        await using (output.ConfigureAwait(false))
        {
            if (MediaTypes.IsLayer(descriptor.MediaType))
            {
                var (tar, _) = await LayerDecompressor.OpenAsync(verifying, cancellationToken).ConfigureAwait(false);
                await using (tar.ConfigureAwait(false))
                {
                    using var hasher = Digest.CreateHasher(Digest.Sha256);
                    var buffer = new byte[1 << 17];
                    int read;
                    while ((read = await tar.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        hasher.AppendData(buffer, 0, read);
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    }

                    diffId = Digest.FromHash(Digest.Sha256, hasher.GetHashAndReset());
                    await DrainAsync(verifying, cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                await verifying.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            }
        }

        if (!verifying.IsVerified)
        {
            await DrainAsync(verifying, cancellationToken).ConfigureAwait(false);
        }

        _blobs[descriptor.Digest] = new SpooledBlob(spool, diffId);
    }

    public async Task PushManifestAsync(ManifestContent manifest, bool topLevel, CancellationToken cancellationToken)
    {
        if (manifest.Kind == ManifestKind.Index)
        {
            throw new UnsupportedContentException("DestinationIndexUnsupported", $"A docker archive holds images, not indexes: choose platforms to write to {Name}.", Name);
        }

        var image = manifest.Manifest;
        if (!_blobs.TryGetValue(image.Config.Digest, out var config))
        {
            throw new InvalidOperationException($"The config {image.Config.Digest} was not pushed before its manifest.");
        }

        var configBytes = await File.ReadAllBytesAsync(config.Path, cancellationToken).ConfigureAwait(false);
        var diffIds = OciJson.Deserialize(configBytes, OciJsonContext.Default.ImageConfig, $"The config {image.Config.Digest}").RootFs?.DiffIds ?? [];
        var layers = new List<string>();
        for (var i = 0; i < image.Layers.Count; i++)
        {
            var layer = image.Layers[i];
            if (!_blobs.TryGetValue(layer.Digest, out var spooled) || spooled.DiffId is null)
            {
                throw new InvalidOperationException($"The layer {layer.Digest} was not pushed before its manifest.");
            }

            if (i >= diffIds.Count || diffIds[i] != spooled.DiffId)
            {
                throw new DigestMismatchException($"Layer {i + 1} of {manifest.Digest} decompressed (the config's diff_ids)", i < diffIds.Count ? diffIds[i] : spooled.DiffId, spooled.DiffId);
            }

            layers.Add(spooled.DiffId.Encoded + ".tar");
        }

        lock (_images)
        {
            _images.Add((image.Config.Digest.Encoded, layers, topLevel ? Location.Reference?.FamiliarName : null));
        }
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        var temporary = OutputPlacement.TemporarySibling(Location.Path!);
        try
        {
            var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            var tar = new TarWriter(file);
            await using (tar.ConfigureAwait(false))
            {
                var written = new HashSet<string>(StringComparer.Ordinal);
                var entries = new List<DockerArchiveManifestEntry>();
                var repositories = new JsonObject();
                foreach (var (config, layers, repoTag) in _images)
                {
                    if (written.Add(config + ".json"))
                    {
                        await WriteFileAsync(tar, config + ".json", _blobs.Values.First(b => Path.GetFileName(b.Path) == config + ".blob").Path, cancellationToken).ConfigureAwait(false);
                    }

                    foreach (var layer in layers)
                    {
                        if (written.Add(layer))
                        {
                            var spooled = _blobs.Values.First(b => b.DiffId is { } id && id.Encoded + ".tar" == layer);
                            await WriteFileAsync(tar, layer, spooled.Path, cancellationToken).ConfigureAwait(false);
                        }
                    }

                    entries.Add(new DockerArchiveManifestEntry { Config = config + ".json", RepoTags = repoTag is null ? null : [repoTag], Layers = layers });
                    if (repoTag is not null && layers.Count > 0)
                    {
                        var colon = repoTag.LastIndexOf(':');
                        var name = colon > repoTag.LastIndexOf('/') ? repoTag[..colon] : repoTag;
                        var tag = colon > repoTag.LastIndexOf('/') ? repoTag[(colon + 1)..] : ImageReference.DefaultTag;
                        repositories[name] = new JsonObject { [tag] = layers[^1][..^".tar".Length] };
                    }
                }

                await WriteBytesAsync(tar, "manifest.json", OciJson.Serialize(entries, OciJson.Compact.ListDockerArchiveManifestEntry), cancellationToken).ConfigureAwait(false);
                if (repositories.Count > 0)
                {
                    await WriteBytesAsync(tar, "repositories", System.Text.Encoding.UTF8.GetBytes(repositories.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })), cancellationToken).ConfigureAwait(false);
                }

                await tar.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }

            OutputPlacement.MoveIntoPlace(temporary, Location.Path!, _force);
            _committed = true;
        }
        finally
        {
            if (!_committed && File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        OutputPlacement.DeleteTree(_spool);
        return ValueTask.CompletedTask;
    }

    private static async Task DrainAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 14];
        while (await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
        {
        }
    }

    private static async Task WriteFileAsync(TarWriter tar, string name, string path, CancellationToken cancellationToken)
    {
        var content = File.OpenRead(path);
        await using (content.ConfigureAwait(false))
        {
            await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.File, Mode = 0x1A4, Size = content.Length }, content, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task WriteBytesAsync(TarWriter tar, string name, byte[] bytes, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(bytes, writable: false);
        await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.File, Mode = 0x1A4, Size = bytes.Length }, content, cancellationToken).ConfigureAwait(false);
    }

    private sealed record SpooledBlob(string Path, Digest? DiffId);
}
