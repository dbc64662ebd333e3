using System.Text.Json.Nodes;
using OciPS.Core.Model;
using OciPS.Core.Registry;

namespace OciPS.Core.Content;

/// <summary>How <see cref="ImageCopy.CopyAsync"/> copies.</summary>
public sealed record ImageCopyOptions
{
    /// <summary>
    /// The platforms to copy from an index. Empty: this machine's platform only (as docker pull does);
    /// one: that image alone, written as the top-level manifest; several: a new index of just those.
    /// </summary>
    public IReadOnlyList<Platform> Platforms { get; init; } = [];

    /// <summary>Copies an index whole, every image in it (ignores <see cref="Platforms"/>).</summary>
    public bool AllPlatforms { get; init; }

    /// <summary>Rewrites manifests and media types to this format; null keeps them (and their digests).</summary>
    public ManifestFormat? Format { get; init; }

    /// <summary>How many blobs are copied at once.</summary>
    public int ThrottleLimit { get; init; } = 4;

    /// <summary>Receives the bytes sent for each blob.</summary>
    public IProgress<BlobTransfer>? Progress { get; init; }
}

/// <summary>What a copy did: the output object of Save-OciImage and Copy-OciImage.</summary>
public sealed record ImageCopyResult
{
    /// <summary>The location read.</summary>
    public required string Source { get; init; }

    /// <summary>The location written.</summary>
    public required string Destination { get; init; }

    /// <summary>The top-level manifest or index written.</summary>
    public required ManifestContent Manifest { get; init; }

    /// <summary>The digest of what was written (differs from the source's when platforms were picked or the format converted).</summary>
    public Digest Digest => Manifest.Digest;

    public string MediaType => Manifest.MediaType;

    /// <summary>Blobs sent.</summary>
    public int BlobsCopied { get; init; }

    /// <summary>Blobs the destination already had.</summary>
    public int BlobsSkipped { get; init; }

    /// <summary>Blobs mounted from the source repository.</summary>
    public int BlobsMounted { get; init; }

    /// <summary>Bytes sent.</summary>
    public long BytesCopied { get; init; }
}

/// <summary>
/// Copies an image or index from any source to any destination: platforms selected, manifests
/// converted between OCI and Docker media types on request, blobs copied in parallel (bounded),
/// skipped when the destination has them, mounted when source and destination share a registry.
/// Manifests are written children first, the top-level one last, then the destination is committed.
/// </summary>
public static class ImageCopy
{
    private const int BlobAttempts = 3;

