using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OciPS.Core.Build.Dockerfile;

/// <summary>A here-document attached to an instruction (<c>COPY &lt;&lt;EOF /dst</c>).</summary>
/// <param name="Name">The delimiter word, quotes removed.</param>
/// <param name="Content">The lines between the instruction and the delimiter, each ending in a newline.</param>
/// <param name="Expand">False when the delimiter was quoted: the content is taken literally.</param>
public sealed record Heredoc(string Name, string Content, bool Expand);

/// <summary>
/// One instruction of a Dockerfile after comments, continuations and heredocs are resolved; the
/// arguments are still unexpanded (substitution depends on the ARG and ENV values at that point).
/// </summary>
public sealed record DockerfileInstruction
{
    /// <summary>The keyword in upper case (FROM, COPY…).</summary>
    public required string Keyword { get; init; }

    public required int StartLine { get; init; }

    public required int EndLine { get; init; }

    /// <summary>The logical line (continuations joined), as Docker records it.</summary>
    public required string Original { get; init; }

    /// <summary>Leading <c>--name=value</c> flags, quotes removed.</summary>
    public IReadOnlyList<string> Flags { get; init; } = [];

    /// <summary>The arguments after the flags, trimmed.</summary>
    public string Arguments { get; init; } = string.Empty;

    /// <summary>The arguments as a JSON array of strings (exec form), or null for shell form.</summary>
    public IReadOnlyList<string>? Json { get; init; }

    public IReadOnlyList<Heredoc> Heredocs { get; init; } = [];

    public override string ToString() => Original;
}

/// <summary>A parsed Dockerfile: parser directives, the escape character, and the instructions in order.</summary>
public sealed record DockerfileDocument(string FileName, char Escape, IReadOnlyDictionary<string, string> Directives, IReadOnlyList<DockerfileInstruction> Instructions);

/// <summary>
/// Docker's Dockerfile syntax (the BuildKit frontend's): parser directives (<c># syntax=</c>,
/// <c># escape=</c>, <c># check=</c>) before anything else, comments, line continuations with the
/// escape character, comment and empty lines inside continuations, JSON (exec) and shell forms,
/// leading <c>--flags</c>, and heredocs for RUN, COPY and ADD.
/// </summary>
public static partial class DockerfileParser
{
    private static readonly HashSet<string> KnownDirectives = new(StringComparer.Ordinal) { "syntax", "escape", "check" };
    private static readonly HashSet<string> HeredocKeywords = new(StringComparer.Ordinal) { "RUN", "COPY", "ADD" };
    private static readonly HashSet<string> JsonKeywords = new(StringComparer.Ordinal) { "RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME" };

    public static DockerfileDocument Parse(string text, string fileName = "Dockerfile")
    {
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }

        var lines = text.Split('\n').Select(l => l.EndsWith('\r') ? l[..^1] : l).ToArray();
        if (lines.Length > 0 && lines[^1].Length == 0)
        {
            lines = lines[..^1];
        }

        var directives = new Dictionary<string, string>(StringComparer.Ordinal);
        var position = 0;
        for (; position < lines.Length; position++)
        {
            var match = DirectivePattern().Match(lines[position]);
            if (!match.Success)
            {
                break;
            }

            var key = match.Groups[1].Value.ToLowerInvariant();
            if (!KnownDirectives.Contains(key))
            {
                break;
            }

            if (!directives.TryAdd(key, match.Groups[2].Value))
            {
                throw new DockerfileSyntaxException(fileName, position + 1, $"only one {key} parser directive can be used");
            }
        }

        var escape = '\\';
        if (directives.TryGetValue("escape", out var escapeValue))
        {
            escape = escapeValue switch
            {
                "\\" => '\\',
                "`" => '`',
                _ => throw new DockerfileSyntaxException(fileName, 1, $"invalid escape token '{escapeValue}' does not match ` or \\"),
            };
        }

        var instructions = new List<DockerfileInstruction>();
        var lexer = new ShellLexer(escape);
        var index = 0;
        while (index < lines.Length)
        {
            var startLine = index + 1;
            var first = lines[index++];
            if (IsComment(first))
            {
                continue;
            }

            var (line, ended) = TrimContinuation(first.TrimStart(), escape);
            if (ended && line.Trim().Length == 0)
            {
                continue;
            }

            while (!ended && index < lines.Length)
            {
                var next = lines[index++];
                if (IsComment(next) || next.Trim().Length == 0)
                {
                    continue;
                }

                (var part, ended) = TrimContinuation(next, escape);
                line += part;
            }

            var endLine = index;
            var instruction = ParseLine(line, startLine, endLine, fileName, lexer);
            if (HeredocKeywords.Contains(instruction.Keyword))
            {
                var heredocs = new List<Heredoc>();
                foreach (var (name, expand, chomp) in FindHeredocs(instruction.Arguments, lexer))
                {
                    var content = new StringBuilder();
                    var terminated = false;
                    while (index < lines.Length)
                    {
                        var raw = lines[index++];
                        var candidate = chomp ? raw.TrimStart('\t') : raw;
                        if (candidate == name)
                        {
                            terminated = true;
                            break;
                        }

                        content.Append(candidate).Append('\n');
                    }

                    if (!terminated)
                    {
                        throw new DockerfileSyntaxException(fileName, startLine, $"unterminated heredoc '{name}'");
                    }

                    heredocs.Add(new Heredoc(name, content.ToString(), expand));
                }

                instruction = instruction with { Heredocs = heredocs, EndLine = index };
            }

            instructions.Add(instruction);
        }

