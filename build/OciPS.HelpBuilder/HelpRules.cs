namespace OciPS.HelpBuilder;

/// <summary>What a cmdlet's help page must have: the build fails otherwise.</summary>
internal static class HelpRules
{
    public const int MinimumExamples = 3;

    public static IEnumerable<string> Check(CmdletInfo cmdlet, HelpPage page, string file)
    {
        if (!string.Equals(page.Name, cmdlet.Name, StringComparison.Ordinal))
        {
            yield return $"{file}: the title is '{page.Name}', expected '{cmdlet.Name}'.";
        }

        if (string.IsNullOrWhiteSpace(page.Synopsis))
        {
            yield return $"{file}: ## SYNOPSIS is empty.";
        }

        if (page.Description.Count == 0)
        {
            yield return $"{file}: ## DESCRIPTION is empty.";
        }

        var examples = page.Examples.Where(e => e.Code.Trim().Length > 0).ToArray();
        if (examples.Length < MinimumExamples)
        {
            yield return $"{file}: {examples.Length} examples with a powershell code block; at least {MinimumExamples} are needed.";
        }

        var names = cmdlet.Parameters.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var name in names.Order(StringComparer.Ordinal))
        {
            if (!page.Parameters.TryGetValue(name, out var description) || description.Count == 0)
            {
                yield return $"{file}: the parameter -{name} has no description under ## PARAMETERS.";
            }
        }

        foreach (var documented in page.Parameters.Keys.Where(k => !names.Contains(k)))
        {
            yield return $"{file}: -{documented} is documented but {cmdlet.Name} has no such parameter.";
        }

        if (page.Outputs.Count == 0)
        {
            yield return $"{file}: ## OUTPUTS names no type.";
        }
    }
}
