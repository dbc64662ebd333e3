using System.Text;
using System.Text.RegularExpressions;

namespace OciPS.Core.Build.Dockerfile;

/// <summary>
/// Docker's word processing for instruction arguments: quotes removed (single quotes literal, double
/// quotes expanding), the escape character taking the next character literally, and variable
/// substitution — <c>$VAR</c>, <c>${VAR}</c>, <c>${VAR:-default}</c>, <c>${VAR-default}</c>,
/// <c>${VAR:+alt}</c>, <c>${VAR+alt}</c>, <c>${VAR:?message}</c>, <c>${VAR?message}</c>,
/// <c>${VAR#pattern}</c>, <c>${VAR##pattern}</c>, <c>${VAR%pattern}</c>, <c>${VAR%%pattern}</c>.
/// Unset variables expand to nothing, as in Docker.
/// </summary>
public sealed class ShellLexer
{
    private readonly char _escape;

    public ShellLexer(char escape = '\\')
    {
        _escape = escape;
    }

    /// <summary>Processes one word; whitespace stays in the result (no word splitting).</summary>
    /// <exception cref="FormatException">Unbalanced quotes or braces, a bad substitution, or <c>${VAR:?}</c> on an unset variable.</exception>
    public string ProcessWord(string word, Func<string, string?> lookup)
    {
        var state = new State(word, lookup);
        var result = ProcessUntil(state, stop: null);
        return result;
    }

    /// <summary>Processes text and splits it into words at unquoted whitespace (as EXPOSE and the like see their arguments).</summary>
    public IReadOnlyList<string> ProcessWords(string text, Func<string, string?> lookup)
    {
        var words = new List<string>();
        foreach (var raw in SplitRaw(text))
        {
            words.Add(ProcessWord(raw, lookup));
        }

        return words;
    }

    /// <summary>Splits at unquoted, unescaped whitespace, keeping quotes and escapes in the words.</summary>
    public IReadOnlyList<string> SplitRaw(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        char quote = '\0';
        for (var i = 0; i < text.Length; i++)
        {
            var ch = text[i];
            if (quote == '\0' && char.IsWhiteSpace(ch))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }

                continue;
            }

            inWord = true;
            current.Append(ch);
            if (ch == _escape && quote != '\'' && i + 1 < text.Length)
            {
                current.Append(text[++i]);
            }
            else if (quote == '\0' && ch is '\'' or '"')
            {
                quote = ch;
            }
            else if (ch == quote)
            {
                quote = '\0';
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        return words;
    }

    private string ProcessUntil(State state, char? stop)
    {
        var result = new StringBuilder();
        while (!state.AtEnd)
        {
            var ch = state.Peek();
            if (stop is not null && ch == stop)
            {
                return result.ToString();
            }

            state.Next();
            if (ch == _escape)
            {
                if (!state.AtEnd)
                {
                    result.Append(state.Next());
                }
            }
            else if (ch == '\'')
            {
                result.Append(SingleQuoted(state));
            }
            else if (ch == '"')
            {
                result.Append(DoubleQuoted(state));
            }
            else if (ch == '$')
            {
                result.Append(Dollar(state));
            }
            else
            {
                result.Append(ch);
            }
        }

        if (stop is not null)
        {
            throw new FormatException($"missing '{stop}' in '{state.Text}'");
        }

        return result.ToString();
    }

    private static string SingleQuoted(State state)
    {
        var result = new StringBuilder();
        while (true)
        {
            if (state.AtEnd)
            {
                throw new FormatException($"unexpected end of statement while looking for matching single-quote in '{state.Text}'");
            }

            var ch = state.Next();
            if (ch == '\'')
            {
                return result.ToString();
            }

            result.Append(ch);
        }
    }

