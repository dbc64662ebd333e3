using System.Globalization;
using System.Runtime.InteropServices;
using OciPS.Core.Model;

namespace OciPS.Core.References;

/// <summary>The kinds of place an image can be read from or written to (skopeo's transport names).</summary>
public enum LocationTransport
{
    /// <summary>A registry: <c>nginx:1.27</c>, <c>docker://host:5000/r:t</c>.</summary>
    Registry,

    /// <summary>An OCI image layout directory: <c>oci:PATH[:TAG]</c>.</summary>
    OciLayout,

    /// <summary>A tarred OCI image layout: <c>oci-archive:FILE[:TAG]</c>.</summary>
    OciArchive,

    /// <summary>A <c>docker save</c> tarball: <c>docker-archive:FILE[:NAME:TAG]</c>.</summary>
    DockerArchive,

    /// <summary>A local Docker or Podman engine: <c>docker-daemon:NAME:TAG</c>.</summary>
    DockerDaemon,

    /// <summary>Docker's overlay2 layer store: <c>overlay2:PATH</c>.</summary>
    Overlay2,
}

/// <summary>
/// Where an image is: a parsed location string. Parsing is pure except for bare paths, which are
/// detected by looking at what is on disk (layout directory, archive file, overlay2 store).
/// </summary>
public sealed class ImageLocation
{
    private ImageLocation(string original, LocationTransport transport)
    {
        Original = original;
        Transport = transport;
    }

    /// <summary>The text the user gave.</summary>
    public string Original { get; }

    public LocationTransport Transport { get; }

    /// <summary>The full path of the layout, archive or store (file transports).</summary>
    public string? Path { get; private init; }

    /// <summary>The tag (ref name) inside an OCI layout or archive.</summary>
    public string? Tag { get; private init; }

    /// <summary>A manifest digest inside an OCI layout or archive.</summary>
    public Digest? Digest { get; private init; }

    /// <summary>The manifest's position (<c>:@N</c>) inside a layout or archive.</summary>
    public int? Index { get; private init; }

    /// <summary>The image reference (registry, daemon, or the name:tag inside a docker archive).</summary>
    public ImageReference? Reference { get; private init; }

    /// <summary>Whether the location is a file or directory on this machine.</summary>
    public bool IsLocal => Path is not null;

    /// <summary>Parses a location. Relative paths are made absolute with <paramref name="resolvePath"/> (the caller's current directory).</summary>
    public static ImageLocation Parse(string text, Func<string, string>? resolvePath = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            throw new InvalidLocationException(text, "it is empty");
        }

        resolvePath ??= System.IO.Path.GetFullPath;
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        var scheme = colon > 0 ? trimmed[..colon] : string.Empty;
        var rest = colon > 0 ? trimmed[(colon + 1)..] : string.Empty;

        switch (scheme)
        {
            case "docker":
                return FromRegistry(text, rest.StartsWith("//", StringComparison.Ordinal)
                    ? rest[2..]
                    : throw new InvalidLocationException(text, "registry locations are written docker://host/repository:tag"));
            case "oci":
            case "oci-archive":
                return ParseLayout(text, scheme == "oci" ? LocationTransport.OciLayout : LocationTransport.OciArchive, rest, resolvePath);
            case "docker-archive":
                return ParseDockerArchive(text, rest, resolvePath);
            case "docker-daemon":
                return new ImageLocation(text, LocationTransport.DockerDaemon) { Reference = ParseReference(text, rest) };
            case "overlay2":
                if (rest.Length == 0)
                {
                    throw new InvalidLocationException(text, "overlay2: needs the path of the layer store or of a layer chain");
                }

                return new ImageLocation(text, LocationTransport.Overlay2) { Path = resolvePath(ExpandHome(rest)) };
        }

        if (LooksLikePath(trimmed) || LooksLikeArchiveName(trimmed) || PathExists(trimmed, resolvePath))
        {
            var full = resolvePath(ExpandHome(trimmed));
            var detected = Detect(full);
            if (detected is not null)
            {
                return new ImageLocation(text, detected.Value) { Path = full };
            }

            if (LooksLikePath(trimmed) || LooksLikeArchiveName(trimmed) || !ImageReference.TryParse(trimmed, out _, out _))
            {
                throw File.Exists(full) || Directory.Exists(full)
                    ? new InvalidLocationException(text, $"'{full}' is neither an OCI layout, an OCI or docker archive, nor a Docker overlay2 store")
                    : new LocationNotFoundException(text, $"'{full}' does not exist");
            }
        }

