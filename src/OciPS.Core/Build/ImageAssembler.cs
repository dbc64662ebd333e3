using OciPS.Core.Build.Layers;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>
/// Writes a stage's config and manifest (and a build's index) into the staging layout. Base layers
/// are listed by their descriptors (media type translated to the output format; same bytes, same
/// digest); new layers follow them.
/// </summary>
internal static class ImageAssembler
{
    public static async Task<(ManifestContent Manifest, Descriptor Config)> AssembleAsync(
        BuildStage stage, IReadOnlyList<(StageStep Step, BuiltLayer? Layer)> steps, ImageBuildOptions options, string created, OciLayoutWriter staging, CancellationToken cancellationToken)
    {
        var oci = options.Format == BuildFormat.Oci;
        var baseLayers = stage.Base?.Manifest.Layers ?? [];
        var diffIds = new List<Digest>(stage.Base?.Config?.RootFs?.DiffIds ?? []);
        var history = new List<HistoryEntry>(stage.Base?.Config?.History ?? []);
        var layers = baseLayers.Select(layer => layer with { MediaType = Translate(layer.MediaType, oci) }).ToList();
        foreach (var (step, layer) in steps)
        {
            history.Add(new HistoryEntry
            {
                Created = created,
                CreatedBy = step.CreatedBy(layer),
                EmptyLayer = layer is null ? true : null,
            });
            if (layer is not null)
            {
                layers.Add(layer.Blob with { MediaType = Translate(layer.Blob.MediaType, oci) });
                diffIds.Add(layer.DiffId);
            }
        }

        var container = stage.Container;
        var labels = new Dictionary<string, string>(container.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var (key, value) in options.Labels)
        {
            labels[key] = value;
        }

        container = container with { Labels = labels.Count == 0 ? null : labels };
        var baseConfig = stage.Config;
        var config = baseConfig with
        {
            Created = created,
            Architecture = stage.Platform.Architecture,
            Os = stage.Platform.Os,
            Variant = stage.Platform.Variant,
            Config = container,
            RootFs = new RootFs { Type = "layers", DiffIds = diffIds },
            History = history,
        };
        var configBytes = OciJson.Serialize(config, OciJson.Compact.ImageConfig);
        var configDescriptor = await staging.WriteBlobAsync(configBytes, oci ? MediaTypes.OciConfig : MediaTypes.DockerConfig, cancellationToken).ConfigureAwait(false);

        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in labels.Where(l => l.Key.StartsWith("org.opencontainers.image.", StringComparison.Ordinal)))
        {
            annotations[key] = value;
        }

        if (oci && stage.Base is not null && stage.Base.Layers.Count > 0 && !stage.Base.Source.Location.IsLocal)
        {
            annotations[AnnotationKeys.BaseName] = stage.Base.Reference;
            annotations[AnnotationKeys.BaseDigest] = stage.Base.Digest.ToString();
        }

        foreach (var (key, value) in options.Annotations)
        {
            annotations[key] = value;
        }

        var manifest = new ImageManifest
        {
            SchemaVersion = 2,
            MediaType = oci ? MediaTypes.OciManifest : MediaTypes.DockerManifest,
            Config = configDescriptor,
            Layers = layers,
            Annotations = annotations.Count == 0 ? null : annotations,
        };
        var manifestBytes = OciJson.Serialize(manifest, OciJson.Compact.ImageManifest);
        var descriptor = await staging.WriteBlobAsync(manifestBytes, manifest.MediaType, cancellationToken).ConfigureAwait(false);
        return (ManifestContent.FromBytes(manifestBytes, manifest.MediaType, descriptor.Digest, "the built manifest"), configDescriptor);
    }

    /// <summary>An index over the platform images (several -Platform values).</summary>
    public static async Task<ManifestContent> AssembleIndexAsync(IReadOnlyList<BuiltPlatformImage> images, ImageBuildOptions options, OciLayoutWriter staging, CancellationToken cancellationToken)
    {
        var oci = options.Format == BuildFormat.Oci;
        var index = new ImageIndex
        {
            SchemaVersion = 2,
            MediaType = oci ? MediaTypes.OciIndex : MediaTypes.DockerManifestList,
            Manifests = images.Select(i => i.Manifest.ToDescriptor(new Platform { Os = i.Platform.Os, Architecture = i.Platform.Architecture, Variant = i.Platform.Variant })).ToArray(),
            Annotations = options.Annotations.Count == 0 ? null : new SortedDictionary<string, string>(options.Annotations.ToDictionary(), StringComparer.Ordinal),
        };
        var bytes = OciJson.Serialize(index, OciJson.Compact.ImageIndex);
        var descriptor = await staging.WriteBlobAsync(bytes, index.MediaType, cancellationToken).ConfigureAwait(false);
        return ManifestContent.FromBytes(bytes, index.MediaType, descriptor.Digest, "the built index");
    }

    /// <summary>A layer media type in the output format's vocabulary.</summary>
    public static string Translate(string mediaType, bool oci) => (mediaType, oci) switch
    {
        (MediaTypes.DockerLayerGzip, true) => MediaTypes.OciLayerGzip,
        (MediaTypes.DockerLayer, true) => MediaTypes.OciLayer,
        (MediaTypes.DockerLayerZstd, true) => MediaTypes.OciLayerZstd,
        (MediaTypes.DockerForeignLayerGzip, true) => MediaTypes.OciLayerNondistributableGzip,
        (MediaTypes.OciLayerGzip, false) => MediaTypes.DockerLayerGzip,
        (MediaTypes.OciLayer, false) => MediaTypes.DockerLayer,
        (MediaTypes.OciLayerZstd, false) => MediaTypes.DockerLayerZstd,
        (MediaTypes.OciLayerNondistributableGzip, false) => MediaTypes.DockerForeignLayerGzip,
        _ => mediaType,
    };
}
