using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Artifacts;

/// <summary>
/// A blob ready to be pushed: its descriptor (digest and size already known) and a way to open its
/// content again, as many times as needed. Files are read in place; directories and downloads were
/// written once to a staging file; image blobs come from their source (and can be mounted from it when
/// <see cref="MountFrom"/> is in the destination's registry).
/// </summary>
public sealed record ArtifactBlob(Descriptor Descriptor, Func<CancellationToken, Task<Stream>> OpenAsync)
{
    /// <summary>The repository the blob can be mounted from, when it comes from a registry.</summary>
    public ImageReference? MountFrom { get; init; }

    /// <summary>What the blob is, for progress and messages (the item's source).</summary>
    public string Origin { get; init; } = string.Empty;
}

/// <summary>A manifest of the artifact (or one copied from an image source), with the blobs it needs.</summary>
public sealed record ArtifactManifest(ManifestContent Content, Platform? Platform, IReadOnlyList<ArtifactBlob> Blobs);

/// <summary>The ORAS annotations on a directory layer, so ORAS (and Save-OciArtifact) unpack it again.</summary>
public static class OrasAnnotations
{
    /// <summary><c>true</c> on a tar+gzip layer that is a packed directory.</summary>
    public const string Unpack = "io.deis.oras.content.unpack";

    /// <summary>The digest of the uncompressed tar of a packed directory.</summary>
    public const string ContentDigest = "io.deis.oras.content.digest";
}
