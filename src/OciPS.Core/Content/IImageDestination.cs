using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>
/// Write access to one image location: a registry repository, an OCI layout, an OCI or docker archive.
/// The counterpart of <see cref="IImageSource"/>; <c>ImageCopy.CopyAsync</c> drives it, and image builders
/// write through it too. The order of calls is: blobs (config and layers, in any order and
/// concurrently), then manifests (children of an index before the index), then
/// <see cref="CommitAsync"/>. Nothing written becomes visible at the location before the commit for
/// archives; a destination disposed without a commit leaves no partial archive behind (registries and
/// layouts may keep the blobs already written: they are content-addressed and harmless).
/// </summary>
public interface IImageDestination : IAsyncDisposable
{
    /// <summary>The location written to.</summary>
    ImageLocation Location { get; }

    /// <summary>The canonical name of the location, for messages and output objects.</summary>
    string Name { get; }

    /// <summary>
    /// What the destination can store. A docker archive stores images, not indexes (a copy picks
    /// platforms for it); it decompresses layers itself, so callers push the blobs they have.
    /// </summary>
    DestinationCapabilities Capabilities { get; }

    /// <summary>Whether the destination already holds the blob (so it need not be sent).</summary>
    Task<bool> BlobExistsAsync(Descriptor descriptor, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a blob read from <paramref name="content"/>, which must be exactly what
    /// <paramref name="descriptor"/> says (digest and size are checked; a mismatch throws
    /// <see cref="DigestMismatchException"/> and stores nothing). <paramref name="progress"/> receives the
    /// number of bytes sent so far.
    /// </summary>
    Task PushBlobAsync(Descriptor descriptor, Stream content, IProgress<long>? progress, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the destination to take the blob from another repository it can reach without a transfer
    /// (a cross-repository mount in the same registry). Returns false when it cannot; the caller then
    /// pushes the blob.
    /// </summary>
    Task<bool> TryMountBlobAsync(Descriptor descriptor, ImageReference from, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a manifest or index, exactly as its bytes are. The <paramref name="topLevel"/> one (pushed
    /// last) is named as the location says: a registry tag (or its digest when the location is pinned),
    /// a layout's ref name (listed unnamed without one), a docker archive's repo tag. Others (the
    /// children of an index) are stored by digest only. Every blob and child manifest it references
    /// must already have been pushed.
    /// </summary>
    Task PushManifestAsync(ManifestContent manifest, bool topLevel, CancellationToken cancellationToken);

    /// <summary>Makes what was written visible (archives are written and renamed into place here).</summary>
    Task CommitAsync(CancellationToken cancellationToken);
}

/// <summary>What a destination can store.</summary>
public sealed record DestinationCapabilities
{
    /// <summary>Any manifest, index and media type (registries, OCI layouts and archives).</summary>
    public static DestinationCapabilities Any { get; } = new();

    /// <summary>Whether an index can be stored (false for docker archives: each image is stored alone).</summary>
    public bool SupportsIndex { get; init; } = true;

    /// <summary>Whether the destination is a registry (mounts and HEAD checks are meaningful).</summary>
    public bool IsRegistry { get; init; }
}

/// <summary>The manifest and media-type family an image is written in.</summary>
public enum ManifestFormat
{
    /// <summary>OCI image-spec media types.</summary>
    Oci,

    /// <summary>Docker image manifest v2 schema 2 media types.</summary>
    Docker,
}
