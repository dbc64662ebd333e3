using System.IO.Compression;
using System.Text.Json;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.TestSupport.Fixtures;

/// <summary>How a fixture layer is stored.</summary>
public enum FixtureCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>
/// Builds a small image (layers, empty history steps, config, manifest) into an OCI layout, with
/// OCI or Docker schema 2 media types, for tests that need a real image on disk.
/// </summary>
public sealed class ImageBuilder
{
    private static readonly JsonSerializerOptions ConfigJson = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
    private readonly List<Step> _steps = [];
    private readonly Dictionary<string, string> _labels = [];
    private readonly List<string> _env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

    public Platform Platform { get; init; } = Platform.Parse("linux/amd64");

    public bool DockerMediaTypes { get; init; }

    public string Created { get; init; } = "2024-01-02T03:04:05.123456789Z";

    public IReadOnlyList<string>? Entrypoint { get; set; }

    public IReadOnlyList<string>? Cmd { get; set; } = ["/bin/sh"];

    public IDictionary<string, string>? ManifestAnnotations { get; set; }

    /// <summary>Adds a filesystem layer made by one build step.</summary>
    public ImageBuilder Layer(LayerBuilder layer, string createdBy = "COPY . /", FixtureCompression compression = FixtureCompression.Gzip)
    {
        _steps.Add(new Step(layer.ToTar(), createdBy, compression));
        return this;
    }

    /// <summary>Adds a layer from a ready tar (for entries LayerBuilder cannot express: binary xattrs, raw names, hostile entries).</summary>
    public ImageBuilder LayerTar(byte[] tar, string createdBy = "COPY . /", FixtureCompression compression = FixtureCompression.Gzip)
    {
        _steps.Add(new Step(tar, createdBy, compression));
        return this;
    }

    /// <summary>Adds an uncompressed layer from a tar file, streamed (for layers too large to hold in memory).</summary>
    public ImageBuilder LayerFile(string tarPath, string createdBy = "COPY . /")
    {
        _steps.Add(new Step(null, createdBy, FixtureCompression.None, tarPath));
        return this;
    }

    /// <summary>Adds a history step that changed no files (ENV, CMD…).</summary>
    public ImageBuilder EmptyStep(string createdBy)
    {
        _steps.Add(new Step(null, createdBy, FixtureCompression.None));
        return this;
    }

    public ImageBuilder Env(string variable)
    {
        _env.Add(variable);
        return this;
    }

    public ImageBuilder Label(string key, string value)
    {
        _labels[key] = value;
        return this;
    }

    /// <summary>Writes the image's blobs into a layout; with a tag, index.json names it. Returns the manifest's descriptor (with platform).</summary>
    public async Task<Descriptor> WriteAsync(OciLayoutWriter layout, string? tag = null, CancellationToken cancellationToken = default)
    {
        var layers = new List<Descriptor>();
        var diffIds = new List<string>();
        var history = new List<Dictionary<string, object>>();
        foreach (var step in _steps)
        {
            var entry = new Dictionary<string, object> { ["created"] = Created, ["created_by"] = step.CreatedBy };
            if (step.TarFile is not null)
            {
                history.Add(entry);
                await using var tar = File.OpenRead(step.TarFile);
                var descriptor = await layout.WriteBlobAsync(tar, LayerMediaType(FixtureCompression.None), null, -1, cancellationToken);
                diffIds.Add(descriptor.Digest.ToString());
                layers.Add(descriptor);
                continue;
            }

            if (step.Tar is null)
            {
                entry["empty_layer"] = true;
                history.Add(entry);
                continue;
            }

            history.Add(entry);
            diffIds.Add(Digest.Compute(step.Tar).ToString());
            var blob = Compress(step.Tar, step.Compression);
            layers.Add(await layout.WriteBlobAsync(blob, LayerMediaType(step.Compression), cancellationToken));
        }

        var config = new Dictionary<string, object?>
        {
            ["created"] = Created,
            ["architecture"] = Platform.Architecture,
            ["os"] = Platform.Os,
            ["config"] = new Dictionary<string, object?>
            {
                ["Env"] = _env,
                ["Entrypoint"] = Entrypoint,
                ["Cmd"] = Cmd,
                ["Labels"] = _labels.Count == 0 ? null : _labels,
                ["WorkingDir"] = "/",
            },
            ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = diffIds },
            ["history"] = history,
        };
        if (Platform.Variant is not null)
        {
            config["variant"] = Platform.Variant;
        }

        var configBytes = JsonSerializer.SerializeToUtf8Bytes(config, ConfigJson);
        var configDescriptor = await layout.WriteBlobAsync(configBytes, DockerMediaTypes ? MediaTypes.DockerConfig : MediaTypes.OciConfig, cancellationToken);

        var manifest = new ImageManifest
        {
            SchemaVersion = 2,
            MediaType = DockerMediaTypes ? MediaTypes.DockerManifest : MediaTypes.OciManifest,
            Config = configDescriptor,
            Layers = layers,
            Annotations = ManifestAnnotations is null ? null : new Dictionary<string, string>(ManifestAnnotations),
        };
        var manifestBytes = OciJson.Serialize(manifest, OciJson.Compact.ImageManifest);
        var manifestDescriptor = await layout.WriteBlobAsync(manifestBytes, manifest.MediaType!, cancellationToken);
        manifestDescriptor = manifestDescriptor with { Platform = Platform };
        if (tag is not null)
        {
            await layout.AddToIndexAsync(manifestDescriptor, tag, cancellationToken);
        }

        return manifestDescriptor;
    }

    /// <summary>Writes an index over images already in the layout; with a tag, index.json names it.</summary>
    public static async Task<Descriptor> WriteIndexAsync(OciLayoutWriter layout, IEnumerable<Descriptor> manifests, string? tag, bool docker = false, CancellationToken cancellationToken = default)
    {
        var index = new ImageIndex
        {
            SchemaVersion = 2,
            MediaType = docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex,
            Manifests = manifests.ToArray(),
        };
        var bytes = OciJson.Serialize(index, OciJson.Compact.ImageIndex);
        var descriptor = await layout.WriteBlobAsync(bytes, index.MediaType, cancellationToken);
        if (tag is not null)
        {
            await layout.AddToIndexAsync(descriptor, tag, cancellationToken);
        }

        return descriptor;
    }

    private string LayerMediaType(FixtureCompression compression) => (DockerMediaTypes, compression) switch
    {
        (true, FixtureCompression.Gzip) => MediaTypes.DockerLayerGzip,
        (true, FixtureCompression.Zstd) => MediaTypes.DockerLayerZstd,
        (true, _) => MediaTypes.DockerLayer,
        (false, FixtureCompression.Gzip) => MediaTypes.OciLayerGzip,
        (false, FixtureCompression.Zstd) => MediaTypes.OciLayerZstd,
        _ => MediaTypes.OciLayer,
    };

    private static byte[] Compress(byte[] tar, FixtureCompression compression)
    {
        switch (compression)
        {
            case FixtureCompression.Gzip:
            {
                using var buffer = new MemoryStream();
                using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
                {
                    gzip.Write(tar);
                }

                return buffer.ToArray();
            }

            case FixtureCompression.Zstd:
            {
                using var compressor = new ZstdSharp.Compressor(3);
                return compressor.Wrap(tar).ToArray();
            }

            default:
                return tar;
        }
    }

    private sealed record Step(byte[]? Tar, string CreatedBy, FixtureCompression Compression, string? TarFile = null);
}