    public static async Task<ImageCopyResult> CopyAsync(IImageSource source, IImageDestination destination, ImageCopyOptions? options, CancellationToken cancellationToken)
    {
        options ??= new ImageCopyOptions();
        var root = (await source.ResolveAsync(cancellationToken).ConfigureAwait(false)).Content;
        using var state = new CopyState(source, destination, options);
        ManifestContent written;
        if (root.Kind == ManifestKind.Manifest)
        {
            written = await state.CopyImageAsync(root, topLevel: true, cancellationToken).ConfigureAwait(false);
        }
        else if (options.AllPlatforms)
        {
            written = destination.Capabilities.SupportsIndex
                ? await state.CopyIndexAsync(root, null, cancellationToken).ConfigureAwait(false)
                : await state.CopyEachAsync(root, null, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var wanted = options.Platforms.Count == 0 ? [Platform.Default] : options.Platforms;
            var selected = wanted.Select(platform => Select(root, platform, source.Name)).Distinct().ToList();
            if (selected.Count == 1)
            {
                var child = await source.GetManifestAsync(selected[0], cancellationToken).ConfigureAwait(false);
                written = child.Kind == ManifestKind.Index
                    ? await state.CopyIndexAsync(child, null, cancellationToken).ConfigureAwait(false)
                    : await state.CopyImageAsync(child, topLevel: true, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                written = destination.Capabilities.SupportsIndex
                    ? await state.CopyIndexAsync(root, selected, cancellationToken).ConfigureAwait(false)
                    : await state.CopyEachAsync(root, selected, cancellationToken).ConfigureAwait(false);
            }
        }

        await destination.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new ImageCopyResult
        {
            Source = source.Name,
            Destination = destination.Name,
            Manifest = written,
            BlobsCopied = state.Copied,
            BlobsSkipped = state.Skipped,
            BlobsMounted = state.Mounted,
            BytesCopied = state.Bytes,
        };
    }

    /// <summary>The index entry that best runs on <paramref name="platform"/> (containerd's ranking).</summary>
    private static Descriptor Select(ManifestContent index, Platform platform, string name)
    {
        var entries = index.Index.Manifests;
        var best = entries
            .Where(e => e.Platform is not null && e.Platform.Os != "unknown")
            .Select((e, i) => (Entry: e, Rank: platform.Rank(e.Platform!), Position: i))
            .Where(c => c.Rank >= 0)
            .OrderBy(c => c.Rank)
            .ThenBy(c => c.Position)
            .Select(c => c.Entry)
            .FirstOrDefault();
        if (best is null && entries.Count == 1 && entries[0].Platform is null)
        {
            best = entries[0];
        }

        return best ?? throw new PlatformNotFoundException(name, platform.ToString(), entries.Where(e => e.Platform is not null).Select(e => e.Platform!.ToString()).ToList());
    }

    private sealed class CopyState(IImageSource source, IImageDestination destination, ImageCopyOptions options) : IDisposable
    {
        private readonly SemaphoreSlim _throttle = new(Math.Max(1, options.ThrottleLimit));
        private int _copied;
        private int _skipped;
        private int _mounted;
        private long _bytes;

        public int Copied => _copied;

        public void Dispose() => _throttle.Dispose();

        public int Skipped => _skipped;

        public int Mounted => _mounted;

        public long Bytes => Interlocked.Read(ref _bytes);

        /// <summary>Copies an index's images (all, or <paramref name="only"/> these entries) and writes the index, converted when asked.</summary>
        public async Task<ManifestContent> CopyIndexAsync(ManifestContent index, IReadOnlyList<Descriptor>? only, CancellationToken cancellationToken, bool topLevel = true)
        {
            var entries = index.Index.Manifests.Where(e => only is null || only.Contains(e)).ToList();
            var replacements = new Dictionary<Digest, ManifestContent>();
            foreach (var entry in entries)
            {
                var child = await source.GetManifestAsync(entry, cancellationToken).ConfigureAwait(false);
                var written = child.Kind == ManifestKind.Index
                    ? await CopyIndexAsync(child, null, cancellationToken, topLevel: false).ConfigureAwait(false)
                    : await CopyImageAsync(child, topLevel: false, cancellationToken).ConfigureAwait(false);
                replacements[entry.Digest] = written;
            }

            var result = only is null && options.Format is null
                ? index
                : ManifestConversion.RewriteIndex(index, entries, replacements, options.Format);
            await destination.PushManifestAsync(result, topLevel, cancellationToken).ConfigureAwait(false);
            return result;
        }

        /// <summary>For destinations without indexes: each image written as a top-level manifest of its own.</summary>
        public async Task<ManifestContent> CopyEachAsync(ManifestContent index, IReadOnlyList<Descriptor>? only, CancellationToken cancellationToken)
        {
            ManifestContent? last = null;
            foreach (var entry in index.Index.Manifests.Where(e => (only is null || only.Contains(e)) && e.Platform?.Os != "unknown"))
            {
                var child = await source.GetManifestAsync(entry, cancellationToken).ConfigureAwait(false);
                last = child.Kind == ManifestKind.Index
                    ? await CopyEachAsync(child, null, cancellationToken).ConfigureAwait(false)
                    : await CopyImageAsync(child, topLevel: true, cancellationToken).ConfigureAwait(false);
            }

            return last ?? throw ManifestNotFoundException.Empty(source.Name);
        }

        public async Task<ManifestContent> CopyImageAsync(ManifestContent manifest, bool topLevel, CancellationToken cancellationToken)
        {
            var image = manifest.Manifest;
            var converted = options.Format is { } format ? ManifestConversion.RewriteManifest(manifest, format) : manifest;
            var convertedImage = converted.Manifest;
            var blobs = new List<(Descriptor Source, Descriptor Target)> { (image.Config, convertedImage.Config) };
            blobs.AddRange(image.Layers.Zip(convertedImage.Layers));
            await Task.WhenAll(blobs.DistinctBy(b => b.Source.Digest).Select(b => CopyBlobAsync(b.Source, b.Target, cancellationToken))).ConfigureAwait(false);
            await destination.PushManifestAsync(converted, topLevel, cancellationToken).ConfigureAwait(false);
            return converted;
        }

        private async Task CopyBlobAsync(Descriptor sourceBlob, Descriptor targetBlob, CancellationToken cancellationToken)
        {
            await _throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (await destination.BlobExistsAsync(targetBlob, cancellationToken).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref _skipped);
                    options.Progress?.Report(new BlobTransfer(targetBlob, targetBlob.Size, true));
                    return;
                }

                var origin = source is IBlobOrigins origins ? origins.SourceOf(sourceBlob.Digest) ?? source : source;
                if (origin is RegistrySource registrySource &&
                    await destination.TryMountBlobAsync(targetBlob, registrySource.Reference, cancellationToken).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref _mounted);
                    options.Progress?.Report(new BlobTransfer(targetBlob, targetBlob.Size, true));
                    return;
                }

                if (source is RegistrySource cached && destination is OciLayoutDestination layout)
                {
                    // Pulled into the cache (verified there), then copied file to file: no second hash, no user-space copy.
                    await cached.EnsureCachedAsync(sourceBlob, cancellationToken).ConfigureAwait(false);
                    layout.AddVerifiedBlobFile(targetBlob, cached.Cache.BlobPath(sourceBlob.Digest));
                    Interlocked.Increment(ref _copied);
                    Interlocked.Add(ref _bytes, targetBlob.Size);
                    options.Progress?.Report(new BlobTransfer(targetBlob, targetBlob.Size, true));
                    return;
                }

                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        var stream = await source.OpenBlobAsync(sourceBlob, cancellationToken).ConfigureAwait(false);
                        await using (stream.ConfigureAwait(false))
                        {
                            var progress = options.Progress is { } sink ? new SentBytes(targetBlob, sink) : null;
                            await destination.PushBlobAsync(targetBlob, stream, progress, cancellationToken).ConfigureAwait(false);
                        }

                        break;
                    }
                    catch (RegistryConnectionException) when (attempt < BlobAttempts && !cancellationToken.IsCancellationRequested)
                    {
                        // The upload streamed from the source cannot be replayed by the transport: start the blob over.
                    }
                }

