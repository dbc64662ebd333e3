using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;

namespace OciPS.Core.Artifacts;

/// <summary>A manifest that names another as its <c>subject</c> (a signature, an SBOM, an attached artifact).</summary>
public sealed record OciReferrer
{
    /// <summary>The repository or layout the referrer was found in.</summary>
    public required string Location { get; init; }

    /// <summary>The digest of the manifest referred to.</summary>
    public required Digest Subject { get; init; }

    public required Digest Digest { get; init; }

    public required string MediaType { get; init; }

    public long Size { get; init; }

    /// <summary>The referrer's <c>artifactType</c> (its config media type when it has none).</summary>
    public string? ArtifactType { get; init; }

    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    /// <summary>How the list was obtained: <c>api</c> (the referrers API), <c>tag</c> (the referrers tag schema) or <c>layout</c>.</summary>
    public required string Source { get; init; }
}

/// <summary>
/// Referrers (distribution spec 1.1): listing them through the referrers API, and on registries that
/// lack it (docker-registry 2.x) through the referrers tag schema — an image index under the tag
/// <c>&lt;alg&gt;-&lt;hex&gt;</c> of the subject's digest, which the pusher of a referrer maintains.
/// </summary>
public static class ArtifactReferrers
{
    private const int MaxAttempts = 4;

    /// <summary>The tag of the fallback index: the algorithm (at most 32 characters), a dash, the encoded digest (at most 64).</summary>
    public static string FallbackTag(Digest subject) =>
        Truncate(subject.Algorithm, 32) + "-" + Truncate(subject.Encoded, 64);

    /// <summary>The descriptor a referrers list holds for a manifest: artifactType (else the config's media type) and annotations.</summary>
    public static Descriptor DescriptorOf(ManifestContent referrer)
    {
        var (artifactType, annotations) = referrer.Kind == ManifestKind.Manifest
            ? (referrer.Manifest.ArtifactType ?? referrer.Manifest.Config.MediaType, referrer.Manifest.Annotations)
            : (referrer.Index.ArtifactType, referrer.Index.Annotations);
        return referrer.ToDescriptor(annotations: annotations) with { ArtifactType = artifactType };
    }

    /// <summary>
    /// Records a pushed manifest as a referrer of <paramref name="subject"/> where the registry does not:
    /// when it answers the referrers API nothing is needed (null is returned); otherwise the fallback
    /// index is read, the descriptor appended unless already listed (existing entries are kept as they
    /// are) and the index pushed back under its tag, which is returned. The registry has no conditional
    /// requests, so the index is read back after the write: an entry lost to a concurrent writer is added again.
    /// </summary>
    public static async Task<string?> AttachAsync(RegistryClient client, Digest subject, ManifestContent referrer, CancellationToken cancellationToken)
    {
        if (await client.GetReferrersAsync(subject, null, cancellationToken).ConfigureAwait(false) is not null)
        {
            return null;
        }

        var tag = FallbackTag(subject);
        var entry = DescriptorOf(referrer);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var current = await ReadFallbackAsync(client, tag, cancellationToken).ConfigureAwait(false);
            if (current.Manifests.Any(m => m.Digest == entry.Digest))
            {
                return tag;
            }

            var updated = current with { SchemaVersion = 2, MediaType = MediaTypes.OciIndex, Manifests = [.. current.Manifests, entry] };
            var bytes = OciJson.Serialize(updated, OciJson.Compact.ImageIndex);
            await client.PushManifestAsync(ManifestContent.FromBytes(bytes, MediaTypes.OciIndex, null, "the referrers index"), tag, cancellationToken).ConfigureAwait(false);
            if ((await ReadFallbackAsync(client, tag, cancellationToken).ConfigureAwait(false)).Manifests.Any(m => m.Digest == entry.Digest))
            {
                return tag;
            }
        }

