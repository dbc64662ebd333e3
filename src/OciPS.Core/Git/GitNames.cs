using System.Text;

namespace OciPS.Core.Git;

/// <summary>
/// How names inside an image become names inside the git repository, and how image references become
/// branch names. Git gives some names a meaning of its own (<c>.git</c>, <c>.gitignore</c>,
/// <c>.gitattributes</c>, <c>.gitmodules</c>, and their case and NTFS/HFS variants), so a component that
/// git could read as one of them is stored with the prefix <see cref="EscapePrefix"/>; so is a
/// component that already begins with the prefix, which keeps the mapping reversible. A name whose
/// bytes are not UTF-8 is stored as the prefix, '%' and its bytes in hex. See docs/git-conversion.md.
/// </summary>
public static class GitNames
{
    /// <summary>Prefixed to a stored name that git would otherwise treat specially.</summary>
    public const string EscapePrefix = ".oci~";

    /// <summary>The name a path component is stored under in the repository.</summary>
    public static string Escape(string component) =>
        Model.EntryName.HasEscapes(component) ? EscapePrefix + "%" + Convert.ToHexString(Model.EntryName.Encode(component)).ToLowerInvariant()
        : NeedsEscape(component) ? EscapePrefix + component
        : component;

    /// <summary>The image's name for a stored component (the inverse of <see cref="Escape"/>).</summary>
    public static string Unescape(string stored)
    {
        if (!stored.StartsWith(EscapePrefix, StringComparison.Ordinal))
        {
            return stored;
        }

        var name = stored[EscapePrefix.Length..];
        return name.StartsWith('%') ? Model.EntryName.Decode(Convert.FromHexString(name.AsSpan(1))) : name;
    }

    /// <summary>A whole image path ('/'-separated) as stored below <c>rootfs/</c>.</summary>
    public static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Escape));

    /// <summary>
    /// Whether git could read the component as one of its own names: anything starting with ".git"
    /// ignoring case and the code points HFS+ ignores, NTFS short names ("git~1"), and names ending in
    /// dots or spaces that NTFS would trim onto such a name.
    /// </summary>
    public static bool NeedsEscape(string component)
    {
        if (component.StartsWith(EscapePrefix, StringComparison.Ordinal))
        {
            return true;
        }

        var folded = new StringBuilder(component.Length);
        foreach (var c in component)
        {
            if (!IsHfsIgnorable(c))
            {
                folded.Append(char.ToLowerInvariant(c));
            }
        }

        var name = folded.ToString().TrimEnd('.', ' ');
        return name.StartsWith(".git", StringComparison.Ordinal) || name.StartsWith("git~", StringComparison.Ordinal);
    }

    /// <summary>
    /// A branch name from an image reference: characters git refuses (and ':' '@') become '-', no
    /// component starts with '.' or ends with ".lock", no "..", no empty components.
    /// </summary>
    public static string BranchName(string reference)
    {
        var text = reference;
        foreach (var prefix in new[] { "docker://", "docker-daemon:", "docker.io/library/", "docker.io/" })
        {
            if (text.StartsWith(prefix, StringComparison.Ordinal))
            {
                text = text[prefix.Length..];
            }
        }

        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/' ? c : '-');
        }

        var parts = builder.ToString()
            .Split('/', StringSplitOptions.RemoveEmptyEntries)
            .Select(part =>
            {
                while (part.Contains("..", StringComparison.Ordinal))
                {
                    part = part.Replace("..", ".", StringComparison.Ordinal);
                }

                part = part.TrimStart('.', '-');
                if (part.EndsWith(".lock", StringComparison.OrdinalIgnoreCase))
                {
                    part = part[..^5] + "-lock";
                }

                return part.TrimEnd('.');
            })
            .Where(part => part.Length > 0)
            .ToArray();
        return parts.Length == 0 ? "image" : string.Join('/', parts);
    }

    /// <summary>Code points HFS+ ignores when comparing names (git's is_hfs_dotgit list).</summary>
    private static bool IsHfsIgnorable(char c) =>
        c is '\u200C' or '\u200D' or '\u200E' or '\u200F' or '\u202A' or '\u202B' or '\u202C' or '\u202D' or '\u202E'
            or '\u206A' or '\u206B' or '\u206C' or '\u206D' or '\u206E' or '\u206F' or '\uFEFF';
}
