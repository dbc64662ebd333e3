using System.Globalization;
using System.Text;
using OciPS.Core.Model;

namespace OciPS.Core.Git;

/// <summary>
/// What git cannot hold about one path (type, full mode, owner, xattrs, hardlinks, device numbers),
/// as one line of the tracked <c>rootfs.meta</c> file, so that <c>git diff</c> shows a chmod or chown
/// as plainly as a content change. Lines are sorted by path; the format is documented in
/// docs/git-conversion.md.
/// </summary>
public sealed record RootfsMeta(
    OciFileType Type,
    int Mode,
    long Uid,
    long Gid,
    IReadOnlyDictionary<string, byte[]> Xattrs,
    string? HardlinkTo = null,
    int DeviceMajor = 0,
    int DeviceMinor = 0)
{
    public const string FileName = "rootfs.meta";

    public const string Header = "# OciPS rootfs metadata v1: path<TAB>type<TAB>mode<TAB>uid:gid[<TAB>link=PATH][<TAB>dev=MAJOR,MINOR][<TAB>xattr.NAME=HEX]... (docs/git-conversion.md)";

    /// <summary>The metadata an entry of a layer carries.</summary>
    public static RootfsMeta Of(OciFileEntry entry, string? hardlinkTo = null) => new(
        entry.Type,
        entry.Mode & 0xFFF,
        entry.Uid,
        entry.Gid,
        entry.Xattrs,
        hardlinkTo,
        entry.DeviceMajor,
        entry.DeviceMinor);

    /// <summary>A directory git creates implicitly (a parent the layer never named).</summary>
    public static RootfsMeta ImplicitDirectory { get; } = new(OciFileType.Directory, 0x1ED, 0, 0, OciFileEntry.NoXattrs);

    /// <summary>The line for <paramref name="path"/>, without the newline.</summary>
    public string ToLine(string path)
    {
        var line = new StringBuilder(path.Length + 32);
        line.Append(Quote(path)).Append('\t')
            .Append(TypeName(Type)).Append('\t')
            .Append(Convert.ToString(Mode & 0xFFF, 8).PadLeft(4, '0')).Append('\t')
            .Append(Uid.ToString(CultureInfo.InvariantCulture)).Append(':').Append(Gid.ToString(CultureInfo.InvariantCulture));
        if (HardlinkTo is not null)
        {
            line.Append("\tlink=").Append(Quote(HardlinkTo));
        }

        if (Type is OciFileType.CharDevice or OciFileType.BlockDevice)
        {
            line.Append("\tdev=").Append(DeviceMajor.ToString(CultureInfo.InvariantCulture)).Append(',').Append(DeviceMinor.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var (name, value) in Xattrs.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            line.Append("\txattr.").Append(Quote(name)).Append('=').Append(Convert.ToHexString(value).ToLowerInvariant());
        }

        return line.ToString();
    }

    /// <summary>Reads a line written by <see cref="ToLine"/>; null for comments and blank lines.</summary>
    public static (string Path, RootfsMeta Meta)? Parse(string line)
    {
        if (line.Length == 0 || line[0] == '#')
        {
            return null;
        }

        var fields = line.Split('\t');
        if (fields.Length < 4)
        {
            throw new FormatException($"'{line}' is not a rootfs.meta line.");
        }

        var owner = fields[3].Split(':');
        string? link = null;
        int major = 0, minor = 0;
        var xattrs = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var field in fields.Skip(4))
        {
            if (field.StartsWith("link=", StringComparison.Ordinal))
            {
                link = Unquote(field[5..]);
            }
            else if (field.StartsWith("dev=", StringComparison.Ordinal))
            {
                var numbers = field[4..].Split(',');
                major = int.Parse(numbers[0], CultureInfo.InvariantCulture);
                minor = int.Parse(numbers[1], CultureInfo.InvariantCulture);
            }
            else if (field.StartsWith("xattr.", StringComparison.Ordinal))
            {
                var equals = field.LastIndexOf('=');
                xattrs[Unquote(field[6..equals])] = Convert.FromHexString(field[(equals + 1)..]);
            }
        }

        var meta = new RootfsMeta(
            ParseType(fields[1]),
            Convert.ToInt32(fields[2], 8),
            long.Parse(owner[0], CultureInfo.InvariantCulture),
            long.Parse(owner[1], CultureInfo.InvariantCulture),
            xattrs.Count == 0 ? OciFileEntry.NoXattrs : xattrs,
            link,
            major,
            minor);
        return (Unquote(fields[0]), meta);
    }

    public bool SameAs(RootfsMeta other) =>
        Type == other.Type && Mode == other.Mode && Uid == other.Uid && Gid == other.Gid && HardlinkTo == other.HardlinkTo &&
        DeviceMajor == other.DeviceMajor && DeviceMinor == other.DeviceMinor &&
        Xattrs.Count == other.Xattrs.Count && Xattrs.All(x => other.Xattrs.TryGetValue(x.Key, out var v) && v.AsSpan().SequenceEqual(x.Value));

    /// <summary>
    /// A path as git quotes it: unchanged when it is plain, else in double quotes with C escapes and
    /// octal bytes for control characters and bytes that are not UTF-8.
    /// </summary>
    public static string Quote(string path)
    {
        if (!path.Any(NeedsEscape))
        {
            return path;
        }

        var builder = new StringBuilder("\"", path.Length + 8);
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case < ' ' or '\x7F':
                    builder.Append('\\').Append(Convert.ToString(c, 8).PadLeft(3, '0'));
                    break;
                case >= '\uDC80' and <= '\uDCFF' when i == 0 || !char.IsHighSurrogate(path[i - 1]):
                    // A byte that was not UTF-8 (EntryName keeps it as a lone surrogate).
                    builder.Append('\\').Append(Convert.ToString(c - 0xDC00, 8).PadLeft(3, '0'));
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }

        return builder.Append('"').ToString();
    }

    public static string Unquote(string text)
    {
        if (text.Length < 2 || text[0] != '"' || text[^1] != '"')
        {
            return text;
        }

        var bytes = new List<byte>(text.Length);
        for (var i = 1; i < text.Length - 1; i++)
        {
            var c = text[i];
            if (c != '\\')
            {
                var end = text.IndexOf('\\', i);
                end = end < 0 ? text.Length - 1 : end;
                bytes.AddRange(Encoding.UTF8.GetBytes(text[i..end]));
                i = end - 1;
                continue;
            }

            var next = text[++i];
            switch (next)
            {
                case 't':
                    bytes.Add((byte)'\t');
                    break;
                case 'n':
                    bytes.Add((byte)'\n');
                    break;
                case >= '0' and <= '7':
                    bytes.Add(Convert.ToByte(text.Substring(i, 3), 8));
                    i += 2;
                    break;
                default:
                    bytes.Add((byte)next);
                    break;
            }
        }

        return EntryName.Decode(bytes.ToArray());
    }

    private static bool NeedsEscape(char c) => c < ' ' || c is '\x7F' or '\\' or '"' || char.IsSurrogate(c);

    private static string TypeName(OciFileType type) => type switch
    {
        OciFileType.Directory => "dir",
        OciFileType.File => "file",
        OciFileType.Symlink => "symlink",
        OciFileType.CharDevice => "char",
        OciFileType.BlockDevice => "block",
        OciFileType.Fifo => "fifo",
        OciFileType.Socket => "socket",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a filesystem entry type."),
    };

    private static OciFileType ParseType(string name) => name switch
    {
        "dir" => OciFileType.Directory,
        "file" => OciFileType.File,
        "symlink" => OciFileType.Symlink,
        "char" => OciFileType.CharDevice,
        "block" => OciFileType.BlockDevice,
        "fifo" => OciFileType.Fifo,
        "socket" => OciFileType.Socket,
        _ => throw new FormatException($"'{name}' is not a rootfs.meta type."),
    };
}
