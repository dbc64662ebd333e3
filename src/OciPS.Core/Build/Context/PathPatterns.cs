using System.Text;
using System.Text.RegularExpressions;

namespace OciPS.Core.Build.Context;

/// <summary>
/// Docker's path patterns (moby's patternmatcher): <c>*</c> and <c>?</c> never cross a <c>/</c>,
/// <c>**</c> matches any number of directories (none included), <c>[a-z]</c> classes, the backslash
/// escapes. A pattern also matches everything under a directory it matches (<c>foo</c> excludes
/// <c>foo/bar</c>); the last matching pattern decides, and a <c>!</c> pattern re-includes.
/// </summary>
public sealed class PathPatterns
{
    private readonly Pattern[] _patterns;

    public PathPatterns(IEnumerable<string> patterns)
    {
        _patterns = patterns.Select(Pattern.Compile).ToArray();
        HasExclusions = _patterns.Any(p => p.Exclusion);
    }

    /// <summary>Whether some pattern starts with <c>!</c> (so an excluded directory may still hold included files).</summary>
    public bool HasExclusions { get; }

    public bool IsEmpty => _patterns.Length == 0;

    /// <summary>Reads a .dockerignore: one pattern a line, <c>#</c> comments, whitespace trimmed, paths cleaned, a leading <c>/</c> dropped.</summary>
    public static PathPatterns ReadIgnoreFile(string text)
    {
        var patterns = new List<string>();
        foreach (var rawLine in text.TrimStart('\uFEFF').Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            if (line.StartsWith('#'))
            {
                continue;
            }

            var pattern = line.Trim();
            if (pattern.Length == 0)
            {
                continue;
            }

            var invert = pattern[0] == '!';
            if (invert)
            {
                pattern = pattern[1..].Trim();
            }

            if (pattern.Length > 0)
            {
                pattern = Clean(pattern);
                if (pattern.Length > 1 && pattern[0] == '/')
                {
                    pattern = pattern[1..];
                }
            }

            patterns.Add(invert ? "!" + pattern : pattern);
        }

        return new PathPatterns(patterns);
    }

    /// <summary>
    /// Whether a path (relative, '/'-separated) is matched: by the last pattern that matches it or
    /// one of its parent directories. False when no pattern matches.
    /// </summary>
    public bool Matches(string path)
    {
        var matched = false;
        var parents = path.Split('/');
        foreach (var pattern in _patterns)
        {
            var match = pattern.Regex.IsMatch(path);
            if (!match && parents.Length > 1 && pattern.Depth < parents.Length)
            {
                match = pattern.Regex.IsMatch(string.Join('/', parents.Take(pattern.Depth)));
            }

            if (match)
            {
                matched = !pattern.Exclusion;
            }
        }

        return matched;
    }

    /// <summary>Whether the pattern (no <c>!</c>) matches the path itself, without the parent rule: COPY's source globs.</summary>
    public static bool MatchesExactly(string pattern, string path) => Pattern.Compile(pattern).Regex.IsMatch(path);

    /// <summary>Whether a path has glob characters.</summary>
    public static bool HasWildcards(string path) => path.IndexOfAny(['*', '?', '[']) >= 0;

    /// <summary>Go's path.Clean for '/'-separated paths.</summary>
    public static string Clean(string path)
    {
        if (path.Length == 0)
        {
            return ".";
        }

        var rooted = path[0] == '/';
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..")
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                else if (!rooted)
                {
                    parts.Add(part);
                }

                continue;
            }

            parts.Add(part);
        }

        var joined = string.Join('/', parts);
        return rooted ? "/" + joined : joined.Length == 0 ? "." : joined;
    }

    private sealed record Pattern(Regex Regex, int Depth, bool Exclusion)
    {
        public static Pattern Compile(string text)
        {
            var exclusion = text.StartsWith('!');
            if (exclusion)
            {
                text = text[1..];
                if (text.Length == 0)
                {
                    throw new FormatException("illegal exclusion pattern: \"!\"");
                }
            }

            var cleaned = Clean(text);
            var regex = new StringBuilder("^");
            var inClass = false;
            for (var i = 0; i < cleaned.Length; i++)
            {
                var ch = cleaned[i];
                if (inClass && ch != ']' && ch != '\\')
                {
                    regex.Append(ch);
                    continue;
                }

                switch (ch)
                {
                    case '*' when i + 1 < cleaned.Length && cleaned[i + 1] == '*':
                        i++;
                        if (i + 1 < cleaned.Length && cleaned[i + 1] == '/')
                        {
                            i++;
                        }

                        regex.Append(i + 1 >= cleaned.Length ? ".*" : "(.*/)?");
                        break;
                    case '*':
                        regex.Append("[^/]*");
                        break;
                    case '?':
                        regex.Append("[^/]");
                        break;
                    case '\\':
                        regex.Append(i + 1 < cleaned.Length ? Regex.Escape(cleaned[++i].ToString()) : @"\\");
                        break;
                    case '[' or ']':
                        inClass = ch == '[';
                        regex.Append(ch);
                        break;
                    default:
                        regex.Append(Regex.Escape(ch.ToString()));
                        break;
                }
            }

            regex.Append('$');
            try
            {
                return new Pattern(new Regex(regex.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline), cleaned.Split('/').Length, exclusion);
            }
            catch (ArgumentException ex)
            {
                throw new FormatException($"'{text}' is not a valid pattern: {ex.Message}", ex);
            }
        }
    }
}
