using System.Security.Cryptography;
using OciPS.Core.Layers;
using OciPS.Core.Merge;
using OciPS.Core.Model;

namespace OciPS.Core.Compare;

/// <summary>What about an entry differs between the expected and the actual tree.</summary>
public enum RootfsDifferenceKind
{
    Missing,
    Extra,
    Type,
    Mode,
    Owner,
    Size,
    Content,
    LinkTarget,
    Device,
    Xattrs,
    ModifiedTime,
    Hardlink,
}

/// <summary>The properties a comparison can leave out (<c>Test-OciRootfs -IgnoreProperty</c>).</summary>
[Flags]
public enum RootfsProperties
{
    None = 0,
    Mode = 1,
    Owner = 2,
    Content = 4,
    Xattrs = 8,
    ModifiedTime = 16,
    Hardlink = 32,
    DirectoryModifiedTime = 64,
}

/// <summary>One difference between two trees: <c>Test-OciRootfs</c> output.</summary>
public sealed record OciRootfsDifference(string Path, RootfsDifferenceKind Kind, string? Expected, string? Actual)
{
    public override string ToString() => $"{Path}: {Kind} (expected {Expected ?? "nothing"}, found {Actual ?? "nothing"})";
}

/// <summary>
/// Compares two root filesystems given as entry streams (a merge, a directory read, a tar read) by
/// path: type, permissions, owners, size, content hash, link target, device numbers, xattrs, modification
/// time and hardlink groups. Only a compact summary per entry is kept (content is hashed as it streams
/// by), so trees of any size compare in little memory.
/// </summary>
public static class RootfsComparer
{
    /// <summary>The differences, in path order.</summary>
    public static async Task<IReadOnlyList<OciRootfsDifference>> CompareAsync(
        IAsyncEnumerable<LayerEntry> expected,
        IAsyncEnumerable<LayerEntry> actual,
        RootfsProperties ignore,
        CancellationToken cancellationToken)
    {
        var expectedTree = await SummariseAsync(expected, cancellationToken).ConfigureAwait(false);
        var actualTree = await SummariseAsync(actual, cancellationToken).ConfigureAwait(false);
        return Compare(expectedTree, actualTree, ignore);
    }

    /// <summary>The entries of a merge, as a comparison reads them.</summary>
    public static async IAsyncEnumerable<LayerEntry> FromMerge(IAsyncEnumerable<MergedEntry> merged)
    {
        await foreach (var entry in merged.ConfigureAwait(false))
        {
            yield return new LayerEntry(entry.Entry, entry.Content);
        }
    }

    private static async Task<Dictionary<string, Summary>> SummariseAsync(IAsyncEnumerable<LayerEntry> entries, CancellationToken cancellationToken)
    {
        var tree = new Dictionary<string, Summary>(StringComparer.Ordinal);
        var links = new List<(string Path, string Target)>();
        var buffer = new byte[1 << 16];
        await foreach (var (entry, content) in entries.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (entry.Path is "." or "" || entry.IsWhiteout)
            {
                continue;
            }

            string? hash = null;
            if (entry.Type == OciFileType.File && content is not null)
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                }

                hash = Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
            }

            if (entry.Type == OciFileType.Hardlink && entry.LinkTarget is not null)
            {
                links.Add((entry.Path, entry.LinkTarget));
            }

