using System.Text.Json;
using OciPS.Core.Model;

namespace OciPS.Core.References;

/// <summary>
/// What a partly typed image location could become, for tab completion: the transports, layout and
/// archive paths on disk, the tags a layout holds, and the images already pulled into the cache. Only
/// local reads, quick and never failing: a completion must not stall a shell or throw.
/// </summary>
public static class LocationSuggestions
{
    private static readonly string[] Transports = ["oci:", "oci-archive:", "docker-archive:", "docker-daemon:", "overlay2:", "docker://"];

    /// <param name="text">What has been typed so far.</param>
    /// <param name="resolvePath">Turns a typed path into a full one (the shell's current location).</param>
    /// <param name="cachePath">The blob cache, whose index.json names what was pulled; null to leave it out.</param>
    /// <param name="registries">Registry hosts the user has credentials for, offered as <c>host/</c>.</param>
    public static IReadOnlyList<string> Suggest(string text, Func<string, string> resolvePath, string? cachePath, IEnumerable<string>? registries = null)
    {
        try
        {
            var scheme = text.IndexOf(':', StringComparison.Ordinal);
            if (scheme > 0 && text[..(scheme + 1)] is "oci:" or "oci-archive:" or "docker-archive:" or "overlay2:")
            {
                return ForLocalTransport(text[..(scheme + 1)], text[(scheme + 1)..], resolvePath);
            }

            var suggestions = new List<string>();
            suggestions.AddRange(Transports.Where(t => t.StartsWith(text, StringComparison.OrdinalIgnoreCase)));
            if (cachePath is not null)
            {
                suggestions.AddRange(RefNames(Path.Combine(cachePath, "index.json")).Where(name => name.StartsWith(text, StringComparison.OrdinalIgnoreCase)));
            }

            if (registries is not null)
            {
                // A host is offered until its slash is typed, with or without the docker:// prefix.
                var prefix = text.StartsWith("docker://", StringComparison.Ordinal) ? "docker://" : string.Empty;
                if (!text[prefix.Length..].Contains('/', StringComparison.Ordinal))
                {
                    suggestions.AddRange(registries
                        .Select(host => prefix + host + "/")
                        .Where(candidate => candidate.StartsWith(text, StringComparison.OrdinalIgnoreCase)));
                }
            }

            return suggestions.Distinct(StringComparer.Ordinal).ToArray();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or ArgumentException or NotSupportedException)
        {
            return [];
        }
    }

    /// <summary><c>oci:DIR</c> → layout directories; <c>oci:DIR:</c> → its tags; archives → files.</summary>
    private static string[] ForLocalTransport(string transport, string rest, Func<string, string> resolvePath)
    {
        if (transport == "oci:")
        {
            var colon = rest.LastIndexOf(':');
            if (colon > 0 && Directory.Exists(resolvePath(rest[..colon])))
            {
                var layout = rest[..colon];
                var typed = rest[(colon + 1)..];
                return RefNames(Path.Combine(resolvePath(layout), "index.json"))
                    .Where(tag => tag.StartsWith(typed, StringComparison.Ordinal))
                    .Select(tag => $"oci:{layout}:{tag}")
                    .ToArray();
            }
        }

        var directoryPart = rest.Contains('/', StringComparison.Ordinal) ? rest[..(rest.LastIndexOf('/') + 1)] : string.Empty;
        var full = resolvePath(directoryPart.Length == 0 ? "." : directoryPart);
        if (!Directory.Exists(full))
        {
            return [];
        }

        var prefix = rest[directoryPart.Length..];
        var wantFiles = transport is "oci-archive:" or "docker-archive:";
        var entries = Directory.EnumerateDirectories(full)
            .Select(d => (Name: Path.GetFileName(d), Directory: true))
            .Concat(wantFiles ? Directory.EnumerateFiles(full).Select(f => (Name: Path.GetFileName(f), Directory: false)) : [])
            .Where(e => e.Name.StartsWith(prefix, StringComparison.Ordinal) && (e.Name.Length == 0 || e.Name[0] != '.' || prefix.StartsWith('.')))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .Take(200);
        return entries
            .Select(e => transport + directoryPart + e.Name + (e.Directory && !(transport == "oci:" && IsLayout(Path.Combine(full, e.Name))) ? "/" : string.Empty))
            .ToArray();
    }

    private static bool IsLayout(string directory) =>
        File.Exists(Path.Combine(directory, "index.json")) || File.Exists(Path.Combine(directory, "oci-layout"));

    /// <summary>The <c>org.opencontainers.image.ref.name</c> of each manifest an index.json lists.</summary>
    private static IEnumerable<string> RefNames(string indexPath)
    {
        if (!File.Exists(indexPath))
        {
            return [];
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        if (!document.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        var names = new List<string>();
        foreach (var manifest in manifests.EnumerateArray())
        {
            if (manifest.TryGetProperty("annotations", out var annotations) && annotations.ValueKind == JsonValueKind.Object &&
                annotations.TryGetProperty(AnnotationKeys.RefName, out var name) && name.GetString() is { Length: > 0 } text)
            {
                names.Add(text);
            }
        }

        return names.Order(StringComparer.Ordinal);
    }
}
