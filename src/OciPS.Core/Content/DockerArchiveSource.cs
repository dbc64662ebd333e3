using System.Globalization;
using System.Text.Json;
using OciPS.Core.Layers;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>
/// Reads a <c>docker save</c> tarball (<c>docker-archive:</c>): <c>manifest.json</c> lists each image's
/// config file, repo tags and layer files. The archive has no registry manifest, so one is made the way
/// skopeo makes it (Docker schema 2, layers named by diffID, uncompressed sizes), which gives the same
/// manifest digest <c>skopeo inspect docker-archive:…</c> reports.
/// </summary>
public sealed class DockerArchiveSource : IImageSource
{
    private readonly ArchiveIndex _archive;
    private readonly IReadOnlyList<DockerArchiveManifestEntry> _entries;
    private readonly Lazy<Task<Prepared>> _prepared;

    private DockerArchiveSource(ImageLocation location, ArchiveIndex archive, IReadOnlyList<DockerArchiveManifestEntry> entries)
    {
        Location = location;
        _archive = archive;
        _entries = entries;
        _prepared = new Lazy<Task<Prepared>>(() => PrepareAsync(CancellationToken.None));
    }

    public ImageLocation Location { get; }

    public string Name => Location.ToString();

    /// <summary>The repo tags of every image in the archive, in order.</summary>
    public IReadOnlyList<IReadOnlyList<string>> RepoTags => _entries.Select(e => e.RepoTags ?? []).ToArray();

    public static DockerArchiveSource Open(ImageLocation location)
    {
        var path = location.Path ?? throw new ArgumentException("The location has no path.", nameof(location));
        var archive = ArchiveIndex.Open(path, location.Original);
        if (!archive.Contains("manifest.json"))
        {
            throw new LocationNotFoundException(location.Original, $"'{path}' is not a docker save archive: it has no manifest.json");
        }

        List<DockerArchiveManifestEntry> entries;
        try
        {
            entries = OciJson.Deserialize(archive.ReadMember("manifest.json", ImageSourceExtensions.MaxDocumentSize), OciJsonContext.Default.ListDockerArchiveManifestEntry, $"manifest.json of '{path}'");
        }
        catch (FormatException ex)
        {
            throw new CorruptContentException("ArchiveManifestInvalid", ex.Message, location.Original, ex);
        }

        if (entries.Count == 0)
        {
            throw ManifestNotFoundException.Empty(location.ToString());
        }

        return new DockerArchiveSource(location, archive, entries);
    }

