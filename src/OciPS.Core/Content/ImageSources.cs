using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>Settings a source may need: how to reach a registry, where the cache is.</summary>
public sealed record ImageSourceOptions
{
    public static ImageSourceOptions Default { get; } = new();
}

/// <summary>Opens the source for a location: the one place that knows which class reads which transport.</summary>
public static class ImageSources
{
    /// <summary>Parses a location string and opens its source.</summary>
    public static IImageSource Open(string location, Func<string, string>? resolvePath = null, ImageSourceOptions? options = null) =>
        Open(ImageLocation.Parse(location, resolvePath), options);

    public static IImageSource Open(ImageLocation location, ImageSourceOptions? options = null)
    {
        _ = options;
        return location.Transport switch
        {
            LocationTransport.OciLayout or LocationTransport.OciArchive => OciLayoutSource.Open(location),
            LocationTransport.DockerArchive => DockerArchiveSource.Open(location),
            LocationTransport.Overlay2 => Overlay2Source.Open(location),
            _ => throw new UnsupportedContentException(
                "LocationTransportUnsupported",
                $"'{location.Original}' is a {location.Transport} location, which this version of OciPS cannot read yet; use oci:, oci-archive: or docker-archive: locations.",
                location.Original),
        };
    }
}
