using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Threading;
using System.Threading.Tasks;
using OciPS.Core.Content;
using OciPS.Core.Registry;

namespace OciPS.Infrastructure;

/// <summary>
/// Completes -Platform: with an image location already typed (-Image), the platforms that image is
/// published for; otherwise the platforms images are commonly built for.
/// </summary>
public sealed class PlatformCompleter : IArgumentCompleter
{
    internal static readonly string[] CommonPlatforms =
    [
        "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/386",
        "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/mips64le", "linux/amd64/v2", "linux/amd64/v3",
        "windows/amd64", "windows/arm64",
    ];

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var bound = fakeBoundParameters["Image"] ?? fakeBoundParameters["Source"];
        if (bound is string or object[] &&
            LanguagePrimitives.ConvertTo<string[]>(bound) is [{ Length: > 0 } location, ..])
        {
            var current = CompletionText.CurrentDirectory();
            var offered = CompletionText.WithinDeadline(cancellationToken => RemoteSuggestions.SuggestPlatformsAsync(
                location, path => System.IO.Path.GetFullPath(path, current), ImageSourceOptions.Default, cancellationToken));
            if (offered.Count > 0)
            {
                return CompletionText.Match(offered, wordToComplete);
            }
        }

        return CompletionText.Match(CommonPlatforms, wordToComplete);
    }
}

/// <summary>Completes a registry name with the registries the user has credentials for (docker/podman auth files, this session).</summary>
public sealed class RegistryHostCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionText.Match(CredentialStore.Default.KnownRegistries(), wordToComplete);
}

/// <summary>Shared matching for completers: quotes stripped, prefix or wildcard match, case-insensitive.</summary>
internal static class CompletionText
{
    public static IEnumerable<CompletionResult> Match(IEnumerable<string> candidates, string? wordToComplete)
    {
        var word = (wordToComplete ?? string.Empty).Trim('\'', '"');
        var pattern = WildcardPattern.Get(word.Contains('*') || word.Contains('?') ? word : word + "*", WildcardOptions.IgnoreCase);
        return candidates
            .Where(candidate => pattern.IsMatch(candidate))
            .Select(candidate => new CompletionResult(candidate, candidate, CompletionResultType.ParameterValue, candidate));
    }

    /// <summary>How long a completion may wait on a registry before it offers nothing from it.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Runs an engine lookup under <see cref="Deadline"/>. Argument completers are a synchronous
    /// PowerShell API, so this is the one place completion waits on async work; the lookup itself
    /// swallows its failures and its cancellation, so a slow registry costs at most the deadline.
    /// </summary>
    public static IReadOnlyList<string> WithinDeadline(Func<CancellationToken, Task<IReadOnlyList<string>>> lookup)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        return Task.Run(() => lookup(deadline.Token), deadline.Token).ContinueWith(
            task => task.IsCompletedSuccessfully ? task.Result : [],
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).GetAwaiter().GetResult();
    }

    /// <summary>The shell's current file system location (completers run inside a pipeline, so ask through a nested one).</summary>
    public static string CurrentDirectory()
    {
        using var shell = PowerShell.Create(RunspaceMode.CurrentRunspace);
        var location = shell.AddScript("$ExecutionContext.SessionState.Path.CurrentFileSystemLocation.ProviderPath").Invoke<string>().FirstOrDefault();
        return string.IsNullOrEmpty(location) ? Environment.CurrentDirectory : location;
    }
}
