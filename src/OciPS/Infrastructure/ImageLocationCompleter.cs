using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using OciPS.Core.Content;
using OciPS.Core.References;
using OciPS.Core.Registry;

namespace OciPS.Infrastructure;

/// <summary>
/// Completes image locations: transports, layout directories and their tags, archive files, and the
/// images already in the cache. Paths resolve against the shell's current location.
/// </summary>
public sealed class ImageLocationCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var typed = (wordToComplete ?? string.Empty).Trim('\'', '"');
        var current = CompletionText.CurrentDirectory();
        string Resolve(string path) => System.IO.Path.GetFullPath(System.IO.Path.Combine(current, path.StartsWith('~') ? System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile) + path[1..] : path));
        var suggestions = LocationSuggestions.Suggest(typed, Resolve, BlobCache.DefaultPath, CredentialStore.Default.KnownRegistries()).ToList();
        if (suggestions.Count == 0)
        {
            // Only a registry reference typed up to its tag's colon gets here with nothing local to offer.
            suggestions.AddRange(CompletionText.WithinDeadline(cancellationToken =>
                RemoteSuggestions.SuggestTagsAsync(typed, RegistryOptions.Default, MaxTags, cancellationToken)));
        }

        return suggestions.Select(s => new CompletionResult(Quote(s), s, CompletionResultType.ParameterValue, s));
    }

    /// <summary>Enough tags to pick from; a repository with thousands is better filtered by typing more.</summary>
    private const int MaxTags = 200;

    private static string Quote(string text) => text.IndexOfAny([' ', '\'', '$', '`', ';', '(', ')', '{', '}']) >= 0 ? "'" + text.Replace("'", "''", System.StringComparison.Ordinal) + "'" : text;
}
