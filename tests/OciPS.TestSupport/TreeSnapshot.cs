using System.Globalization;
using System.Text;
using OciPS.Core.Model;

namespace OciPS.TestSupport;

/// <summary>One file-system entry as the coreutils see it.</summary>
public sealed record TreeEntry(
    string Path,
    string Type,
    string Mode,
    long Uid,
    long Gid,
    long Size,
    string? LinkTarget,
    string ModifiedTime,
    string Device,
    string? ContentHash,
    IReadOnlyDictionary<string, string> Xattrs)
{
    public override string ToString() =>
        $"{Path} {Type} {Mode} {Uid}:{Gid} {Size} {LinkTarget} {ModifiedTime} {Device} {ContentHash?[..12]} [{string.Join(",", Xattrs.Select(x => x.Key + "=" + x.Value))}]";
}

/// <summary>
/// A directory tree read by find, stat, sha256sum and getfattr (not by OciPS): names as exact bytes,
/// types, modes, owners, sizes, link targets, nanosecond mtimes, device numbers, content hashes, xattrs.
/// Used to compare what OciPS writes with what the peers write and with what the kernel mounts.
/// </summary>
public static class TreeSnapshot
{
    public static IReadOnlyDictionary<string, TreeEntry> Capture(string root)
    {
        var prefix = root.TrimEnd('/') + "/";
        var links = Split(ProcessRunner.RunBytes("find", [root, "-mindepth", "1", "-printf", "%P\\0%l\\0"]).StandardOutput);
        var targets = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < links.Count; i += 2)
        {
            targets[links[i]] = links[i + 1];
        }

        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var files = ProcessRunner.RunBytes("find", [root, "-type", "f", "-exec", "sha256sum", "-z", "{}", "+"]).StandardOutput;
        foreach (var line in Split(files))
        {
            hashes[line[(64 + 2 + prefix.Length)..]] = line[..64];
        }

        var xattrs = ReadXattrs(root, prefix);
        var entries = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        var stats = Split(ProcessRunner.RunBytes("find", [root, "-mindepth", "1", "-exec", "stat", "--printf", "%n\\0%F\\0%a\\0%u\\0%g\\0%s\\0%.9Y\\0%t:%T\\0", "{}", "+"]).StandardOutput);
        for (var i = 0; i + 7 < stats.Count; i += 8)
        {
            var path = stats[i][prefix.Length..];
            var type = stats[i + 1];
            entries[path] = new TreeEntry(
                path,
                type,
                stats[i + 2],
                long.Parse(stats[i + 3], CultureInfo.InvariantCulture),
                long.Parse(stats[i + 4], CultureInfo.InvariantCulture),
                type == "directory" ? 0 : long.Parse(stats[i + 5], CultureInfo.InvariantCulture),
                targets.TryGetValue(path, out var target) && target.Length > 0 ? target : null,
                stats[i + 6],
                type.Contains("special", StringComparison.Ordinal) ? stats[i + 7] : string.Empty,
                hashes.TryGetValue(path, out var hash) ? hash : null,
                xattrs.TryGetValue(path, out var attributes) ? attributes : new Dictionary<string, string>());
        }

        return entries;
    }

    /// <summary>Every difference between two snapshots, one line each (empty when they agree).</summary>
    public static IReadOnlyList<string> Differences(IReadOnlyDictionary<string, TreeEntry> expected, IReadOnlyDictionary<string, TreeEntry> actual, Func<TreeEntry, TreeEntry>? normalise = null)
    {
        normalise ??= e => e;
        var differences = new List<string>();
        foreach (var path in expected.Keys.Union(actual.Keys).Order(StringComparer.Ordinal))
        {
            if (!expected.TryGetValue(path, out var want))
            {
                differences.Add("unexpected: " + actual[path]);
            }
            else if (!actual.TryGetValue(path, out var got))
            {
                differences.Add("missing:    " + want);
            }
            else if (!Same(normalise(want), normalise(got)))
            {
                differences.Add("expected:   " + normalise(want) + "\n  actual:   " + normalise(got));
            }
        }

        return differences;
    }

    private static readonly IReadOnlyDictionary<string, string> NoXattrs = new Dictionary<string, string>();

    private static bool Same(TreeEntry a, TreeEntry b) =>
        a with { Xattrs = NoXattrs } == b with { Xattrs = NoXattrs } &&
        a.Xattrs.Count == b.Xattrs.Count && a.Xattrs.All(x => b.Xattrs.TryGetValue(x.Key, out var v) && v == x.Value);

    private static Dictionary<string, Dictionary<string, string>> ReadXattrs(string root, string prefix)
    {
        var result = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        var text = ProcessRunner.RunBytes("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root]).StandardOutput;
        Dictionary<string, string>? current = null;
        foreach (var raw in Encoding.Latin1.GetString(text).Split('\n'))
        {
            if (raw.StartsWith("# file: ", StringComparison.Ordinal))
            {
                var name = Unescape(raw["# file: ".Length..]);
                current = name.Length > prefix.Length - 1 && name.StartsWith(prefix, StringComparison.Ordinal) ? new Dictionary<string, string>(StringComparer.Ordinal) : null;
                if (current is not null)
                {
                    result[name[prefix.Length..]] = current;
                }
            }
            else if (current is not null && raw.Contains('=', StringComparison.Ordinal))
            {
                var equals = raw.IndexOf('=', StringComparison.Ordinal);
                current[raw[..equals]] = raw[(equals + 1)..];
            }
        }

        return result;
    }

    /// <summary>getfattr writes unusual bytes of names as \ooo octal escapes.</summary>
    private static string Unescape(string latin1)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < latin1.Length; i++)
        {
            if (latin1[i] == '\\' && i + 3 < latin1.Length && latin1[(i + 1)..(i + 4)].All(c => c is >= '0' and <= '7'))
            {
                bytes.Add(Convert.ToByte(latin1[(i + 1)..(i + 4)], 8));
                i += 3;
            }
            else
            {
                bytes.Add((byte)latin1[i]);
            }
        }

        return EntryName.Decode(bytes.ToArray());
    }

    private static List<string> Split(byte[] output)
    {
        var parts = new List<string>();
        var start = 0;
        for (var i = 0; i < output.Length; i++)
        {
            if (output[i] == 0)
            {
                parts.Add(EntryName.Decode(output.AsSpan(start, i - start)));
                start = i + 1;
            }
        }

        return parts;
    }
}
