using System.Globalization;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;

namespace OciPS.Core.Artifacts;

/// <summary>How an artifact is packed.</summary>
public sealed record ArtifactPackOptions
{
    /// <summary>Directories become one layer per file instead of one tar+gzip layer.</summary>
    public bool Expand { get; init; }

    /// <summary>Adds <c>org.opencontainers.image.created</c>; without it the artifact is reproducible.</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary>Where directories and downloads are staged (the system temp folder by default).</summary>
    public string? StagingDirectory { get; init; }

    public HttpClient? Http { get; init; }

    /// <summary>How image items (and a location <c>subject</c>) are read: registry credentials, TLS, cache.</summary>
    public ImageSourceOptions? SourceOptions { get; init; }

    public IProgress<OciProgress>? Progress { get; init; }

    /// <summary>Where AWS settings for <c>s3://</c> sources are read (the process environment by default).</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>Finds the manifest a digest-only <c>subject</c> names (in the destination repository).</summary>
    public Func<Digest, CancellationToken, Task<Descriptor>>? ResolveSubjectDigest { get; init; }
}

/// <summary>What a push did.</summary>
public sealed record PublishedArtifact
{
    /// <summary>Where the artifact was pushed (with the tag, when one was given).</summary>
    public required string Location { get; init; }

    public string? Tag { get; init; }

    public required Digest Digest { get; init; }

    public required string MediaType { get; init; }

    public long Size { get; init; }

    public string? ArtifactType { get; init; }

    /// <summary>The manifests pushed (1 for a plain artifact, children + index for a multi-platform one).</summary>
    public int ManifestCount { get; init; }

    public IReadOnlyList<Descriptor> Layers { get; init; } = [];

    public Digest? Subject { get; init; }

    /// <summary>
    /// The referrers tag schema index updated for the subject (<c>sha256-…</c>), on a registry without
    /// the referrers API; null when the registry lists referrers itself, or there is no subject.
    /// </summary>
    public string? ReferrersTag { get; init; }

    public int BlobsPushed { get; init; }

    public int BlobsSkipped { get; init; }

    public int BlobsMounted { get; init; }

    /// <summary>The root manifest or index, as pushed.</summary>
    public required ManifestContent Manifest { get; init; }

    /// <summary>The descriptor of what was pushed.</summary>
    public Descriptor Descriptor => Manifest.ToDescriptor() with { ArtifactType = ArtifactType };
}

/// <summary>
/// A packed artifact, ready to push: every blob staged with its digest known, every manifest built.
/// Nothing has been written to any destination yet (so -WhatIf can show it). Dispose deletes the staging files.
/// </summary>
public sealed class ArtifactPlan : IAsyncDisposable
{
    private readonly ArtifactStaging _staging;

    internal ArtifactPlan(PackFile pack, ArtifactStaging staging, IReadOnlyList<ArtifactManifest> children, ArtifactManifest root, Descriptor? subject)
    {
        Pack = pack;
        _staging = staging;
        Children = children;
        Root = root;
        Subject = subject;
    }

    public PackFile Pack { get; }

    /// <summary>The manifests an index lists (empty for a single-manifest artifact).</summary>
    public IReadOnlyList<ArtifactManifest> Children { get; }

    /// <summary>The manifest or index that is tagged.</summary>
    public ArtifactManifest Root { get; }

    public Descriptor? Subject { get; }

    /// <summary>Every blob, each once.</summary>
    public IReadOnlyList<ArtifactBlob> Blobs =>
        Children.Append(Root).SelectMany(m => m.Blobs).DistinctBy(b => b.Descriptor.Digest).ToList();

    public ValueTask DisposeAsync() => _staging.DisposeAsync();
}

/// <summary>
/// Packs a pack file into an OCI artifact (image manifest v1.1 with <c>artifactType</c>; an index of
/// one manifest per platform when items have platforms or images are included) and pushes it to any
/// <see cref="IImageDestination"/>.
/// </summary>
public static class ArtifactPublisher
{
    /// <summary>ORAS's artifact type when the pack file names none (the spec requires one with the empty config).</summary>
    public const string DefaultArtifactType = "application/vnd.unknown.artifact.v1";

