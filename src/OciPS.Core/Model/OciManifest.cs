using System.Globalization;
using System.Text;
using OciPS.Core.Content;

namespace OciPS.Core.Model;

/// <summary>
/// A resolved manifest or index, as the pipeline carries it: what it is, where it came from, and the
/// exact bytes it was read as. <see cref="OciImage"/> and <see cref="OciIndex"/> are the two kinds.
/// </summary>
public abstract class OciManifest
{
    private protected OciManifest(IImageSource source, ManifestContent content, string reference)
    {
        Source = source;
        Content = content;
        Reference = reference;
    }

    /// <summary>The location the manifest was read from, in canonical form.</summary>
    public string Location => Source.Name;

    /// <summary>
    /// The image's name: the full registry reference for registry images, else the tag or name the
    /// location gave (or the location itself).
    /// </summary>
    public string Reference { get; }

    public Digest Digest => Content.Digest;

    public string MediaType => Content.MediaType;

    /// <summary>The size of the manifest document itself, in bytes.</summary>
    public long ManifestSize => Content.Size;

    public abstract IReadOnlyDictionary<string, string> Annotations { get; }

    public abstract string? ArtifactType { get; }

    /// <summary>The source the manifest was read from; layers and blobs are opened through it.</summary>
    public IImageSource Source { get; }

    /// <summary>The manifest exactly as stored.</summary>
    public ManifestContent Content { get; }

    /// <summary>The manifest's JSON text, byte for byte as stored (UTF-8).</summary>
    public string RawJson => Encoding.UTF8.GetString(Content.Bytes);

    public override string ToString() => Reference + "@" + Digest;

    /// <summary>Parses an RFC 3339 time as Go and Docker write it (up to nine fractional digits), or null.</summary>
    internal static DateTimeOffset? ParseTime(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var value = text.Trim();
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < value.Length && char.IsAsciiDigit(value[end]))
            {
                end++;
            }

            if (end - dot - 1 > 7)
            {
                value = value[..(dot + 8)] + value[end..];
            }
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            ? parsed
            : null;
    }
}

/// <summary>An image (a manifest for one platform) with its config and layers.</summary>
public sealed class OciImage : OciManifest
{
    private readonly IReadOnlyList<OciLayer> _history;
    private readonly IReadOnlyList<OciLayer> _layers;

    internal OciImage(IImageSource source, ManifestContent content, string reference, Descriptor? indexEntry, ImageConfig? config, byte[]? configBytes)
        : base(source, content, reference)
    {
        Manifest = content.Manifest;
        IndexEntry = indexEntry;
        Config = config;
        ConfigBytes = configBytes;
        Platform = config is not null && config.Os.Length > 0 ? config.Platform.Normalize() : indexEntry?.Platform?.Normalize();
        (_layers, _history) = OciLayer.Join(this);
    }

    /// <summary>The parsed manifest (read-only view of <see cref="OciManifest.Content"/>).</summary>
    public ImageManifest Manifest { get; }

    /// <summary>The index entry this image was selected from, when it came from an index.</summary>
    public Descriptor? IndexEntry { get; }

    /// <summary>The platform the image's config declares (or its index entry, for artifacts).</summary>
    public Platform? Platform { get; }

    /// <summary>The image config, or null when the manifest's config is not an image config (an artifact).</summary>
    public ImageConfig? Config { get; }

    /// <summary>The config blob exactly as stored.</summary>
    public byte[]? ConfigBytes { get; }

    public Descriptor ConfigDescriptor => Manifest.Config;

    public Digest ConfigDigest => Manifest.Config.Digest;

    public override IReadOnlyDictionary<string, string> Annotations =>
        Manifest.Annotations ?? new Dictionary<string, string>();

    public override string? ArtifactType => Manifest.ArtifactType ?? (Config is null ? Manifest.Config.MediaType : null);

    /// <summary>The filesystem layers, bottom first, joined with their history entries.</summary>
    public IReadOnlyList<OciLayer> Layers => _layers;

    /// <summary>Every history entry, the empty ones (ENV, CMD…) included, with their layers.</summary>
    public IReadOnlyList<OciLayer> History => _history;

    /// <summary>When the image was created, from its config.</summary>
    public DateTimeOffset? Created => ParseTime(Config?.Created);

    /// <summary>What pulling the image transfers: the config and every layer, compressed.</summary>
    public long Size => Manifest.Config.Size + Manifest.Layers.Sum(layer => layer.Size);

    public int LayerCount => Manifest.Layers.Count;
}

/// <summary>An index or manifest list: several manifests, usually one per platform.</summary>
public sealed class OciIndex : OciManifest
{
    internal OciIndex(IImageSource source, ManifestContent content, string reference)
        : base(source, content, reference)
    {
        Index = content.Index;
        Manifests = Index.Manifests.Select((descriptor, position) => new OciIndexEntry(this, descriptor, position)).ToArray();
    }

    public ImageIndex Index { get; }

    public IReadOnlyList<OciIndexEntry> Manifests { get; }

    /// <summary>The platforms the index offers, as text (<c>linux/arm64</c>), attestation entries left out.</summary>
    public IReadOnlyList<string> Platforms =>
        Manifests.Where(m => m.Platform is not null && !m.IsAttestation).Select(m => m.Platform!.ToString()).Distinct().ToArray();

    public override IReadOnlyDictionary<string, string> Annotations => Index.Annotations ?? new Dictionary<string, string>();

    public override string? ArtifactType => Index.ArtifactType;

    /// <summary>The sum of the manifest sizes the index lists.</summary>
    public long Size => Index.Manifests.Sum(m => m.Size);
}

/// <summary>One manifest listed by an index.</summary>
public sealed class OciIndexEntry
{
    internal OciIndexEntry(OciIndex index, Descriptor descriptor, int position)
    {
        Parent = index;
        Descriptor = descriptor;
        Position = position;
    }

    public OciIndex Parent { get; }

    public Descriptor Descriptor { get; }

    /// <summary>The entry's position in the index (0-based).</summary>
    public int Position { get; }

    public Digest Digest => Descriptor.Digest;

    public string MediaType => Descriptor.MediaType;

    public long Size => Descriptor.Size;

    public Platform? Platform => Descriptor.Platform?.Normalize();

    public IReadOnlyDictionary<string, string> Annotations => Descriptor.Annotations ?? new Dictionary<string, string>();

    /// <summary>BuildKit's attestation manifests (<c>unknown/unknown</c> platform) carry provenance, not a filesystem.</summary>
    public bool IsAttestation =>
        Descriptor.Annotation("vnd.docker.reference.type") == "attestation-manifest" ||
        (Descriptor.Platform is { Os: "unknown", Architecture: "unknown" });

    public override string ToString() => $"{Platform?.ToString() ?? "(no platform)"} {Digest}";
}
