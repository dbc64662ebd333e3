using System.Text.Json;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;

namespace OciPS.Core.Content;

/// <summary>
/// Completion suggestions that need to read an image or a registry (tags, platforms), as opposed to
/// <see cref="LocationSuggestions"/>' local reads. They never throw: what cannot be read in the time
/// the caller allows gives no suggestions.
/// </summary>
public static class RemoteSuggestions
{
    /// <summary>
    /// The tags of a registry repository when <paramref name="text"/> is a registry reference up to a
    /// colon (<c>registry.example/team/app:</c>, <c>docker://localhost:5000/app:1.</c>), each as the
    /// whole location. Only references that name their registry are looked up (a host with a dot or a
    /// port, or localhost), so a half-typed short name never sends a shell to Docker Hub. Failures and
    /// slow registries give no suggestions: the caller bounds the wait with <paramref name="cancellationToken"/>.
    /// </summary>
    public static async Task<IReadOnlyList<string>> SuggestTagsAsync(string text, RegistryOptions options, int limit, CancellationToken cancellationToken)
    {
        var scheme = text.StartsWith("docker://", StringComparison.Ordinal) ? "docker://" : string.Empty;
        var rest = text[scheme.Length..];
        var slash = rest.LastIndexOf('/');
        var colon = slash < 0 ? -1 : rest.IndexOf(':', slash);
        var firstSlash = rest.IndexOf('/');
        if (colon < 0 || firstSlash <= 0 || !NamesRegistry(rest[..firstSlash]))
        {
            return [];
        }

        var typedTag = rest[(colon + 1)..];
        try
        {
            var reference = ImageReference.Parse(rest[..colon]);
            var client = new RegistryClient(reference, options);
            var tags = new List<string>();
            await foreach (var tag in client.ListTagsAsync(null, cancellationToken).ConfigureAwait(false))
            {
                if (tag.StartsWith(typedTag, StringComparison.Ordinal))
                {
                    tags.Add(scheme + rest[..(colon + 1)] + tag);
                    if (tags.Count >= limit)
                    {
                        break;
                    }
                }
            }

            return tags;
        }
        catch (Exception ex) when (ex is OciException or HttpRequestException or OperationCanceledException or IOException or FormatException or ArgumentException)
        {
            return [];
        }
    }

    /// <summary>
    /// The platforms the image at <paramref name="location"/> is published for (an index's entries; a
    /// single image's own platform), for completing <c>-Platform</c>. Empty when it cannot be read in time.
    /// </summary>
    public static async Task<IReadOnlyList<string>> SuggestPlatformsAsync(string location, Func<string, string> resolvePath, ImageSourceOptions options, CancellationToken cancellationToken)
    {
        try
        {
            var source = ImageSources.Open(location, resolvePath, options);
            var loaded = await ImageLoader.LoadAsync(source, null, cancellationToken).ConfigureAwait(false);
            return loaded switch
            {
                OciIndex index => index.Platforms,
                OciImage { Platform: { Os.Length: > 0 } platform } => [platform.ToString()],
                _ => [],
            };
        }
        catch (Exception ex) when (ex is OciException or HttpRequestException or OperationCanceledException or IOException or UnauthorizedAccessException or JsonException or FormatException or ArgumentException)
        {
            return [];
        }
    }

    /// <summary>Whether a reference's first segment names a registry the way docker decides it: a dot, a port, or localhost.</summary>
    private static bool NamesRegistry(string segment) =>
        segment.Contains('.', StringComparison.Ordinal) || segment.Contains(':', StringComparison.Ordinal) || segment == "localhost";
}
