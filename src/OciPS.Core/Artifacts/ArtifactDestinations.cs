using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;

namespace OciPS.Core.Artifacts;

/// <summary>
/// Opens where artifacts are published: a registry repository, an OCI layout (which keeps untagged
/// referrers listed) or an OCI archive, through the destinations images are copied with. Docker
/// archives hold images only, so they are refused.
/// </summary>
public static class ArtifactDestinations
{
    public static IImageDestination Open(ImageLocation location, ImageDestinationOptions? options = null) => location.Transport switch
    {
        LocationTransport.OciLayout or LocationTransport.OciArchive or LocationTransport.Registry => ImageDestinations.Open(location, options),
        _ => throw new UnsupportedContentException(
            "ArtifactDestinationUnsupported",
            $"'{location.Original}' is a {location.Transport} location; artifacts are published to registries, oci: layouts and oci-archive: files.",
            location.Original),
    };

    /// <summary>The tag a destination location names, if any.</summary>
    public static string? TagOf(ImageLocation location) => location.Tag ?? location.Reference?.Tag;

    /// <summary>Finds a manifest by digest in the destination's repository (for a digest-only <c>subject</c>).</summary>
    public static async Task<Descriptor> ResolveDigestAsync(ImageLocation destination, Digest digest, RegistryOptions? registry, CancellationToken cancellationToken)
    {
        if (destination.Transport == LocationTransport.Registry && destination.Reference is { } reference)
        {
            try
            {
                return (await new RegistryClient(reference, registry).GetManifestAsync(digest.ToString(), cancellationToken).ConfigureAwait(false)).ToDescriptor();
            }
            catch (ManifestNotFoundException ex)
            {
                throw new OciException("ArtifactSubjectNotFound", OciErrorKind.NotFound, $"The subject {digest} is not in {reference.Registry}/{reference.Repository}.", digest.ToString(), ex);
            }
        }

        if (destination.Transport == LocationTransport.OciLayout && destination.Path is { } path && Directory.Exists(path))
        {
            var source = OciLayoutSource.Open(ImageLocation.Parse("oci:" + path));
            var content = await source.GetManifestAsync(new Descriptor { Digest = digest }, cancellationToken).ConfigureAwait(false);
            return content.ToDescriptor();
        }

        throw new OciException("ArtifactSubjectNotFound", OciErrorKind.NotFound, $"The subject {digest} is not in '{destination.Original}'.", digest.ToString());
    }
}
