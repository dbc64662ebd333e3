using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace OciPS.Infrastructure;

/// <summary>Completes -Platform with the platforms images are commonly built for.</summary>
public sealed class PlatformCompleter : IArgumentCompleter
{
    internal static readonly string[] CommonPlatforms =
    [
        "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/386",
        "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/mips64le", "linux/amd64/v2", "linux/amd64/v3",
        "windows/amd64", "windows/arm64",
    ];

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionText.Match(CommonPlatforms, wordToComplete);
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
}