                Interlocked.Increment(ref _copied);
                Interlocked.Add(ref _bytes, targetBlob.Size);
                options.Progress?.Report(new BlobTransfer(targetBlob, targetBlob.Size, true));
            }
            finally
            {
                _throttle.Release();
            }
        }
    }
}

/// <summary>
/// Reports bytes sent synchronously, on the thread that sent them: <see cref="Progress{T}"/> would post
/// reports that can arrive after the copy (and the cmdlet that asked for them) has finished.
/// </summary>
internal sealed class SentBytes(Descriptor blob, IProgress<BlobTransfer> sink) : IProgress<long>
{
    public void Report(long value) => sink.Report(new BlobTransfer(blob, value, false));
}

/// <summary>Rewrites manifests and indexes between OCI and Docker media types (the content of blobs never changes).</summary>
public static class ManifestConversion
{
    private static readonly Dictionary<string, string> ToDocker = new(StringComparer.Ordinal)
    {
        [MediaTypes.OciManifest] = MediaTypes.DockerManifest,
        [MediaTypes.OciIndex] = MediaTypes.DockerManifestList,
        [MediaTypes.OciConfig] = MediaTypes.DockerConfig,
        [MediaTypes.OciLayer] = MediaTypes.DockerLayer,
        [MediaTypes.OciLayerGzip] = MediaTypes.DockerLayerGzip,
        [MediaTypes.OciLayerZstd] = MediaTypes.DockerLayerZstd,
        [MediaTypes.OciLayerNondistributableGzip] = MediaTypes.DockerForeignLayerGzip,
    };

