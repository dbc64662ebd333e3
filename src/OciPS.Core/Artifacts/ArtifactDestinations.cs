using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Artifacts;

/// <summary>
/// Opens where artifacts are published. Only OCI layouts until the registry client lands; then
/// registry locations open its <see cref="IImageDestination"/> here and nothing else changes.
/// </summary>
public static class ArtifactDestinations
{
    public static IImageDestination Open(ImageLocation location) => location.Transport switch
    {
        LocationTransport.OciLayout => LayoutDestination.Open(location),
        _ => throw new UnsupportedContentException(
            "ArtifactDestinationUnsupported",
            $"'{location.Original}' is a {location.Transport} location; this version of OciPS publishes artifacts to oci: layouts only (serve one with Start-OciRegistryProxy, or copy it with skopeo).",
            location.Original),
    };

    /// <summary>The tag a destination location names, if any.</summary>
    public static string? TagOf(ImageLocation location) => location.Tag ?? location.Reference?.Tag;

    /// <summary>Finds a manifest by digest in the destination's repository (for a digest-only <c>subject</c>).</summary>
    public static async Task<Descriptor> ResolveDigestAsync(ImageLocation destination, Digest digest, CancellationToken cancellationToken)
    {
        if (destination.Transport == LocationTransport.OciLayout && destination.Path is { } path && Directory.Exists(path))
        {
            var source = OciLayoutSource.Open(ImageLocation.Parse("oci:" + path));
            var content = await source.GetManifestAsync(new Descriptor { Digest = digest }, cancellationToken).ConfigureAwait(false);
            return content.ToDescriptor();
        }

        throw new OciException("ArtifactSubjectNotFound", OciErrorKind.NotFound, $"The subject {digest} is not in '{destination.Original}'.", digest.ToString());
    }
}
