using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using OciPS.Core.Layers;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>
/// A source whose layers are already-extracted directories rather than tar blobs: the merge and
/// <c>Get-OciFile</c> read their entries from here instead of opening a blob.
/// </summary>
public interface IExtractedLayerSource
{
    IAsyncEnumerable<LayerEntry> ReadLayerAsync(OciLayer layer, CancellationToken cancellationToken);
}

/// <summary>
/// Docker's overlay2 store read in place (oci2rootfs' source): layers are the <c>overlay2/&lt;cache-id&gt;/diff</c>
/// directories, chained through <c>image/overlay2/layerdb/sha256/&lt;chain-id&gt;</c>. The location names
/// <list type="bullet">
/// <item>Docker's root with an image: <c>overlay2:/var/lib/docker:nginx:latest</c> (or an image id),
/// the config read from Docker's image store;</item>
/// <item>a layer chain: <c>overlay2:/var/lib/docker/image/overlay2/layerdb/sha256/&lt;chain-id&gt;</c>;</item>
/// <item>a layer directory: <c>overlay2:/var/lib/docker/overlay2/&lt;cache-id&gt;</c>, its lower layers from its <c>lower</c> file.</item>
/// </list>
/// Without Docker's image store the config is made from what the store knows (the diffIDs of the
/// layers), for the host's platform. The manifest and config are made here, so their digests are
/// this source's own; the layers are Docker's directories and are not verified against a digest.
/// </summary>
public sealed class Overlay2Source : IImageSource, IExtractedLayerSource
{
    private readonly Dictionary<Digest, byte[]> _documents = [];
    private readonly Dictionary<Digest, string> _layerDirectories = [];
    private readonly ManifestContent _manifest;

    private Overlay2Source(ImageLocation location, string name, IReadOnlyList<(Digest DiffId, long Size, string Directory)> layers, byte[] config)
    {
        Location = location;
        Name = name;
        var configDigest = Digest.Compute(config);
        _documents[configDigest] = config;
        foreach (var layer in layers)
        {
            _layerDirectories[layer.DiffId] = layer.Directory;
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", MediaTypes.OciManifest);
            json.WriteStartObject("config");
            json.WriteString("mediaType", MediaTypes.OciConfig);
            json.WriteString("digest", configDigest.ToString());
            json.WriteNumber("size", config.Length);
            json.WriteEndObject();
            json.WriteStartArray("layers");
            foreach (var layer in layers)
            {
                json.WriteStartObject();
                json.WriteString("mediaType", MediaTypes.OciLayer);
                json.WriteString("digest", layer.DiffId.ToString());
                json.WriteNumber("size", layer.Size);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        _manifest = ManifestContent.FromBytes(buffer.ToArray(), MediaTypes.OciManifest, null, location.Original);
        _documents[_manifest.Digest] = _manifest.Bytes;
    }

    public ImageLocation Location { get; }

    public string Name { get; }

    public static Overlay2Source Open(ImageLocation location)
    {
        var (path, image) = SplitImageName(location);
        if (File.Exists(Path.Combine(path, "cache-id")))
        {
            var layers = FromChain(path, location);
            return new Overlay2Source(location, location.ToString(), layers, SynthesizedConfig(layers));
        }

        if (Directory.Exists(Path.Combine(path, "diff")))
        {
            var layers = FromLayerDirectory(path, location);
            return new Overlay2Source(location, location.ToString(), layers, SynthesizedConfig(layers));
        }

        if (Directory.Exists(Path.Combine(path, "image", "overlay2")))
        {
            return FromDockerRoot(path, image, location);
        }

        throw new InvalidLocationException(location.Original, $"'{path}' is not a Docker root, a layerdb chain directory or an overlay2 layer directory");
    }

    public Task<ResolvedManifest> ResolveAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new ResolvedManifest(_manifest, null));

    public Task<ManifestContent> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        descriptor.Digest == _manifest.Digest
            ? Task.FromResult(_manifest)
            : throw new BlobNotFoundException(Name, descriptor);

    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (_documents.TryGetValue(descriptor.Digest, out var document))
        {
            return Task.FromResult<Stream>(new VerifyingStream(new MemoryStream(document, writable: false), descriptor, $"{descriptor.Digest} of {Name}"));
        }

        throw _layerDirectories.ContainsKey(descriptor.Digest)
            ? new UnsupportedContentException(
                "Overlay2LayerNotATar",
                $"The layer {descriptor.Digest} of {Name} is an extracted directory, not a tar blob: read its entries (Get-OciFile, Merge-OciLayer, Export-OciRootfs), or export the image first.",
                descriptor.Digest.ToString())
            : new BlobNotFoundException(Name, descriptor);
    }