        throw new OciException(
            "ReferrersIndexContended",
            OciErrorKind.InvalidData,
            $"The referrers index {client.Repository.Repository}:{tag} kept changing while {referrer.Digest} was added to it ({MaxAttempts} attempts); publish again.",
            tag);
    }

    /// <summary>
    /// The referrers of what <paramref name="subject"/> names, optionally of one artifact type: from the
    /// referrers API when the registry has it, else from the referrers tag schema; in an <c>oci:</c>
    /// layout, the manifests it holds whose subject is the digest.
    /// </summary>
    public static async Task<IReadOnlyList<OciReferrer>> ListAsync(ImageLocation subject, ImageSourceOptions? options, string? artifactType, CancellationToken cancellationToken)
    {
        options ??= ImageSourceOptions.Default;
        switch (subject.Transport)
        {
            case LocationTransport.Registry:
            {
                using var source = new RegistrySource(subject, options);
                var digest = (await source.ResolveAsync(cancellationToken).ConfigureAwait(false)).Content.Digest;
                var client = source.Client;
                var name = source.Reference.Registry + "/" + source.Reference.Repository;
                if (await client.GetReferrersAsync(digest, artifactType, cancellationToken).ConfigureAwait(false) is { } index)
                {
                    return Referrers(name, digest, index.Manifests, artifactType, "api");
                }

                var fallback = await ReadFallbackAsync(client, FallbackTag(digest), cancellationToken).ConfigureAwait(false);
                return Referrers(name, digest, fallback.Manifests, artifactType, "tag");
            }

            case LocationTransport.OciLayout when subject.Path is not null:
            {
                var source = OciLayoutSource.Open(subject);
                var digest = (await source.ResolveAsync(cancellationToken).ConfigureAwait(false)).Content.Digest;
                var found = await InLayoutAsync(subject.Path, digest, artifactType, null, cancellationToken).ConfigureAwait(false);
                return Referrers("oci:" + subject.Path, digest, found, null, "layout");
            }

            default:
                throw new UnsupportedContentException(
                    "ReferrersUnsupported",
                    $"'{subject.Original}' is a {subject.Transport} location; referrers are listed in registries and oci: layouts.",
                    subject.Original);
        }
    }

    /// <summary>
    /// The manifests of a layout (listed in index.json, or children of listed indexes) whose
    /// <c>subject</c> is the digest, as referrer descriptors sorted by digest. Unreadable entries are
    /// skipped (and passed to <paramref name="log"/>): a broken neighbour does not hide the others.
    /// </summary>
    public static async Task<IReadOnlyList<Descriptor>> InLayoutAsync(string layoutPath, Digest subject, string? artifactType, Action<string>? log, CancellationToken cancellationToken)
    {
        var found = new List<Descriptor>();
        var seen = new HashSet<Digest>();
        var indexPath = Path.Combine(layoutPath, "index.json");
        var pending = new Queue<Descriptor>(OciJson.Deserialize(await File.ReadAllBytesAsync(indexPath, cancellationToken).ConfigureAwait(false), OciJsonContext.Default.ImageIndex, $"'{indexPath}'").Manifests);
        while (pending.Count > 0)
        {
            var descriptor = pending.Dequeue();
            var path = Path.Combine(layoutPath, "blobs", descriptor.Digest.Algorithm, descriptor.Digest.Encoded);
            if (!seen.Add(descriptor.Digest) || !File.Exists(path) || new FileInfo(path).Length > ImageSourceExtensions.MaxDocumentSize)
            {
                continue;
            }

            try
            {
                var content = ManifestContent.FromBytes(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), string.IsNullOrEmpty(descriptor.MediaType) ? null : descriptor.MediaType, descriptor.Digest, descriptor.Digest.ToString());
                var subjectOf = content.Kind == ManifestKind.Manifest ? content.Manifest.Subject : content.Index.Subject;
                var referrer = DescriptorOf(content);
                if (subjectOf?.Digest == subject && (artifactType is null || artifactType == referrer.ArtifactType))
                {
                    found.Add(referrer);
                }

                if (content.Kind == ManifestKind.Index)
                {
                    foreach (var child in content.Index.Manifests)
                    {
                        pending.Enqueue(child);
                    }
                }
            }
            catch (Exception ex) when (ex is OciException or FormatException)
            {
                log?.Invoke($"Skipping {descriptor.Digest} while listing referrers: {ex.Message}");
            }
        }

        return found.OrderBy(r => r.Digest.ToString(), StringComparer.Ordinal).ToList();
    }

    private static async Task<ImageIndex> ReadFallbackAsync(RegistryClient client, string tag, CancellationToken cancellationToken)
    {
        ManifestContent content;
        try
        {
            content = await client.GetManifestAsync(tag, cancellationToken).ConfigureAwait(false);
        }
        catch (ManifestNotFoundException)
        {
            return new ImageIndex { SchemaVersion = 2, MediaType = MediaTypes.OciIndex, Manifests = [] };
        }

        return content.Kind == ManifestKind.Index
            ? content.Index
            : throw new CorruptContentException(
                "ReferrersIndexInvalid",
                $"The tag {client.Repository.Repository}:{tag} should hold the referrers index of a manifest, but holds a {content.MediaType}; it is left as it is.",
                tag);
    }

    private static List<OciReferrer> Referrers(string location, Digest subject, IEnumerable<Descriptor> descriptors, string? artifactType, string how) =>
        descriptors
            .Where(d => artifactType is null || d.ArtifactType == artifactType)
            .Select(d => new OciReferrer
            {
                Location = location,
                Subject = subject,
                Digest = d.Digest,
                MediaType = d.MediaType,
                Size = d.Size,
                ArtifactType = d.ArtifactType,
                Annotations = d.Annotations ?? new Dictionary<string, string>(),
                Source = how,
            })
            .ToList();

    private static string Truncate(string value, int length) =>
        value.Length <= length ? value : value[..length];
}
