using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
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
        var current = CurrentDirectory();
        string Resolve(string path) => System.IO.Path.GetFullPath(System.IO.Path.Combine(current, path.StartsWith('~') ? System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile) + path[1..] : path));
        return LocationSuggestions.Suggest(typed, Resolve, BlobCache.DefaultPath)
            .Select(s => new CompletionResult(Quote(s), s, CompletionResultType.ParameterValue, s));
    }

    /// <summary>The shell's current file system location (completers run inside a pipeline, so ask through a nested one).</summary>
    private static string CurrentDirectory()
    {
        using var shell = PowerShell.Create(RunspaceMode.CurrentRunspace);
        var location = shell.AddScript("$ExecutionContext.SessionState.Path.CurrentFileSystemLocation.ProviderPath").Invoke<string>().FirstOrDefault();
        return string.IsNullOrEmpty(location) ? System.Environment.CurrentDirectory : location;
    }

    private static string Quote(string text) => text.IndexOfAny([' ', '\'', '$', '`', ';', '(', ')', '{', '}']) >= 0 ? "'" + text.Replace("'", "''", System.StringComparison.Ordinal) + "'" : text;
}