    public async IAsyncEnumerable<LayerEntry> ReadLayerAsync(OciLayer layer, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (layer.Descriptor is null)
        {
            yield break;
        }

        if (!_layerDirectories.TryGetValue(layer.Descriptor.Digest, out var directory))
        {
            throw new BlobNotFoundException(Name, layer.Descriptor);
        }

        var options = new DirectoryTreeOptions { Overlay = true, LayerIndex = layer.Index, LayerDigest = layer.Descriptor.Digest };
        await foreach (var entry in DirectoryTreeReader.ReadAsync(directory, options, cancellationToken).ConfigureAwait(false))
        {
            yield return entry;
        }
    }

    /// <summary><c>/var/lib/docker:nginx:latest</c>: the longest existing directory before a colon, and the image name after it.</summary>
    private static (string Path, string? Image) SplitImageName(ImageLocation location)
    {
        var full = location.Path!;
        if (Directory.Exists(full))
        {
            return (full, null);
        }

        for (var colon = full.IndexOf(':', StringComparison.Ordinal); colon > 0; colon = full.IndexOf(':', colon + 1))
        {
            if (Directory.Exists(full[..colon]))
            {
                return (full[..colon], full[(colon + 1)..]);
            }
        }

        throw new LocationNotFoundException(location.Original, $"'{full}' does not exist");
    }

    private static Overlay2Source FromDockerRoot(string root, string? image, ImageLocation location)
    {
        var store = Path.Combine(root, "image", "overlay2");
        var contents = Path.Combine(store, "imagedb", "content", "sha256");
        var id = ResolveImageId(store, contents, image, location);
        var config = File.ReadAllBytes(Path.Combine(contents, id.Encoded));
        var diffIds = ReadDiffIds(config, location);

        var layers = new List<(Digest, long, string)>();
        string? chain = null;
        foreach (var diffId in diffIds)
        {
            chain = chain is null ? diffId.ToString() : Digest.Compute(Encoding.ASCII.GetBytes(chain + " " + diffId)).ToString();
            var chainDirectory = Path.Combine(store, "layerdb", "sha256", Digest.Parse(chain).Encoded);
            layers.Add(LayerOf(root, chainDirectory, diffId, location));
        }

        var name = image is null ? location.ToString() : image;
        return new Overlay2Source(location, name, layers, config);
    }