        return FromRegistry(text, trimmed);
    }

    /// <summary>The canonical form of the location, with absolute paths: <c>oci:/abs/dir:tag</c>.</summary>
    public override string ToString() => Transport switch
    {
        LocationTransport.Registry => "docker://" + Reference,
        LocationTransport.OciLayout => "oci:" + Path + LayoutSuffix(),
        LocationTransport.OciArchive => "oci-archive:" + Path + LayoutSuffix(),
        LocationTransport.DockerArchive => "docker-archive:" + Path + (Index is not null
            ? ":@" + Index.Value.ToString(CultureInfo.InvariantCulture)
            : Reference is not null ? ":" + Reference.FamiliarName : string.Empty),
        LocationTransport.DockerDaemon => "docker-daemon:" + Reference?.FamiliarName,
        LocationTransport.Overlay2 => "overlay2:" + Path,
        _ => Original,
    };

    /// <summary>
    /// Detects what a local path holds: a directory with <c>oci-layout</c> or <c>index.json</c> is a
    /// layout; a directory with Docker's <c>image/overlay2</c> or <c>layerdb</c> is an overlay2 store;
    /// a tar file with <c>index.json</c> is an OCI archive, with only <c>manifest.json</c> a docker archive.
    /// </summary>
    public static LocationTransport? Detect(string fullPath)
    {
        if (Directory.Exists(fullPath))
        {
            if (File.Exists(System.IO.Path.Combine(fullPath, "oci-layout")) || File.Exists(System.IO.Path.Combine(fullPath, "index.json")))
            {
                return LocationTransport.OciLayout;
            }

            if (Directory.Exists(System.IO.Path.Combine(fullPath, "image", "overlay2")) ||
                Directory.Exists(System.IO.Path.Combine(fullPath, "layerdb")) ||
                File.Exists(System.IO.Path.Combine(fullPath, "cache-id")) ||
                Directory.Exists(System.IO.Path.Combine(fullPath, "diff")))
            {
                return LocationTransport.Overlay2;
            }

            return null;
        }

        if (File.Exists(fullPath))
        {
            return Content.ArchiveIndex.DetectArchiveKind(fullPath);
        }

        return null;
    }

    private static ImageLocation FromRegistry(string original, string reference) =>
        new(original, LocationTransport.Registry) { Reference = ParseReference(original, reference) };

    private static ImageReference ParseReference(string original, string text)
    {
        if (!ImageReference.TryParse(text, out var reference, out var reason))
        {
            throw new InvalidLocationException(original, reason);
        }

        return reference;
    }

    private static ImageLocation ParseLayout(string original, LocationTransport transport, string rest, Func<string, string> resolvePath)
    {
        var (path, reference) = SplitPathAndReference(rest);
        if (path.Length == 0)
        {
            throw new InvalidLocationException(original, $"{(transport == LocationTransport.OciLayout ? "oci:" : "oci-archive:")} needs a path");
        }

        var location = new ImageLocation(original, transport) { Path = resolvePath(ExpandHome(path)) };
        if (reference is null || reference.Length == 0)
        {
            return location;
        }

        if (reference.StartsWith('@'))
        {
            var selector = reference[1..];
            if (int.TryParse(selector, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                return new ImageLocation(original, transport) { Path = location.Path, Index = index };
            }

            if (Model.Digest.TryParse(selector, out var digest, out var reason))
            {
                return new ImageLocation(original, transport) { Path = location.Path, Digest = digest };
            }

            throw new InvalidLocationException(original, $"'@{selector}' is neither a manifest index nor a digest: {reason}");
        }

        if (!IsValidRefName(reference))
        {
            throw new InvalidLocationException(original, $"'{reference}' is not a valid tag for an OCI layout");
        }

        return new ImageLocation(original, transport) { Path = location.Path, Tag = reference };
    }

    private static ImageLocation ParseDockerArchive(string original, string rest, Func<string, string> resolvePath)
    {
        var (path, reference) = SplitPathAndReference(rest);
        if (path.Length == 0)
        {
            throw new InvalidLocationException(original, "docker-archive: needs a file path");
        }

        var full = resolvePath(ExpandHome(path));
        if (reference is null || reference.Length == 0)
        {
            return new ImageLocation(original, LocationTransport.DockerArchive) { Path = full };
        }

        if (reference.StartsWith('@'))
        {
            return int.TryParse(reference.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                ? new ImageLocation(original, LocationTransport.DockerArchive) { Path = full, Index = index }
                : throw new InvalidLocationException(original, $"'{reference}' is not a manifest index (@0, @1…)");
        }

        return new ImageLocation(original, LocationTransport.DockerArchive) { Path = full, Reference = ParseReference(original, reference) };
    }

    /// <summary>
    /// Splits <c>PATH[:REF]</c> at the first colon as skopeo does, skipping a Windows drive letter.
    /// </summary>
    private static (string Path, string? Reference) SplitPathAndReference(string rest)
    {
        var start = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) && rest.Length >= 2 && char.IsAsciiLetter(rest[0]) && rest[1] == ':' ? 2 : 0;
        var colon = rest.IndexOf(':', start);
        return colon < 0 ? (rest, null) : (rest[..colon], rest[(colon + 1)..]);
    }

    private string LayoutSuffix() =>
        Tag is not null ? ":" + Tag
        : Digest is not null ? ":@" + Digest
        : Index is not null ? ":@" + Index.Value.ToString(CultureInfo.InvariantCulture)
        : string.Empty;

    /// <summary>The OCI ref.name grammar: components of alphanumerics joined by <c>-._:@+</c> or <c>--</c>, separated by '/'.</summary>
    private static bool IsValidRefName(string reference) =>
        reference.Split('/').All(component =>
            component.Length > 0 &&
            char.IsAsciiLetterOrDigit(component[0]) &&
            char.IsAsciiLetterOrDigit(component[^1]) &&
            component.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or ':' or '@' or '+'));

    private static bool LooksLikePath(string text) =>
        text.StartsWith('/') || text.StartsWith("./", StringComparison.Ordinal) || text.StartsWith("../", StringComparison.Ordinal) ||
        text.StartsWith('~') || text.StartsWith('.') || text.Contains('\\') ||
        (text.Length >= 3 && char.IsAsciiLetter(text[0]) && text[1] == ':' && (text[2] == '\\' || text[2] == '/'));

    private static bool LooksLikeArchiveName(string text) =>
        text.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) || text.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) ||
        text.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) || text.EndsWith(".oci", StringComparison.OrdinalIgnoreCase);

    private static bool PathExists(string text, Func<string, string> resolvePath)
    {
        try
        {
            var full = resolvePath(text);
            return File.Exists(full) || Directory.Exists(full);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or IOException)
        {
            return false;
        }
    }

    private static string ExpandHome(string path) =>
        path == "~" || path.StartsWith("~/", StringComparison.Ordinal)
            ? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path.Length > 2 ? path[2..] : string.Empty)
            : path;
}
