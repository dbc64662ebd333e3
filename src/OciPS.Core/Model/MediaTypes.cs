namespace OciPS.Core.Model;

/// <summary>The media types of the OCI image-spec and of Docker's image manifest v2 schema 2.</summary>
public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    public const string OciLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string OciLayerNondistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";
    public const string OciLayoutHeader = "application/vnd.oci.layout.header.v1+json";

    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string DockerSchema1Manifest = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1SignedManifest = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// <summary>The Accept list a client sends to get any manifest or index it understands.</summary>
    public static readonly IReadOnlyList<string> ManifestAccept =
    [
        OciIndex,
        OciManifest,
        DockerManifestList,
        DockerManifest,
    ];

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsSchema1(string? mediaType) => mediaType is DockerSchema1Manifest or DockerSchema1SignedManifest;

    public static bool IsImageConfig(string? mediaType) => mediaType is OciConfig or DockerConfig;

    /// <summary>Whether the media type names a filesystem layer (compressed or not), as opposed to an artifact blob.</summary>
    public static bool IsLayer(string? mediaType) => mediaType is not null && (
        mediaType.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal) ||
        mediaType.StartsWith("application/vnd.docker.image.rootfs.", StringComparison.Ordinal));

    /// <summary>Layers that must not be pushed to other registries unless the user opts in.</summary>
    public static bool IsNondistributable(string? mediaType) => mediaType is not null && (
        mediaType.StartsWith("application/vnd.oci.image.layer.nondistributable.", StringComparison.Ordinal) ||
        mediaType.StartsWith("application/vnd.docker.image.rootfs.foreign.", StringComparison.Ordinal));

    /// <summary>The compression the media type claims. Readers sniff the bytes anyway; this is a hint.</summary>
    public static string? CompressionOf(string? mediaType) => mediaType switch
    {
        null => null,
        _ when mediaType.EndsWith("+gzip", StringComparison.Ordinal) || mediaType.EndsWith(".tar.gzip", StringComparison.Ordinal) => "gzip",
        _ when mediaType.EndsWith("+zstd", StringComparison.Ordinal) || mediaType.EndsWith(".tar.zstd", StringComparison.Ordinal) => "zstd",
        _ when mediaType.EndsWith(".tar", StringComparison.Ordinal) => "none",
        _ => null,
    };
}
