using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;

namespace OciPS.Core.Content;

/// <summary>Settings a source may need: how to reach a registry, where the cache is, how many downloads at once.</summary>
public sealed record ImageSourceOptions
{
    /// <summary>The engine socket for docker-daemon: locations (<c>unix:///path</c>); by default DOCKER_HOST or the usual sockets.</summary>
    public string? DockerHost { get; init; }

    /// <summary>For docker-daemon: locations, look for Podman's socket before Docker's.</summary>
    public bool PreferPodman { get; init; }

    public static ImageSourceOptions Default { get; } = new();

    /// <summary>Credentials, TLS, proxy and retry settings for registry locations.</summary>
    public RegistryOptions Registry { get; init; } = RegistryOptions.Default;

    /// <summary>The blob cache directory; null for <see cref="BlobCache.DefaultPath"/>.</summary>
    public string? CachePath { get; init; }

    /// <summary>How many blobs are downloaded at once.</summary>
    public int ThrottleLimit { get; init; } = 4;

    /// <summary>Receives the bytes transferred for each blob downloaded.</summary>
    public IProgress<BlobTransfer>? Progress { get; init; }
}

/// <summary>Progress of one blob transfer: how much of it has been moved so far.</summary>
public sealed record BlobTransfer(Descriptor Blob, long Transferred, bool Completed);

/// <summary>Opens the source for a location: the one place that knows which class reads which transport.</summary>
public static class ImageSources
{
    /// <summary>Parses a location string and opens its source.</summary>
    public static IImageSource Open(string location, Func<string, string>? resolvePath = null, ImageSourceOptions? options = null) =>
        Open(ImageLocation.Parse(location, resolvePath), options);

    public static IImageSource Open(ImageLocation location, ImageSourceOptions? options = null)
    {
        return location.Transport switch
        {
            LocationTransport.OciLayout or LocationTransport.OciArchive => OciLayoutSource.Open(location),
            LocationTransport.DockerArchive => DockerArchiveSource.Open(location),
            LocationTransport.Overlay2 => Overlay2Source.Open(location),
            LocationTransport.Registry => new RegistrySource(location, options ?? ImageSourceOptions.Default),
            LocationTransport.DockerDaemon => DockerDaemonSource.Open(location, options?.DockerHost, options?.PreferPodman ?? false),
            _ => throw new UnsupportedContentException(
                "LocationTransportUnsupported",
                $"'{location.Original}' is a {location.Transport} location, which this version of OciPS cannot read yet; use a registry reference, oci:, oci-archive: or docker-archive: locations.",
                location.Original),
        };
    }
}