        return new DockerfileDocument(fileName, escape, directives, instructions);
    }

    private static DockerfileInstruction ParseLine(string line, int startLine, int endLine, string fileName, ShellLexer lexer)
    {
        var trimmed = line.Trim();
        var split = WhitespacePattern().Match(trimmed);
        var keyword = (split.Success ? trimmed[..split.Index] : trimmed).ToUpperInvariant();
        var rest = split.Success ? trimmed[(split.Index + split.Length)..] : string.Empty;
        if (!KeywordPattern().IsMatch(keyword))
        {
            throw new DockerfileSyntaxException(fileName, startLine, $"unknown instruction: {keyword}");
        }

        if (rest.Length == 0 && keyword is not ("CMD" or "ENTRYPOINT" or "HEALTHCHECK"))
        {
            throw new DockerfileSyntaxException(fileName, startLine, $"{keyword} requires at least one argument");
        }

        var (flags, arguments) = ExtractFlags(rest, lexer, fileName, startLine);
        IReadOnlyList<string>? json = null;
        if (JsonKeywords.Contains(keyword) || keyword == "HEALTHCHECK")
        {
            json = TryParseJson(keyword == "HEALTHCHECK" ? HealthcheckCommand(arguments) : arguments);
        }

        return new DockerfileInstruction
        {
            Keyword = keyword,
            StartLine = startLine,
            EndLine = endLine,
            Original = trimmed,
            Flags = flags,
            Arguments = arguments,
            Json = json,
        };
    }

    /// <summary>The text after <c>CMD</c> in a HEALTHCHECK's arguments, for JSON detection.</summary>
    private static string HealthcheckCommand(string arguments)
    {
        var match = WhitespacePattern().Match(arguments);
        return match.Success && arguments[..match.Index].Equals("CMD", StringComparison.OrdinalIgnoreCase)
            ? arguments[(match.Index + match.Length)..]
            : string.Empty;
    }

    /// <summary>A JSON array of strings, as Docker's exec form; anything else is shell form.</summary>
    public static IReadOnlyList<string>? TryParseJson(string arguments)
    {
        var text = arguments.Trim();
        if (!text.StartsWith('['))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return null;
            }

            var items = new List<string>();
            foreach (var element in document.RootElement.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.String)
                {
                    return null;
                }

                items.Add(element.GetString()!);
            }

            return items;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Leading words that start with <c>--</c>, as written; a lone <c>--</c> ends them.</summary>
    private static (IReadOnlyList<string> Flags, string Remainder) ExtractFlags(string arguments, ShellLexer lexer, string fileName, int line)
    {
        var flags = new List<string>();
        var rest = arguments;
        while (true)
        {
            rest = rest.TrimStart();
            if (!rest.StartsWith("--", StringComparison.Ordinal))
            {
                return (flags, rest.Trim());
            }

            var words = lexer.SplitRaw(rest);
            var word = words[0];
            rest = rest[(rest.IndexOf(word, StringComparison.Ordinal) + word.Length)..];
            if (word == "--")
            {
                return (flags, rest.Trim());
            }

            // Kept as written: values such as --from=${BASE} or --chown="$UID" are expanded (quotes and
            // variables) by the instruction, with the stage's ARG and ENV values. Checked for syntax here.
            try
            {
                _ = lexer.ProcessWord(word, _ => null);
                flags.Add(word);
            }
            catch (FormatException ex)
            {
                throw new DockerfileSyntaxException(fileName, line, ex.Message);
            }
        }
    }

    /// <summary>The heredoc words (<c>&lt;&lt;EOF</c>, <c>&lt;&lt;-"EOF"</c>, <c>2&lt;&lt;EOF</c>) among the arguments, in order.</summary>
    private static IEnumerable<(string Name, bool Expand, bool Chomp)> FindHeredocs(string arguments, ShellLexer lexer)
    {
        foreach (var word in lexer.SplitRaw(arguments))
        {
            if (TryParseHeredocWord(word, out var heredoc))
            {
                yield return heredoc;
            }
        }
    }

    /// <summary>Whether a word is a heredoc marker, and its name, whether it expands, whether it strips tabs.</summary>
    public static bool TryParseHeredocWord(string word, out (string Name, bool Expand, bool Chomp) heredoc)
    {
        heredoc = default;
        var match = HeredocPattern().Match(word);
        if (!match.Success || match.Groups[3].Value.Length == 0)
        {
            return false;
        }

        var name = match.Groups[3].Value;
        var expand = true;
        if (name.Length >= 2 && (name[0] == '"' || name[0] == '\'') && name[^1] == name[0])
        {
            name = name[1..^1];
            expand = false;
        }

        if (name.Length == 0)
        {
            return false;
        }

        heredoc = (name, expand, match.Groups[2].Value == "-");
        return true;
    }

    private static bool IsComment(string line) => CommentPattern().IsMatch(line);

    private static (string Line, bool Ended) TrimContinuation(string line, char escape)
    {
        var trimmed = line.TrimEnd(' ', '\t');
        if (trimmed.EndsWith(escape))
        {
            return (trimmed[..^1], false);
        }

        return (line, true);
    }

    [GeneratedRegex(@"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex DirectivePattern();

    [GeneratedRegex(@"^[ \t]*#", RegexOptions.CultureInvariant)]
    private static partial Regex CommentPattern();

    [GeneratedRegex(@"[ \t]+", RegexOptions.CultureInvariant)]
    private static partial Regex WhitespacePattern();

    [GeneratedRegex(@"^[A-Z][A-Z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex KeywordPattern();

    [GeneratedRegex(@"^(\d*)<<(-?)([^<]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex HeredocPattern();
}
