using System.Text.RegularExpressions;

namespace OciPS.Core.Build.Dockerfile;

/// <summary>
/// How each instruction's arguments split before substitution, as Docker's parser does it: name=value
/// lists (ENV, LABEL, ARG) split at unquoted whitespace with quotes kept for the expansion step, the
/// legacy <c>ENV key value</c> form, whitespace-delimited lists (COPY, EXPOSE, FROM), and flags.
/// </summary>
public static partial class InstructionSyntax
{
    private static readonly Dictionary<string, string[]> AllowedFlags = new(StringComparer.Ordinal)
    {
        ["FROM"] = ["platform"],
        ["COPY"] = ["from", "chown", "chmod", "link", "exclude", "parents"],
        ["ADD"] = ["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"],
        ["HEALTHCHECK"] = ["interval", "timeout", "start-period", "start-interval", "retries"],
        ["RUN"] = ["mount", "network", "security"],
    };

    /// <summary>The instruction's flags as name → value (a bare <c>--link</c> is "true"); unknown or repeated flags are errors.</summary>
    public static IReadOnlyDictionary<string, string> Flags(DockerfileInstruction instruction, string fileName)
    {
        var allowed = AllowedFlags.GetValueOrDefault(instruction.Keyword, []);
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var flag in instruction.Flags)
        {
            var text = flag[2..];
            var equals = text.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? text : text[..equals];
            var value = equals < 0 ? "true" : text[(equals + 1)..];
            if (!allowed.Contains(name))
            {
                throw new DockerfileSyntaxException(fileName, instruction.StartLine, $"unknown flag: --{name}");
            }

            if (!flags.TryAdd(name, value) && name != "exclude")
            {
                throw new DockerfileSyntaxException(fileName, instruction.StartLine, $"duplicate flag specified: --{name}");
            }
        }

        return flags;
    }

    /// <summary>
    /// ENV and LABEL arguments as (name, value) pairs, both still to be expanded. <c>ENV a=1 b="x y"</c>
    /// gives two pairs; <c>ENV key the rest</c> (the legacy form) gives one whose value is the rest of the line.
    /// </summary>
    public static IReadOnlyList<(string Name, string Value)> NameValues(DockerfileInstruction instruction, ShellLexer lexer, string fileName)
    {
        var words = lexer.SplitRaw(instruction.Arguments);
        if (words.Count == 0)
        {
            throw new DockerfileSyntaxException(fileName, instruction.StartLine, $"{instruction.Keyword} requires at least one argument");
        }

        if (!words[0].Contains('=', StringComparison.Ordinal))
        {
            var parts = Whitespace().Split(instruction.Arguments.Trim(), 2);
            if (parts.Length < 2 || parts[1].Trim().Length == 0)
            {
                throw new DockerfileSyntaxException(fileName, instruction.StartLine, $"{instruction.Keyword} must have two arguments");
            }

            return [(parts[0], parts[1].Trim())];
        }

        var pairs = new List<(string, string)>();
        foreach (var word in words)
        {
            var equals = word.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                throw new DockerfileSyntaxException(fileName, instruction.StartLine, $"Syntax error - can't find = in \"{word}\". Must be of the form: name=value");
            }

            if (equals == 0)
            {
                throw new DockerfileSyntaxException(fileName, instruction.StartLine, $"{instruction.Keyword} names can not be blank");
            }

            pairs.Add((word[..equals], word[(equals + 1)..]));
        }

        return pairs;
    }

    /// <summary>ARG declarations: <c>ARG name</c>, <c>ARG name=default</c>, several per line; defaults still to be expanded.</summary>
    public static IReadOnlyList<(string Name, string? Default)> ArgDeclarations(DockerfileInstruction instruction, ShellLexer lexer, string fileName)
    {
        var declarations = new List<(string, string?)>();
        foreach (var word in lexer.SplitRaw(instruction.Arguments))
        {
            var equals = word.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? word : word[..equals];
            if (name.Length == 0)
            {
                throw new DockerfileSyntaxException(fileName, instruction.StartLine, "ARG names can not be blank");
            }

            declarations.Add((name, equals < 0 ? null : word[(equals + 1)..]));
        }

        return declarations;
    }

    /// <summary>Arguments split at whitespace (no quote awareness, as Docker splits COPY, EXPOSE and FROM).</summary>
    public static IReadOnlyList<string> WhitespaceDelimited(string arguments) =>
        Whitespace().Split(arguments.Trim()).Where(w => w.Length > 0).ToArray();

    /// <summary>A duration of HEALTHCHECK flags (<c>30s</c>, <c>1m30s</c>, <c>500ms</c>) in nanoseconds.</summary>
    public static long ParseDuration(string text, string flag, string fileName, int line)
    {
        var matches = DurationPart().Matches(text);
        if (text.Length == 0 || matches.Sum(m => m.Length) != text.Length)
        {
            throw new DockerfileSyntaxException(fileName, line, $"invalid duration for --{flag}: '{text}' (use e.g. 30s, 1m30s, 500ms)");
        }

        double total = 0;
        foreach (Match match in matches)
        {
            var value = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            total += value * match.Groups[2].Value switch
            {
                "ns" => 1,
                "us" or "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                _ => 3600e9,
            };
        }

        return (long)total;
    }

    [GeneratedRegex(@"[ \t]+", RegexOptions.CultureInvariant)]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPart();
}
