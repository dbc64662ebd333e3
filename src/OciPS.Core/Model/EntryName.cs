using System.Text;
using System.Runtime.CompilerServices;

namespace OciPS.Core.Model;

/// <summary>
/// File names inside images are bytes, not text: most are UTF-8, some are not. Names are carried as
/// .NET strings in which every byte that is not part of valid UTF-8 is kept as a lone surrogate
/// U+DC80..U+DCFF (Python's "surrogateescape"), so <see cref="Encode"/> gives back the exact bytes
/// and writers never lose or alter a name.
/// </summary>
public static class EntryName
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Decodes name bytes; invalid UTF-8 bytes become U+DC80 + byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return Encoding.UTF8.GetString(bytes);
        }

        var builder = new StringBuilder(bytes.Length);
        var index = 0;
        while (index < bytes.Length)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes[index..], out var rune, out var consumed);
            if (status == System.Buffers.OperationStatus.Done)
            {
                builder.Append(rune.ToString());
                index += consumed;
            }
            else
            {
                builder.Append((char)(0xDC00 + bytes[index]));
                index++;
            }
        }

        return builder.ToString();
    }

    /// <summary>The exact bytes of a name produced by <see cref="Decode"/>.</summary>
    public static byte[] Encode(string name)
    {
        if (!HasEscapes(name))
        {
            return StrictUtf8.GetBytes(name);
        }

        var output = new List<byte>(name.Length + 8);
        Span<byte> scratch = stackalloc byte[4];
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c >= 0xDC80 && c <= 0xDCFF && !(i > 0 && char.IsHighSurrogate(name[i - 1])))
            {
                output.Add((byte)(c - 0xDC00));
                continue;
            }

            if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                var written = new Rune(c, name[i + 1]).EncodeToUtf8(scratch);
                output.AddRange(scratch[..written].ToArray());
                i++;
                continue;
            }

            var length = new Rune(char.IsSurrogate(c) ? '\uFFFD' : c).EncodeToUtf8(scratch);
            output.AddRange(scratch[..length].ToArray());
        }

        return [.. output];
    }

    /// <summary>Whether the name carries bytes that were not valid UTF-8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool HasEscapes(string name)
    {
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(name[i - 1])))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The canonical form of a path inside an image: '/'-separated, relative, without "./" prefixes,
    /// empty or "." components, or a trailing slash; the root is ".". ".." components are kept so that
    /// the merge can reject them with the entry named.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static string Normalize(string path)
    {
        if (path.Length == 0 || path == "." || path == "/" || path == "./")
        {
            return ".";
        }

        // Most names in a layer are already canonical once a leading "./" or "/" and a trailing "/" are
        // dropped: return them without splitting (this runs for every entry of every layer).
        var start = 0;
        while (start < path.Length && path[start] == '/' || start + 1 < path.Length && path[start] == '.' && path[start + 1] == '/')
        {
            start += path[start] == '/' ? 1 : 2;
        }

        var end = path.Length;
        while (end > start && path[end - 1] == '/')
        {
            end--;
        }

        if (end > start && IsCanonical(path.AsSpan(start, end - start)))
        {
            return start == 0 && end == path.Length ? path : path[start..end];
        }

        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var kept = new List<string>(parts.Length);
        foreach (var part in parts)
        {
            if (part != ".")
            {
                kept.Add(part);
            }
        }

        return kept.Count == 0 ? "." : string.Join('/', kept);
    }

    /// <summary>Whether a path without leading or trailing slashes has no empty and no "." component.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool IsCanonical(ReadOnlySpan<char> path)
    {
        var componentStart = 0;
        for (var i = 0; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] != '/')
            {
                continue;
            }

            var length = i - componentStart;
            if (length == 0 || length == 1 && path[componentStart] == '.')
            {
                return false;
            }

            componentStart = i + 1;
        }

        return true;
    }

    /// <summary>Whether a normalised path has a ".." component.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool HasParentComponent(string normalizedPath)
    {
        var index = normalizedPath.IndexOf("..", StringComparison.Ordinal);
        while (index >= 0)
        {
            if ((index == 0 || normalizedPath[index - 1] == '/') && (index + 2 == normalizedPath.Length || normalizedPath[index + 2] == '/'))
            {
                return true;
            }

            index = normalizedPath.IndexOf("..", index + 1, StringComparison.Ordinal);
        }

        return false;
    }

    /// <summary>The parent of a normalised path ("." for top-level names and the root).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static string Parent(string normalizedPath)
    {
        var slash = normalizedPath.LastIndexOf('/');
        return slash < 0 ? "." : normalizedPath[..slash];
    }

    /// <summary>The last component of a normalised path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static string FileName(string normalizedPath)
    {
        var slash = normalizedPath.LastIndexOf('/');
        return slash < 0 ? normalizedPath : normalizedPath[(slash + 1)..];
    }

    /// <summary>
    /// A normalised path with its <c>..</c> components resolved lexically, never above the root: the
    /// name a hostile entry is kept under, as containerd does. <paramref name="escaped"/> says whether a
    /// <c>..</c> tried to leave the root.
    /// </summary>
    public static string ClampInside(string normalizedPath, out bool escaped)
    {
        var kept = new List<string>();
        escaped = false;
        foreach (var part in normalizedPath.Split('/'))
        {
            if (part != "..")
            {
                kept.Add(part);
            }
            else if (kept.Count > 0)
            {
                kept.RemoveAt(kept.Count - 1);
            }
            else
            {
                escaped = true;
            }
        }

        return kept.Count == 0 ? "." : string.Join('/', kept);
    }
}