    private string DoubleQuoted(State state)
    {
        var result = new StringBuilder();
        while (true)
        {
            if (state.AtEnd)
            {
                throw new FormatException($"unexpected end of statement while looking for matching double-quote in '{state.Text}'");
            }

            var ch = state.Next();
            if (ch == '"')
            {
                return result.ToString();
            }

            if (ch == '$')
            {
                result.Append(Dollar(state));
            }
            else if (ch == _escape && !state.AtEnd && (state.Peek() == '"' || state.Peek() == '$' || state.Peek() == _escape))
            {
                // Inside double quotes the escape only escapes a quote, a dollar or itself; elsewhere it stays.
                result.Append(state.Next());
            }
            else
            {
                result.Append(ch);
            }
        }
    }

    private string Dollar(State state)
    {
        if (state.AtEnd)
        {
            return "$";
        }

        if (state.Peek() != '{')
        {
            var name = Name(state);
            return name.Length == 0 ? "$" : state.Lookup(name) ?? string.Empty;
        }

        state.Next();
        var braced = Name(state);
        if (braced.Length == 0)
        {
            throw new FormatException($"bad substitution: missing variable name in '{state.Text}'");
        }

        if (state.AtEnd)
        {
            throw new FormatException($"missing '}}' in '{state.Text}'");
        }

        var op = state.Next();
        if (op == '}')
        {
            return state.Lookup(braced) ?? string.Empty;
        }

        var value = state.Lookup(braced);
        var colon = false;
        if (op == ':')
        {
            colon = true;
            if (state.AtEnd)
            {
                throw new FormatException($"missing '}}' in '{state.Text}'");
            }

            op = state.Next();
        }

        if (op is '#' or '%' && !colon)
        {
            var longest = !state.AtEnd && state.Peek() == op;
            if (longest)
            {
                state.Next();
            }

            var pattern = ProcessUntil(state, '}');
            state.Next();
            return TrimPattern(value ?? string.Empty, pattern, prefix: op == '#', longest);
        }

        if (op is not ('-' or '+' or '?'))
        {
            throw new FormatException($"unsupported modifier ({op}) in substitution '{state.Text}'");
        }

        var word = ProcessUntil(state, '}');
        state.Next();
        var isSet = value is not null && (!colon || value.Length > 0);
        return op switch
        {
            '-' => isSet ? value! : word,
            '+' => isSet ? word : string.Empty,
            _ => isSet ? value! : throw new FormatException($"{braced}: {(word.Length == 0 ? "is not allowed to be unset" : word)}"),
        };
    }

    private static string Name(State state)
    {
        var name = new StringBuilder();
        while (!state.AtEnd)
        {
            var ch = state.Peek();
            if (name.Length == 0 && char.IsAsciiDigit(ch))
            {
                while (!state.AtEnd && char.IsAsciiDigit(state.Peek()))
                {
                    name.Append(state.Next());
                }

                return name.ToString();
            }

            if (name.Length == 0 && ch is '$' or '*' or '#' or '@' or '!' or '?' or '-')
            {
                return state.Next().ToString();
            }

            if (!char.IsLetterOrDigit(ch) && ch != '_')
            {
                break;
            }

            name.Append(state.Next());
        }

        return name.ToString();
    }

    private static string TrimPattern(string value, string pattern, bool prefix, bool longest)
    {
        var glob = "^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$";
        var regex = new Regex(glob, RegexOptions.Singleline | RegexOptions.CultureInvariant);
        if (prefix)
        {
            for (var i = longest ? value.Length : 0; longest ? i >= 0 : i <= value.Length; i += longest ? -1 : 1)
            {
                if (regex.IsMatch(value[..i]))
                {
                    return value[i..];
                }
            }
        }
        else
        {
            for (var i = longest ? 0 : value.Length; longest ? i <= value.Length : i >= 0; i += longest ? 1 : -1)
            {
                if (regex.IsMatch(value[i..]))
                {
                    return value[..i];
                }
            }
        }

        return value;
    }

    private sealed class State(string text, Func<string, string?> lookup)
    {
        private int _position;

        public string Text { get; } = text;

        public bool AtEnd => _position >= Text.Length;

        public char Peek() => Text[_position];

        public char Next() => Text[_position++];

        public string? Lookup(string name) => lookup(name);
    }
}
