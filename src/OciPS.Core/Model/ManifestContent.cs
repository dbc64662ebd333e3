using System.Text.Json;

namespace OciPS.Core.Model;

/// <summary>What a manifest document is.</summary>
public enum ManifestKind
{
    Manifest,
    Index,
}

/// <summary>
/// A manifest or index exactly as stored: the raw bytes (whose digest is the manifest digest), the
/// media type and the digest. Parsed views are computed from the bytes; the bytes are never rewritten.
/// </summary>
public sealed class ManifestContent
{
    private ImageManifest? _manifest;
    private ImageIndex? _index;

    private ManifestContent(byte[] bytes, string mediaType, Digest digest, ManifestKind kind)
    {
        Bytes = bytes;
        MediaType = mediaType;
        Digest = digest;
        Kind = kind;
    }

    public byte[] Bytes { get; }

    public string MediaType { get; }

    public Digest Digest { get; }

    public ManifestKind Kind { get; }

    public long Size => Bytes.LongLength;

    /// <summary>A descriptor of this manifest, as an index or a tag list would carry it.</summary>
    public Descriptor ToDescriptor(Platform? platform = null, IReadOnlyDictionary<string, string>? annotations = null) => new()
    {
        MediaType = MediaType,
        Digest = Digest,
        Size = Size,
        Platform = platform,
        Annotations = annotations,
    };

    /// <summary>The document as an image manifest; throws if it is an index.</summary>
    public ImageManifest Manifest => Kind == ManifestKind.Manifest
        ? _manifest ??= OciJson.Deserialize(Bytes, OciJsonContext.Default.ImageManifest, $"The manifest {Digest}")
        : throw new InvalidOperationException($"{Digest} is an index, not a manifest.");

    /// <summary>The document as an index; throws if it is an image manifest.</summary>
    public ImageIndex Index => Kind == ManifestKind.Index
        ? _index ??= OciJson.Deserialize(Bytes, OciJsonContext.Default.ImageIndex, $"The index {Digest}")
        : throw new InvalidOperationException($"{Digest} is a manifest, not an index.");

    /// <summary>
    /// Wraps raw manifest bytes. The media type comes from the document's own <c>mediaType</c> field,
    /// else from what the transport said (<paramref name="declaredMediaType"/>), else from its shape.
    /// The digest is computed from the bytes; when <paramref name="expected"/> is given it must match.
    /// </summary>
    public static ManifestContent FromBytes(byte[] bytes, string? declaredMediaType, Digest? expected, string what)
    {
        var digest = Digest.Compute(bytes, expected?.Algorithm ?? Digest.Sha256);
        if (expected is not null && digest != expected)
        {
            throw new DigestMismatchException(what, expected, digest);
        }

        var (mediaType, kind) = Classify(bytes, declaredMediaType, digest, what);
        return new ManifestContent(bytes, mediaType, digest, kind);
    }

    private static (string MediaType, ManifestKind Kind) Classify(byte[] bytes, string? declared, Digest digest, string what)
    {
        string? inDocument = null;
        int? schemaVersion = null;
        bool hasManifests = false, hasLayers = false, hasConfig = false;
        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CorruptContentException("ManifestInvalid", $"{what} ({digest}) is not a JSON object.", digest.ToString());
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "mediaType" when property.Value.ValueKind == JsonValueKind.String:
                        inDocument = property.Value.GetString();
                        break;
                    case "schemaVersion" when property.Value.ValueKind == JsonValueKind.Number:
                        schemaVersion = property.Value.GetInt32();
                        break;
                    case "manifests":
                        hasManifests = true;
                        break;
                    case "layers":
                        hasLayers = true;
                        break;
                    case "config":
                        hasConfig = true;
                        break;
                }
            }
        }
        catch (JsonException ex)
        {
            throw new CorruptContentException("ManifestInvalid", $"{what} ({digest}) is not valid JSON: {ex.Message}", digest.ToString(), ex);
        }

        var mediaType = inDocument ?? NullIfGeneric(declared);
        if (schemaVersion == 1 || MediaTypes.IsSchema1(mediaType))
        {
            throw new UnsupportedContentException(
                "ManifestSchema1",
                $"{what} ({digest}) is a Docker schema 1 manifest, which is deprecated and not supported; push the image again with a current client.",
                digest.ToString());
        }

        if (MediaTypes.IsIndex(mediaType))
        {
            return (mediaType!, ManifestKind.Index);
        }

        if (mediaType is not null && (MediaTypes.IsManifest(mediaType) || hasConfig))
        {
            return (mediaType, ManifestKind.Manifest);
        }

        if (hasManifests)
        {
            return (mediaType ?? MediaTypes.OciIndex, ManifestKind.Index);
        }

        if (hasConfig || hasLayers)
        {
            return (mediaType ?? MediaTypes.OciManifest, ManifestKind.Manifest);
        }

        throw new UnsupportedContentException(
            "ManifestUnknownType",
            $"{what} ({digest}) is neither an image manifest nor an index (media type '{mediaType ?? "none"}').",
            digest.ToString());
    }

    private static string? NullIfGeneric(string? mediaType) =>
        string.IsNullOrEmpty(mediaType) || mediaType.StartsWith("application/json", StringComparison.Ordinal) ||
        mediaType.StartsWith("text/plain", StringComparison.Ordinal) || mediaType == "application/octet-stream"
            ? null
            : mediaType;
}