    // Media types hold '+': the default encoder would write it as \u002B, which other tools compare literally.
    private static readonly System.Text.Json.JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly Dictionary<string, string> ToOci = ToDocker.ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);

    /// <summary>The media type in the other format, or the same type when it has no counterpart.</summary>
    public static string Convert(string mediaType, ManifestFormat format) =>
        (format == ManifestFormat.Docker ? ToDocker : ToOci).GetValueOrDefault(mediaType, mediaType);

    /// <summary>An image manifest in <paramref name="format"/>; the same object when nothing changes.</summary>
    public static ManifestContent RewriteManifest(ManifestContent manifest, ManifestFormat format)
    {
        var target = format == ManifestFormat.Docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest;
        var node = JsonNode.Parse(manifest.Bytes)!.AsObject();
        var changed = manifest.MediaType != target;
        node["mediaType"] = target;
        changed |= ConvertDescriptor(node["config"], format);
        if (node["layers"] is JsonArray layers)
        {
            foreach (var layer in layers)
            {
                changed |= ConvertDescriptor(layer, format);
            }
        }

        if (format == ManifestFormat.Docker && node["config"] is JsonObject config && config["mediaType"]?.GetValue<string>() != MediaTypes.DockerConfig)
        {
            throw new UnsupportedContentException("FormatConversionUnsupported", $"The manifest {manifest.Digest} describes an artifact ({config["mediaType"]}), which Docker manifests cannot carry; copy it without -Format Docker.", manifest.Digest.ToString());
        }

        if (format == ManifestFormat.Docker)
        {
            changed |= node.Remove("annotations") | node.Remove("subject") | node.Remove("artifactType");
        }

        return changed
            ? ManifestContent.FromBytes(System.Text.Encoding.UTF8.GetBytes(node.ToJsonString(Relaxed)), target, null, $"The manifest {manifest.Digest} converted to {format}")
            : manifest;
    }

    /// <summary>An index listing <paramref name="entries"/>, each pointing at what was written for it, in <paramref name="format"/> when given.</summary>
    public static ManifestContent RewriteIndex(ManifestContent index, IReadOnlyList<Descriptor> entries, IReadOnlyDictionary<Digest, ManifestContent> written, ManifestFormat? format)
    {
        var node = JsonNode.Parse(index.Bytes)!.AsObject();
        var mediaType = format switch
        {
            ManifestFormat.Docker => MediaTypes.DockerManifestList,
            ManifestFormat.Oci => MediaTypes.OciIndex,
            _ => index.MediaType,
        };
        node["mediaType"] = mediaType;
        var manifests = new JsonArray();
        var originals = node["manifests"] as JsonArray ?? [];
        foreach (var original in originals)
        {
            var digest = original?["digest"]?.GetValue<string>();
            var entry = entries.FirstOrDefault(e => e.Digest.ToString() == digest);
            if (entry is null || original is null)
            {
                continue;
            }

            var copy = original.DeepClone().AsObject();
            var child = written[entry.Digest];
            copy["digest"] = child.Digest.ToString();
            copy["size"] = child.Size;
            copy["mediaType"] = child.MediaType;
            if (format == ManifestFormat.Docker)
            {
                copy.Remove("annotations");
            }

            manifests.Add(copy);
        }

        node["manifests"] = manifests;
        if (format == ManifestFormat.Docker)
        {
            node.Remove("annotations");
            node.Remove("subject");
            node.Remove("artifactType");
        }

        return ManifestContent.FromBytes(System.Text.Encoding.UTF8.GetBytes(node.ToJsonString(Relaxed)), mediaType, null, $"The index {index.Digest} rewritten");
    }

    private static bool ConvertDescriptor(JsonNode? descriptor, ManifestFormat format)
    {
        if (descriptor is not JsonObject obj || obj["mediaType"]?.GetValue<string>() is not { } mediaType)
        {
            return false;
        }

        var converted = Convert(mediaType, format);
        if (converted == mediaType)
        {
            return false;
        }

        obj["mediaType"] = converted;
        return true;
    }
}