    private static Digest ResolveImageId(string store, string contents, string? image, ImageLocation location)
    {
        var ids = Directory.Exists(contents) ? Directory.GetFiles(contents).Select(Path.GetFileName).ToArray() : [];
        if (image is null)
        {
            return ids.Length == 1
                ? Digest.Parse("sha256:" + ids[0])
                : ids.Length == 0 ? throw ManifestNotFoundException.Empty(location.Original) : throw ManifestNotFoundException.Ambiguous(location.Original, KnownNames(store));
        }

        var bareId = image.StartsWith("sha256:", StringComparison.Ordinal) ? image[7..] : image;
        var byId = ids.Where(id => id!.StartsWith(bareId, StringComparison.Ordinal)).ToArray();
        if (bareId.Length >= 12 && byId.Length == 1 && bareId.All(Uri.IsHexDigit))
        {
            return Digest.Parse("sha256:" + byId[0]);
        }

        var repositories = Path.Combine(store, "repositories.json");
        if (File.Exists(repositories) && ImageReference.TryParse(image, out var reference, out _))
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(repositories));
            if (document.RootElement.TryGetProperty("Repositories", out var all))
            {
                foreach (var repository in all.EnumerateObject())
                {
                    foreach (var tag in repository.Value.EnumerateObject())
                    {
                        if (ImageReference.TryParse(tag.Name, out var known, out _) && known.ToString() == reference.ToString())
                        {
                            return Digest.Parse(tag.Value.GetString()!);
                        }
                    }
                }
            }
        }

        throw new ManifestNotFoundException(location.Original, image, []);
    }

    private static List<(Digest, long, string)> FromChain(string chainDirectory, ImageLocation location)
    {
        // <root>/image/overlay2/layerdb/sha256/<chain-id>
        var sha256 = Path.GetDirectoryName(chainDirectory)!;
        var root = Path.GetFullPath(Path.Combine(sha256, "..", "..", "..", ".."));
        var layers = new List<(Digest, long, string)>();
        for (var current = chainDirectory; current is not null;)
        {
            var diffId = Digest.Parse(ReadText(Path.Combine(current, "diff"), location));
            layers.Add(LayerOf(root, current, diffId, location));
            var parentFile = Path.Combine(current, "parent");
            current = File.Exists(parentFile) ? Path.Combine(sha256, Digest.Parse(ReadText(parentFile, location)).Encoded) : null;
            if (layers.Count > 1000)
            {
                throw new CorruptContentException("Overlay2ChainInvalid", $"The layer chain at '{chainDirectory}' loops.", chainDirectory);
            }
        }

        layers.Reverse();
        return layers;
    }

    private static (Digest, long, string) LayerOf(string root, string chainDirectory, Digest diffId, ImageLocation location)
    {
        if (!Directory.Exists(chainDirectory))
        {
            throw new CorruptContentException("Overlay2LayerMissing", $"Docker's store has no layer chain '{chainDirectory}' for the layer {diffId}.", chainDirectory);
        }

        var cacheId = ReadText(Path.Combine(chainDirectory, "cache-id"), location);
        var sizeFile = Path.Combine(chainDirectory, "size");
        var size = File.Exists(sizeFile) && long.TryParse(ReadText(sizeFile, location), out var parsed) ? parsed : 0;
        var diff = Path.Combine(root, "overlay2", cacheId, "diff");
        return Directory.Exists(diff)
            ? (diffId, size, diff)
            : throw new CorruptContentException("Overlay2LayerMissing", $"The layer {diffId} has no directory '{diff}'.", diff);
    }

    /// <summary>
    /// An <c>overlay2/&lt;cache-id&gt;</c> directory: its <c>lower</c> file lists the lower layers top first as
    /// <c>l/&lt;short-id&gt;</c> links. DiffIDs come from the layerdb when one is beside it, else are
    /// made from the cache ids (and say so by their media type's absence of a real digest).
    /// </summary>
    private static List<(Digest, long, string)> FromLayerDirectory(string layerDirectory, ImageLocation location)
    {
        var overlayRoot = Path.GetDirectoryName(Path.GetFullPath(layerDirectory).TrimEnd('/'))!;
        var layerdb = Path.Combine(overlayRoot, "..", "image", "overlay2", "layerdb", "sha256");
        var byCacheId = new Dictionary<string, (Digest DiffId, long Size)>(StringComparer.Ordinal);
        if (Directory.Exists(layerdb))
        {
            foreach (var chain in Directory.EnumerateDirectories(layerdb))
            {
                var cacheFile = Path.Combine(chain, "cache-id");
                var diffFile = Path.Combine(chain, "diff");
                if (File.Exists(cacheFile) && File.Exists(diffFile) && Digest.TryParse(ReadText(diffFile, location), out var diffId))
                {
                    var sizeFile = Path.Combine(chain, "size");
                    byCacheId[ReadText(cacheFile, location)] = (diffId, File.Exists(sizeFile) && long.TryParse(ReadText(sizeFile, location), out var size) ? size : 0);
                }
            }
        }

        var directories = new List<string> { layerDirectory };
        var lowerFile = Path.Combine(layerDirectory, "lower");
        if (File.Exists(lowerFile))
        {
            foreach (var lower in ReadText(lowerFile, location).Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var link = Path.Combine(overlayRoot, lower);
                var target = new FileInfo(link).LinkTarget
                    ?? throw new CorruptContentException("Overlay2LayerMissing", $"'{link}', named in '{lowerFile}', is not a link to a layer.", link);
                directories.Add(Path.GetDirectoryName(Path.GetFullPath(Path.Combine(overlayRoot, "l", target)))!);
            }
        }

        directories.Reverse();
        return directories.Select(directory =>
        {
            var cacheId = Path.GetFileName(directory.TrimEnd('/'));
            var (diffId, size) = byCacheId.TryGetValue(cacheId, out var known)
                ? known
                : (Digest.Compute(Encoding.UTF8.GetBytes("overlay2:" + cacheId)), 0L);
            return (diffId, size, Path.Combine(directory, "diff"));
        }).ToList();
    }

    private static Digest[] ReadDiffIds(byte[] config, ImageLocation location)
    {
        using var document = JsonDocument.Parse(config);
        if (!document.RootElement.TryGetProperty("rootfs", out var rootfs) || !rootfs.TryGetProperty("diff_ids", out var ids))
        {
            throw new CorruptContentException("ConfigInvalid", $"The image config in '{location.Path}' has no rootfs.diff_ids.", location.Original);
        }

        return ids.EnumerateArray().Select(id => Digest.Parse(id.GetString()!)).ToArray();
    }

    private static byte[] SynthesizedConfig(IReadOnlyList<(Digest DiffId, long Size, string Directory)> layers)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("architecture", Platform.Default.Architecture);
            json.WriteString("os", "linux");
            json.WriteStartObject("config");
            json.WriteEndObject();
            json.WriteStartObject("rootfs");
            json.WriteString("type", "layers");
            json.WriteStartArray("diff_ids");
            foreach (var layer in layers)
            {
                json.WriteStringValue(layer.DiffId.ToString());
            }

            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static string ReadText(string path, ImageLocation location) =>
        File.Exists(path)
            ? File.ReadAllText(path).Trim()
            : throw new CorruptContentException("Overlay2StoreInvalid", $"Docker's store at '{location.Path}' lacks '{path}'.", path);

    /// <summary>The names Docker's <c>repositories.json</c> lists, for messages.</summary>
    private static string[] KnownNames(string store)
    {
        var repositories = Path.Combine(store, "repositories.json");
        if (!File.Exists(repositories))
        {
            return [];
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(repositories));
        return document.RootElement.TryGetProperty("Repositories", out var all)
            ? all.EnumerateObject().SelectMany(repository => repository.Value.EnumerateObject().Select(tag => tag.Name)).Order(StringComparer.Ordinal).ToArray()
            : [];
    }
}