    public async Task<ResolvedManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        var prepared = await _prepared.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new ResolvedManifest(prepared.Manifest, prepared.Name);
    }

    public async Task<ManifestContent> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var prepared = await _prepared.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        return prepared.Manifest.Digest == descriptor.Digest
            ? prepared.Manifest
            : throw new BlobNotFoundException(Name, descriptor);
    }

    public async Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var prepared = await _prepared.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (descriptor.Digest == prepared.ConfigDigest)
        {
            return new VerifyingStream(_archive.OpenMember(prepared.ConfigPath), descriptor, $"The config {descriptor.Digest} in {Name}");
        }

        if (!prepared.Layers.TryGetValue(descriptor.Digest, out var layer))
        {
            throw new BlobNotFoundException(Name, descriptor);
        }

        // Layers are served uncompressed (their digest is the diffID), also when the archive holds them compressed.
        Stream raw = _archive.OpenMember(layer.Path);
        if (layer.Compressed)
        {
            (raw, _) = await LayerDecompressor.OpenAsync(raw, cancellationToken).ConfigureAwait(false);
        }

        return new VerifyingStream(raw, descriptor.Digest, layer.UncompressedSize, $"The layer {descriptor.Digest} ({layer.Path}) in {Name}");
    }

    private async Task<Prepared> PrepareAsync(CancellationToken cancellationToken)
    {
        var (entry, name) = SelectEntry();
        var configBytes = _archive.Contains(entry.Config)
            ? _archive.ReadMember(entry.Config, ImageSourceExtensions.MaxDocumentSize)
            : throw new CorruptContentException("ArchiveMemberMissing", $"'{Location.Path}' names the config '{entry.Config}', which it does not contain.", Location.Original);
        var configDigest = Digest.Compute(configBytes);
        var config = OciJson.Deserialize(configBytes, OciJsonContext.Default.ImageConfig, $"The config '{entry.Config}' in '{Location.Path}'");
        var diffIds = config.RootFs?.DiffIds ?? [];
        if (diffIds.Count != entry.Layers.Count)
        {
            throw new CorruptContentException(
                "ArchiveManifestInvalid",
                $"'{Location.Path}' lists {entry.Layers.Count} layer files for '{entry.Config}', but the config has {diffIds.Count} diffIDs.",
                Location.Original);
        }

        var layers = new Dictionary<Digest, LayerFile>();
        var descriptors = new List<(Digest DiffId, long Size)>();
        for (var i = 0; i < diffIds.Count; i++)
        {
            var diffId = diffIds[i];
            if (!layers.TryGetValue(diffId, out var layer))
            {
                var path = entry.Layers[i];
                if (!_archive.Contains(path))
                {
                    throw new CorruptContentException("ArchiveMemberMissing", $"'{Location.Path}' names the layer '{path}', which it does not contain.", Location.Original);
                }

                layer = await DescribeLayerAsync(path, cancellationToken).ConfigureAwait(false);
                layers[diffId] = layer;
            }

            descriptors.Add((diffId, layer.UncompressedSize));
        }

        var manifestBytes = SkopeoCompatibleManifest(configBytes.LongLength, configDigest, descriptors);
        var manifest = ManifestContent.FromBytes(manifestBytes, MediaTypes.DockerManifest, null, $"The manifest made for {Name}");
        return new Prepared(manifest, name, entry.Config, configDigest, layers);
    }

    private (DockerArchiveManifestEntry Entry, string? Name) SelectEntry()
    {
        var available = _entries.Select((e, i) => e.RepoTags is { Count: > 0 } tags ? string.Join(", ", tags) : "@" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        if (Location.Index is { } position)
        {
            return position < _entries.Count
                ? (_entries[position], FirstTag(_entries[position]))
                : throw new ManifestNotFoundException(Name, "@" + position.ToString(CultureInfo.InvariantCulture), available);
        }

        if (Location.Reference is { } wanted)
        {
            foreach (var entry in _entries)
            {
                foreach (var tag in entry.RepoTags ?? [])
                {
                    if (ImageReference.TryParse(tag, out var reference, out _) && reference.Equals(wanted))
                    {
                        return (entry, tag);
                    }
                }
            }

            throw new ManifestNotFoundException(Name, wanted.FamiliarName, available);
        }

        return _entries.Count == 1
            ? (_entries[0], FirstTag(_entries[0]))
            : throw ManifestNotFoundException.Ambiguous(Name, available);
    }

    private static string? FirstTag(DockerArchiveManifestEntry entry) => entry.RepoTags is { Count: > 0 } tags ? tags[0] : null;

    private async Task<LayerFile> DescribeLayerAsync(string path, CancellationToken cancellationToken)
    {
        var stored = _archive.SizeOf(path);
        var member = _archive.OpenMember(path);
        await using (member.ConfigureAwait(false))
        {
            var (stream, compression) = await LayerDecompressor.OpenAsync(member, cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                if (compression == LayerCompression.None)
                {
                    return new LayerFile(path, stored, false);
                }

                // The uncompressed size is part of the manifest, so a compressed layer is read once to learn it.
                long size = 0;
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    size += read;
                }

                return new LayerFile(path, size, true);
            }
        }
    }

    /// <summary>The manifest skopeo generates for a docker archive, byte for byte (Go's encoding/json field order).</summary>
    private static byte[] SkopeoCompatibleManifest(long configSize, Digest configDigest, IReadOnlyList<(Digest DiffId, long Size)> layers)
    {
        using var buffer = new MemoryStream();
        // Go's encoder leaves '+' alone; the default .NET encoder would write it as \u002B.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("schemaVersion", 2);
            writer.WriteString("mediaType", MediaTypes.DockerManifest);
            writer.WriteStartObject("config");
            writer.WriteString("mediaType", MediaTypes.DockerConfig);
            writer.WriteNumber("size", configSize);
            writer.WriteString("digest", configDigest.ToString());
            writer.WriteEndObject();
            writer.WriteStartArray("layers");
            foreach (var (diffId, size) in layers)
            {
                writer.WriteStartObject();
                writer.WriteString("mediaType", MediaTypes.DockerLayerGzip);
                writer.WriteNumber("size", size);
                writer.WriteString("digest", diffId.ToString());
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private sealed record LayerFile(string Path, long UncompressedSize, bool Compressed);

    private sealed record Prepared(ManifestContent Manifest, string? Name, string ConfigPath, Digest ConfigDigest, IReadOnlyDictionary<Digest, LayerFile> Layers);
}
