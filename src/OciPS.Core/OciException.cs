namespace OciPS.Core;

/// <summary>
/// What kind of failure an engine exception is, so the cmdlet layer can map it to a PowerShell error
/// category without knowing every exception type.
/// </summary>
public enum OciErrorKind
{
    InvalidArgument,
    NotFound,
    InvalidData,
    NotSupported,
    PermissionDenied,
    Authentication,
    Connection,
    ResourceExists,
    Security,
    LimitsExceeded,
    OperationStopped,
}

/// <summary>
/// The base of every engine exception. <see cref="ErrorId"/> becomes the PowerShell error id
/// (<c>&lt;Noun&gt;&lt;Problem&gt;</c>); <see cref="Target"/> names the offending thing.
/// </summary>
public class OciException : Exception
{
    public OciException(string errorId, OciErrorKind kind, string message, object? target = null, Exception? innerException = null)
        : base(message, innerException)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    public string ErrorId { get; }

    public OciErrorKind Kind { get; }

    public object? Target { get; }
}

/// <summary>A location string that names no transport or file we know.</summary>
public sealed class InvalidLocationException(string location, string reason, Exception? inner = null)
    : OciException("LocationInvalid", OciErrorKind.InvalidArgument, $"'{location}' is not a valid image location: {reason}", location, inner);

/// <summary>The location is well formed, but nothing is there (no such file, no such repository).</summary>
public sealed class LocationNotFoundException(string location, string reason)
    : OciException("LocationNotFound", OciErrorKind.NotFound, $"No image at '{location}': {reason}", location);

/// <summary>A tag, name or digest that the location does not hold, or no name where one is needed.</summary>
public sealed class ManifestNotFoundException : OciException
{
    public ManifestNotFoundException(string location, string reference, IReadOnlyList<string> available)
        : this(location, reference, available, available.Count == 0
            ? $"'{location}' has no manifest named '{reference}'."
            : $"'{location}' has no manifest named '{reference}'. It has: {string.Join(", ", available)}.")
    {
    }

    private ManifestNotFoundException(string location, string? reference, IReadOnlyList<string> available, string message)
        : base("ManifestNotFound", OciErrorKind.NotFound, message, location)
    {
        Reference = reference;
        Available = available;
    }

    /// <summary>The tag, name or digest asked for; null when none was given.</summary>
    public string? Reference { get; }

    public IReadOnlyList<string> Available { get; }

    /// <summary>A location holding no image at all.</summary>
    public static ManifestNotFoundException Empty(string location) =>
        new(location, null, [], $"'{location}' holds no image.");

    /// <summary>A location holding several images, none of which was named.</summary>
    public static ManifestNotFoundException Ambiguous(string location, IReadOnlyList<string> available) =>
        new(location, null, available, $"'{location}' holds {available.Count} images; name one: {string.Join(", ", available)}.");
}

/// <summary>An index with no manifest for the requested platform.</summary>
public sealed class PlatformNotFoundException(string location, string platform, IReadOnlyList<string> available)
    : OciException(
        "PlatformNotFound",
        OciErrorKind.NotFound,
        $"'{location}' has no image for platform {platform}. Platforms available: {(available.Count == 0 ? "(none declared)" : string.Join(", ", available))}.",
        location)
{
    public string Platform { get; } = platform;

    public IReadOnlyList<string> Available { get; } = available;
}

/// <summary>A blob that the source does not have.</summary>
public sealed class BlobNotFoundException(string location, Model.Descriptor descriptor)
    : OciException("BlobNotFound", OciErrorKind.NotFound, $"'{location}' does not hold the blob {descriptor.Digest} ({descriptor.MediaType}).", descriptor.Digest.ToString())
{
    public Model.Descriptor Descriptor { get; } = descriptor;
}

/// <summary>Content whose digest or size is not what its descriptor says. Never used, always an error.</summary>
public sealed class DigestMismatchException : OciException
{
    public DigestMismatchException(string what, Model.Digest expected, Model.Digest actual)
        : base("DigestMismatch", OciErrorKind.InvalidData, $"{what}: expected digest {expected}, but the content hashes to {actual}.", expected.ToString())
    {
        Expected = expected;
        Actual = actual;
    }

    public DigestMismatchException(string what, Model.Digest expected, long expectedSize, long actualSize)
        : base("DigestMismatch", OciErrorKind.InvalidData, actualSize > expectedSize
            ? $"{what}: expected {expectedSize} bytes for {expected}, but the content is longer."
            : $"{what}: expected {expectedSize} bytes for {expected}, but the content ended after {actualSize}.", expected.ToString())
    {
        Expected = expected;
    }

    public Model.Digest Expected { get; }

    public Model.Digest? Actual { get; }
}

/// <summary>An archive, layer, manifest or config that cannot be read as what it claims to be.</summary>
public sealed class CorruptContentException(string errorId, string message, object? target = null, Exception? inner = null)
    : OciException(errorId, OciErrorKind.InvalidData, message, target, inner);

/// <summary>Something valid that this engine does not handle (schema 1 manifests, unknown compression…).</summary>
public sealed class UnsupportedContentException(string errorId, string message, object? target = null)
    : OciException(errorId, OciErrorKind.NotSupported, message, target);

/// <summary>The ext4 image is too small for what it has to hold (a -Size below the content, or too few inodes).</summary>
public sealed class Ext4SpaceException(string path, string message)
    : OciException("Ext4SizeTooSmall", OciErrorKind.LimitsExceeded, message, path);