    private static readonly byte[] EmptyJson = "{}"u8.ToArray();

    /// <summary>The OCI empty descriptor: the config of artifacts that have none.</summary>
    public static Descriptor EmptyConfig { get; } = new()
    {
        MediaType = MediaTypes.OciEmpty,
        Digest = Digest.Compute(EmptyJson),
        Size = EmptyJson.Length,
        Data = EmptyJson,
    };

    /// <summary>Stages every item and builds the manifests; reads sources, writes nothing but staging files.</summary>
    public static async Task<ArtifactPlan> PlanAsync(PackFile pack, ArtifactPackOptions options, CancellationToken cancellationToken)
    {
        var s3 = pack.Items.Select(i => i.From).Append(pack.Config?.From).Any(s => s?.Kind == PackSourceKind.S3)
            ? S3Settings.FromEnvironment(options.Environment)
            : null;
        var staging = new ArtifactStaging(options.StagingDirectory, options.Http, options.Progress, s3);
        try
        {
            var config = pack.Config is null
                ? new ArtifactBlob(EmptyConfig, _ => Task.FromResult<Stream>(new MemoryStream(EmptyJson, writable: false))) { Origin = "empty config" }
                : await StageAsync(staging, pack.Config.From, new PackItem { From = pack.Config.From, Position = pack.Config.Position }, pack.Config.MediaType, new Dictionary<string, string>(), cancellationToken).ConfigureAwait(false);
            if (pack.Config is not null)
            {
                config = config with { Descriptor = config.Descriptor with { Annotations = null } };
            }

            var layers = new List<(PackItem Item, IReadOnlyList<ArtifactBlob> Blobs)>();
            var images = new List<ArtifactManifest>();
            foreach (var item in pack.Items)
            {
                if (item.From.Kind == PackSourceKind.Image)
                {
                    images.AddRange(await ImageManifestsAsync(item, options.SourceOptions, cancellationToken).ConfigureAwait(false));
                }
                else
                {
                    layers.Add((item, await StageItemAsync(staging, item, options.Expand, cancellationToken).ConfigureAwait(false)));
                }
            }

            var subject = await ResolveSubjectAsync(pack, options, cancellationToken).ConfigureAwait(false);
            var artifactType = pack.ArtifactType ?? (pack.Config is null ? DefaultArtifactType : null);
            var annotations = new Dictionary<string, string>(pack.Annotations, StringComparer.Ordinal);
            if (options.Created is { } created)
            {
                annotations[AnnotationKeys.Created] = created.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            }

            var platforms = layers.Select(l => l.Item.Platform).OfType<Platform>().DistinctBy(p => p.ToString() + "|" + p.OsVersion).ToList();
            if (images.Count == 0 && platforms.Count == 0)
            {
                var root = BuildManifest(artifactType, config, layers.SelectMany(l => l.Blobs).ToList(), annotations, subject, null);
                return new ArtifactPlan(pack, staging, [], root, subject);
            }

            var children = new List<ArtifactManifest>();
            if (platforms.Count == 0 && layers.Count > 0)
            {
                children.Add(BuildManifest(artifactType, config, layers.SelectMany(l => l.Blobs).ToList(), annotations, null, null));
            }

            foreach (var platform in platforms)
            {
                var blobs = layers.Where(l => l.Item.Platform is null || (l.Item.Platform.Matches(platform) && l.Item.Platform.OsVersion == platform.OsVersion)).SelectMany(l => l.Blobs).ToList();
                children.Add(BuildManifest(artifactType, config, blobs, annotations, null, platform));
            }

            children.AddRange(images);
            var index = BuildIndex(artifactType, children, annotations, subject);
            return new ArtifactPlan(pack, staging, children, index, subject);
        }
        catch
        {
            await staging.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Pushes a plan: blobs first (skipped when present, mounted when possible, bounded parallelism),
    /// then child manifests by digest, then the root as the destination's location names it (its tag,
    /// or untagged), then commits.
    /// </summary>
    public static async Task<PublishedArtifact> PushAsync(ArtifactPlan plan, IImageDestination destination, IProgress<OciProgress>? progress, CancellationToken cancellationToken)
    {
        int pushed = 0, skipped = 0, mounted = 0;
        var blobs = plan.Blobs;
        var parentKey = "push:" + plan.Root.Content.Digest;
        progress?.Report(new OciProgress(parentKey, null, "Publishing " + plan.Pack.Path, $"{blobs.Count} blobs", 0, blobs.Count, IsBytes: false, Completed: false));
        var done = 0;
        await Parallel.ForEachAsync(blobs, new ParallelOptions { MaxDegreeOfParallelism = 3, CancellationToken = cancellationToken }, async (blob, token) =>
        {
            var descriptor = blob.Descriptor;
            if (await destination.BlobExistsAsync(descriptor, token).ConfigureAwait(false))
            {
                Interlocked.Increment(ref skipped);
            }
            else if (blob.MountFrom is { } from && destination.Capabilities.IsRegistry && await destination.TryMountBlobAsync(descriptor, from, token).ConfigureAwait(false))
            {
                Interlocked.Increment(ref mounted);
            }
            else
            {
                var key = descriptor.Digest.ToString();
                var what = descriptor.Annotation(AnnotationKeys.Title) ?? descriptor.Digest.Short;
                var stream = await blob.OpenAsync(token).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    var bytes = progress is null ? null : new Progress<long>(n => progress.Report(new OciProgress(key, parentKey, "Pushing " + what, descriptor.MediaType, n, descriptor.Size, IsBytes: true, Completed: false)));
                    await destination.PushBlobAsync(descriptor, stream, bytes, token).ConfigureAwait(false);
                }

                progress?.Report(new OciProgress(key, parentKey, "Pushing " + what, descriptor.MediaType, descriptor.Size, descriptor.Size, IsBytes: true, Completed: true));
                Interlocked.Increment(ref pushed);
            }

            var count = Interlocked.Increment(ref done);
            progress?.Report(new OciProgress(parentKey, null, "Publishing " + plan.Pack.Path, $"{count} of {blobs.Count} blobs", count, blobs.Count, IsBytes: false, Completed: false));
        }).ConfigureAwait(false);

        foreach (var child in plan.Children)
        {
            await destination.PushManifestAsync(child.Content, topLevel: false, cancellationToken).ConfigureAwait(false);
        }

        // Without a tag (or a pinned digest) the root is stored by digest only: a registry keeps it
        // untagged, a layout lists it untagged at commit.
        var tag = ArtifactDestinations.TagOf(destination.Location);
        var named = tag is not null || destination.Location.Reference?.Digest is not null;
        await destination.PushManifestAsync(plan.Root.Content, named, cancellationToken).ConfigureAwait(false);
        string? referrersTag = null;
        if (plan.Subject is { } subject && destination is RegistryDestination registry)
        {
            referrersTag = await ArtifactReferrers.AttachAsync(registry.Client, subject.Digest, plan.Root.Content, cancellationToken).ConfigureAwait(false);
        }

        await destination.CommitAsync(cancellationToken).ConfigureAwait(false);
        progress?.Report(new OciProgress(parentKey, null, "Publishing " + plan.Pack.Path, "done", blobs.Count, blobs.Count, IsBytes: false, Completed: true));

        var root = plan.Root.Content;
        return new PublishedArtifact
        {
            Location = destination.Name,
            Tag = tag,
            Digest = root.Digest,
            MediaType = root.MediaType,
            Size = root.Size,
            ArtifactType = root.Kind == ManifestKind.Manifest ? root.Manifest.ArtifactType : root.Index.ArtifactType,
            ManifestCount = plan.Children.Count + 1,
            Layers = root.Kind == ManifestKind.Manifest ? root.Manifest.Layers : plan.Children.Where(c => c.Content.Kind == ManifestKind.Manifest).SelectMany(c => c.Content.Manifest.Layers).ToList(),
            Subject = plan.Subject?.Digest,
            ReferrersTag = referrersTag,
            BlobsPushed = pushed,
            BlobsSkipped = skipped,
            BlobsMounted = mounted,
            Manifest = root,
        };
    }

    private static async Task<IReadOnlyList<ArtifactBlob>> StageItemAsync(ArtifactStaging staging, PackItem item, bool expand, CancellationToken cancellationToken)
    {
        var annotations = new Dictionary<string, string>(item.Annotations, StringComparer.Ordinal);
        if (item.Title is not null)
        {
            annotations[AnnotationKeys.Title] = item.Title;
        }

        if (item.From.Kind == PackSourceKind.Directory)
        {
            if (!expand)
            {
                var title = item.Title ?? Path.GetFileName(item.From.Location.TrimEnd('/'));
                return [await staging.DirectoryAsync(item.From.Location, title, item.MediaType ?? ArtifactStaging.DefaultDirectoryMediaType, annotations, cancellationToken).ConfigureAwait(false)];
            }

            var blobs = new List<ArtifactBlob>();
            foreach (var (full, relative) in ArtifactStaging.FilesOf(item.From.Location))
            {
                var fileAnnotations = new Dictionary<string, string>(item.Annotations, StringComparer.Ordinal)
                {
                    [AnnotationKeys.Title] = item.Title is null ? relative : item.Title + "/" + relative,
                };
                blobs.Add(await ArtifactStaging.FileAsync(full, item.MediaType ?? ArtifactStaging.DefaultFileMediaType, fileAnnotations, cancellationToken).ConfigureAwait(false));
            }

            return blobs;
        }

        return [await StageAsync(staging, item.From, item, item.MediaType ?? ArtifactStaging.DefaultFileMediaType, annotations, cancellationToken).ConfigureAwait(false)];
    }

    private static async Task<ArtifactBlob> StageAsync(ArtifactStaging staging, PackSource source, PackItem item, string mediaType, IReadOnlyDictionary<string, string> annotations, CancellationToken cancellationToken)
    {
        switch (source.Kind)
        {
            case PackSourceKind.File:
                var blob = await ArtifactStaging.FileAsync(source.Location, mediaType, annotations, cancellationToken).ConfigureAwait(false);
                if (source.Pin is { } pin && pin != blob.Descriptor.Digest)
                {
                    throw new DigestMismatchException($"'{source.Text}' (at {source.Position})", pin, blob.Descriptor.Digest);
                }

                return blob;
            case PackSourceKind.Http or PackSourceKind.S3:
                return await staging.DownloadAsync(item, mediaType, annotations, cancellationToken).ConfigureAwait(false);
            default:
                throw new UnsupportedContentException("ArtifactSourceUnsupported", $"'{source.Text}' (at {source.Position}) cannot be packed as one blob.", source.Text);
        }
    }

    private static async Task<IReadOnlyList<ArtifactManifest>> ImageManifestsAsync(PackItem item, ImageSourceOptions? sourceOptions, CancellationToken cancellationToken)
    {
        var location = ImageLocation.Parse(item.From.Location);
        var source = ImageSources.Open(location, sourceOptions);
        var resolved = await source.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var mountFrom = location.Transport == LocationTransport.Registry ? location.Reference : null;
        if (resolved.Content.Kind == ManifestKind.Manifest)
        {
            var platform = item.Platform ?? await PlatformOfAsync(source, resolved.Content.Manifest, cancellationToken).ConfigureAwait(false);
            return [ImageManifest(source, resolved.Content, platform, mountFrom, item)];
        }

        var entries = resolved.Content.Index.Manifests
            .Where(e => MediaTypes.IsManifest(e.MediaType) && (item.Platform is null || (e.Platform is not null && item.Platform.Matches(e.Platform))))
            .ToList();
        if (entries.Count == 0)
        {
            throw new PlatformNotFoundException(item.From.Text, item.Platform?.ToString() ?? "any", resolved.Content.Index.Manifests.Select(e => e.Platform?.ToString() ?? "(none)").ToList());
        }

        var manifests = new List<ArtifactManifest>();
        foreach (var entry in entries)
        {
            var content = await source.GetManifestAsync(entry, cancellationToken).ConfigureAwait(false);
            manifests.Add(ImageManifest(source, content, entry.Platform, mountFrom, item));
        }

        return manifests;
    }

    private static ArtifactManifest ImageManifest(IImageSource source, ManifestContent content, Platform? platform, ImageReference? mountFrom, PackItem item)
    {
        var manifest = content.Manifest;
        var blobs = manifest.Layers.Prepend(manifest.Config)
            .Select(d => new ArtifactBlob(d, token => source.OpenBlobAsync(d, token)) { MountFrom = mountFrom, Origin = item.From.Text })
            .ToList();
        return new ArtifactManifest(content, platform, blobs);
    }

    private static async Task<Platform?> PlatformOfAsync(IImageSource source, ImageManifest manifest, CancellationToken cancellationToken)
    {
        if (!MediaTypes.IsImageConfig(manifest.Config.MediaType))
        {
            return null;
        }

        var bytes = await source.ReadBlobAsync(manifest.Config, cancellationToken).ConfigureAwait(false);
        var config = OciJson.Deserialize(bytes, OciJsonContext.Default.ImageConfig, $"The config {manifest.Config.Digest}");
        return string.IsNullOrEmpty(config.Os) ? null : new Platform { Os = config.Os, Architecture = config.Architecture, Variant = config.Variant, OsVersion = config.OsVersion };
    }

    private static async Task<Descriptor?> ResolveSubjectAsync(PackFile pack, ArtifactPackOptions options, CancellationToken cancellationToken)
    {
        if (pack.Subject is null)
        {
            return null;
        }

        Descriptor found;
        if (Digest.TryParse(pack.Subject, out var digest))
        {
            found = options.ResolveSubjectDigest is { } resolve
                ? await resolve(digest, cancellationToken).ConfigureAwait(false)
                : throw new OciException("ArtifactSubjectNotFound", OciErrorKind.NotFound, $"The subject {digest} (at {pack.SubjectPosition}) is a bare digest, which needs a destination to look it up in.", pack.Subject);
        }
        else
        {
            var resolved = await ImageSources.Open(ImageLocation.Parse(pack.Subject), options.SourceOptions).ResolveAsync(cancellationToken).ConfigureAwait(false);
            found = resolved.Content.ToDescriptor();
        }

        // A subject is a plain descriptor: media type, digest and size (no platform or annotations).
        return new Descriptor { MediaType = found.MediaType, Digest = found.Digest, Size = found.Size };
    }

    private static ArtifactManifest BuildManifest(string? artifactType, ArtifactBlob config, IReadOnlyList<ArtifactBlob> layers, IReadOnlyDictionary<string, string> annotations, Descriptor? subject, Platform? platform)
    {
        var manifest = new ImageManifest
        {
            SchemaVersion = 2,
            MediaType = MediaTypes.OciManifest,
            ArtifactType = artifactType,
            Config = config.Descriptor,
            Layers = layers.Select(l => l.Descriptor).ToList(),
            Subject = subject,
            Annotations = ArtifactStaging.Sorted(annotations),
        };
        var bytes = OciJson.Serialize(manifest, OciJson.Compact.ImageManifest);
        var content = ManifestContent.FromBytes(bytes, MediaTypes.OciManifest, null, "the artifact manifest");
        return new ArtifactManifest(content, platform, layers.Prepend(config).ToList());
    }

    private static ArtifactManifest BuildIndex(string? artifactType, IReadOnlyList<ArtifactManifest> children, IReadOnlyDictionary<string, string> annotations, Descriptor? subject)
    {
        var index = new ImageIndex
        {
            SchemaVersion = 2,
            MediaType = MediaTypes.OciIndex,
            ArtifactType = artifactType,
            // No artifactType on the entries: the children carry their own, and clients built on image-spec
            // 1.0 (skopeo 1.9) drop the unknown field and then cannot keep the index's digest.
            Manifests = children.Select(c => c.Content.ToDescriptor(c.Platform)).ToList(),
            Subject = subject,
            Annotations = ArtifactStaging.Sorted(annotations),
        };
        var bytes = OciJson.Serialize(index, OciJson.Compact.ImageIndex);
        return new ArtifactManifest(ManifestContent.FromBytes(bytes, MediaTypes.OciIndex, null, "the artifact index"), null, []);
    }
}
