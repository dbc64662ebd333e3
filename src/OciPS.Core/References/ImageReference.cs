using System.Text.RegularExpressions;
using OciPS.Core.Model;

namespace OciPS.Core.References;

/// <summary>
/// A registry image reference (<c>[registry/]repository[:tag][@digest]</c>) normalised as Docker does:
/// <c>nginx</c> is <c>docker.io/library/nginx:latest</c>.
/// </summary>
public sealed partial class ImageReference : IEquatable<ImageReference>
{
    public const string DockerHub = "docker.io";
    public const string DockerHubApiHost = "registry-1.docker.io";
    public const string DefaultTag = "latest";
    private const int MaxNameLength = 255;

    private ImageReference(string registry, string repository, string? tag, Digest? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The registry host (and port) as users name it: <c>docker.io</c>, <c>ghcr.io</c>, <c>localhost:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>The repository path inside the registry: <c>library/nginx</c>.</summary>
    public string Repository { get; }

    public string? Tag { get; }

    public Digest? Digest { get; }

    /// <summary>The host the distribution API is served from (Docker Hub's API lives on <c>registry-1.docker.io</c>).</summary>
    public string ApiHost => Registry == DockerHub ? DockerHubApiHost : Registry;

    /// <summary><c>registry/repository</c>.</summary>
    public string Name => Registry + "/" + Repository;

    /// <summary>The tag or digest to ask the registry for: the digest when both are given, as docker does.</summary>
    public string Identifier => Digest?.ToString() ?? Tag ?? DefaultTag;

    /// <summary>Whether the registry is on this machine; docker talks plain HTTP to such registries.</summary>
    public bool IsLoopback
    {
        get
        {
            var host = HostWithoutPort(Registry);
            return host is "localhost" or "127.0.0.1" or "::1" or "[::1]" ||
                host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase) ||
                host.StartsWith("127.", StringComparison.Ordinal);
        }
    }

    /// <summary>The short form Docker shows (<c>nginx:latest</c>, <c>ghcr.io/o/r:1</c>).</summary>
    public string FamiliarName
    {
        get
        {
            var name = Registry == DockerHub
                ? (Repository.StartsWith("library/", StringComparison.Ordinal) && Repository.IndexOf('/', 8) < 0 ? Repository[8..] : Repository)
                : Name;
            return Suffix(name);
        }
    }

    public static ImageReference Parse(string text)
    {
        if (!TryParse(text, out var reference, out var reason))
        {
            throw new FormatException($"'{text}' is not a valid image reference: {reason}");
        }

        return reference;
    }

    public static bool TryParse(string? text, out ImageReference reference, out string reason)
    {
        reference = null!;
        if (string.IsNullOrWhiteSpace(text))
        {
            reason = "it is empty";
            return false;
        }

        var remainder = text.Trim();
        Digest? digest = null;
        var at = remainder.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            if (!Model.Digest.TryParse(remainder[(at + 1)..], out var parsedDigest, out var digestReason))
            {
                reason = "bad digest: " + digestReason;
                return false;
            }

            digest = parsedDigest;
            remainder = remainder[..at];
        }

        string? tag = null;
        var lastSlash = remainder.LastIndexOf('/');
        var colon = remainder.LastIndexOf(':');
        if (colon > lastSlash)
        {
            tag = remainder[(colon + 1)..];
            remainder = remainder[..colon];
            if (!TagPattern().IsMatch(tag))
            {
                reason = $"'{tag}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')";
                return false;
            }
        }

        if (remainder.Length == 0)
        {
            reason = "the repository name is empty";
            return false;
        }

        if (AnonymousIdPattern().IsMatch(remainder) && tag is null && digest is null)
        {
            reason = "a 64-character hex string is an image id, not a repository name";
            return false;
        }

        string registry;
        string repository;
        var firstSlash = remainder.IndexOf('/');
        var head = firstSlash < 0 ? string.Empty : remainder[..firstSlash];
        if (firstSlash < 0 || (!head.Contains('.') && !head.Contains(':') && head != "localhost" && !head.Any(char.IsAsciiLetterUpper)))
        {
            registry = DockerHub;
            repository = remainder;
        }
        else
        {
            registry = head;
            repository = remainder[(firstSlash + 1)..];
            if (!DomainPattern().IsMatch(registry))
            {
                reason = $"'{registry}' is not a valid registry host";
                return false;
            }
        }

        if (registry is "index.docker.io" or DockerHubApiHost)
        {
            registry = DockerHub;
        }

        if (registry == DockerHub && !repository.Contains('/'))
        {
            repository = "library/" + repository;
        }

        if (repository.Any(char.IsAsciiLetterUpper))
        {
            reason = $"the repository name '{repository}' must be lower-case";
            return false;
        }

        if (!repository.Split('/').All(component => PathComponentPattern().IsMatch(component)))
        {
            reason = $"'{repository}' is not a valid repository name (lower-case letters, digits and separators '.', '_', '__', '-' between them)";
            return false;
        }

        if (registry.Length + 1 + repository.Length > MaxNameLength)
        {
            reason = $"the name is longer than {MaxNameLength} characters";
            return false;
        }

        if (tag is null && digest is null)
        {
            tag = DefaultTag;
        }

        reference = new ImageReference(registry, repository, tag, digest);
        reason = string.Empty;
        return true;
    }

    /// <summary>The same repository at another tag (and no digest).</summary>
    public ImageReference WithTag(string tag) =>
        TagPattern().IsMatch(tag) ? new(Registry, Repository, tag, null) : throw new FormatException($"'{tag}' is not a valid tag.");

    /// <summary>The same repository pinned to a digest (the tag, if any, kept for display).</summary>
    public ImageReference WithDigest(Digest digest) => new(Registry, Repository, Tag, digest);

    /// <summary>Another repository of the same registry (for cross-repository mounts).</summary>
    public ImageReference InRepository(string repository) => new(Registry, repository, Tag, Digest);

    public override string ToString() => Suffix(Name);

    public bool Equals(ImageReference? other) => other is not null && ToString() == other.ToString();

    public override bool Equals(object? obj) => obj is ImageReference other && Equals(other);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    /// <summary>Whether <paramref name="text"/> is a syntactically valid tag.</summary>
    public static bool IsValidTag(string text) => TagPattern().IsMatch(text);

    private string Suffix(string name)
    {
        var text = name;
        if (Tag is not null)
        {
            text += ":" + Tag;
        }

        if (Digest is not null)
        {
            text += "@" + Digest;
        }

        return text;
    }

    private static string HostWithoutPort(string registry)
    {
        if (registry.StartsWith('['))
        {
            var end = registry.IndexOf(']', StringComparison.Ordinal);
            return end > 0 ? registry[..(end + 1)] : registry;
        }

        var colon = registry.LastIndexOf(':');
        return colon > 0 ? registry[..colon] : registry;
    }

    [GeneratedRegex(@"^[\w][\w.-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();

    [GeneratedRegex("^[a-f0-9]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex AnonymousIdPattern();

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex PathComponentPattern();

    [GeneratedRegex(@"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DomainPattern();
}