            tree[entry.Path] = new Summary(entry, hash, null);
        }

        // A hardlink is its target's inode under another name: same metadata and content. A group is
        // described by all its names, so groups compare whichever name each side saw first.
        var groups = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (path, target) in links)
        {
            var root = target;
            for (var hops = 0; tree.TryGetValue(root, out var next) && next.Entry.Type == OciFileType.Hardlink && next.Entry.LinkTarget is { } further && hops < 64; hops++)
            {
                root = further;
            }

            if (!tree.TryGetValue(root, out var file) || file.Entry.Type != OciFileType.File)
            {
                continue;
            }

            if (!groups.TryGetValue(root, out var members))
            {
                groups[root] = members = [root];
            }

            members.Add(path);
            tree[path] = file with { Entry = file.Entry.With(path: path) };
        }

        foreach (var members in groups.Values)
        {
            members.Sort(StringComparer.Ordinal);
            var names = string.Join(", ", members);
            foreach (var member in members)
            {
                tree[member] = tree[member] with { Group = names };
            }
        }

        return tree;
    }

    private static List<OciRootfsDifference> Compare(Dictionary<string, Summary> expected, Dictionary<string, Summary> actual, RootfsProperties ignore)
    {
        var differences = new List<OciRootfsDifference>();
        var expectedParents = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in expected.Keys)
        {
            for (var parent = EntryName.Parent(path); parent != "." && expectedParents.Add(parent); parent = EntryName.Parent(parent))
            {
            }
        }

        foreach (var path in expected.Keys.Union(actual.Keys).Order(StringComparer.Ordinal))
        {
            var hasExpected = expected.TryGetValue(path, out var want);
            var hasActual = actual.TryGetValue(path, out var have);
            if (!hasExpected)
            {
                // A merge never lists the parents no layer listed; the writer makes them as directories.
                if (have!.Entry.Type == OciFileType.Directory && expectedParents.Contains(path))
                {
                    continue;
                }

                differences.Add(new(path, RootfsDifferenceKind.Extra, null, Describe(have.Entry)));
                continue;
            }

            if (!hasActual)
            {
                differences.Add(new(path, RootfsDifferenceKind.Missing, Describe(want!.Entry), null));
                continue;
            }

            CompareEntry(path, want!, have!, ignore, differences);
        }

        return differences;
    }

    private static void CompareEntry(string path, Summary want, Summary have, RootfsProperties ignore, List<OciRootfsDifference> differences)
    {
        var (e, a) = (want.Entry, have.Entry);
        if (e.Type != a.Type)
        {
            differences.Add(new(path, RootfsDifferenceKind.Type, Describe(e), Describe(a)));
            return;
        }

        void Check(RootfsDifferenceKind kind, RootfsProperties property, string? expected, string? actual)
        {
            if ((ignore & property) == 0 && !string.Equals(expected, actual, StringComparison.Ordinal))
            {
                differences.Add(new(path, kind, expected, actual));
            }
        }

        Check(RootfsDifferenceKind.Mode, RootfsProperties.Mode, e.ModeOctal, a.ModeOctal);
        Check(RootfsDifferenceKind.Owner, RootfsProperties.Owner, $"{e.Uid}:{e.Gid}", $"{a.Uid}:{a.Gid}");
        if (e.Type == OciFileType.File)
        {
            Check(RootfsDifferenceKind.Size, RootfsProperties.None, e.Size.ToString(System.Globalization.CultureInfo.InvariantCulture), a.Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (e.Size == a.Size)
            {
                Check(RootfsDifferenceKind.Content, RootfsProperties.Content, want.ContentHash, have.ContentHash);
            }

            Check(RootfsDifferenceKind.Hardlink, RootfsProperties.Hardlink, want.Group, have.Group);
        }

        Check(RootfsDifferenceKind.LinkTarget, RootfsProperties.None, e.Type == OciFileType.Symlink ? e.LinkTarget : null, a.Type == OciFileType.Symlink ? a.LinkTarget : null);
        if (e.Type is OciFileType.CharDevice or OciFileType.BlockDevice)
        {
            Check(RootfsDifferenceKind.Device, RootfsProperties.None, $"{e.DeviceMajor}:{e.DeviceMinor}", $"{a.DeviceMajor}:{a.DeviceMinor}");
        }

        Check(RootfsDifferenceKind.Xattrs, RootfsProperties.Xattrs, DescribeXattrs(e), DescribeXattrs(a));
        var timeIgnored = e.Type == OciFileType.Directory ? RootfsProperties.ModifiedTime | RootfsProperties.DirectoryModifiedTime : RootfsProperties.ModifiedTime;
        if ((ignore & timeIgnored) == 0 && e.ModifiedTime != a.ModifiedTime)
        {
            differences.Add(new(path, RootfsDifferenceKind.ModifiedTime, Time(e.ModifiedTime), Time(a.ModifiedTime)));
        }
    }

    private static string Describe(OciFileEntry entry) => entry.Type switch
    {
        OciFileType.Symlink => $"symlink -> {entry.LinkTarget}",
        OciFileType.File => $"file {entry.ModeOctal} {entry.Size} bytes",
        OciFileType.CharDevice or OciFileType.BlockDevice => $"{entry.Type} {entry.DeviceMajor}:{entry.DeviceMinor}",
        _ => $"{entry.Type} {entry.ModeOctal}",
    };

    private static string DescribeXattrs(OciFileEntry entry) =>
        string.Join(", ", entry.Xattrs.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key}=0x{Convert.ToHexString(x.Value).ToLowerInvariant()}"));

    private static string Time(UnixTime time) => $"{time.Seconds}.{time.Nanoseconds:D9}";

    private sealed record Summary(OciFileEntry Entry, string? ContentHash, string? Group);
}

/// <summary>Reads an exported root filesystem back: a directory, or a tar (plain, gzip or zstd).</summary>
public static class RootfsReader
{
    public static IAsyncEnumerable<LayerEntry> Open(string path, CancellationToken cancellationToken)
    {
        if (Directory.Exists(path))
        {
            return DirectoryTreeReader.ReadAsync(path, new DirectoryTreeOptions(), cancellationToken);
        }

        if (File.Exists(path))
        {
            return LayerReader.ReadAsync(File.OpenRead(path), null, null, null, $"'{path}'", cancellationToken);
        }

        throw new OciException("RootfsNotFound", OciErrorKind.NotFound, $"'{path}' is neither a directory nor a tar file.", path);
    }
}
