using System.Text;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;

namespace OciPS.Core.Tests.Merge;

/// <summary>
/// A layer tar built entry by entry with the engine's tar writer (which keeps binary xattrs and
/// non-UTF-8 names exact), for merge tests that need every kind of entry, hostile ones included.
/// </summary>
internal sealed class TarLayer
{
    public static readonly UnixTime Time = new(1_700_000_000, 250_000_000);
    private readonly List<(TarHeader Header, byte[]? Content)> _entries = [];

    public TarLayer Dir(string name, int mode = 0x1ED, long uid = 0, long gid = 0) =>
        Add(new TarHeader { Name = name, Kind = TarEntryKind.Directory, Mode = mode, Uid = uid, Gid = gid, ModifiedTime = Time });

    public TarLayer File(string name, string text, int mode = 0x1A4, long uid = 0, long gid = 0, IReadOnlyDictionary<string, byte[]>? xattrs = null) =>
        File(name, Encoding.UTF8.GetBytes(text), mode, uid, gid, xattrs);

    public TarLayer File(string name, byte[] content, int mode = 0x1A4, long uid = 0, long gid = 0, IReadOnlyDictionary<string, byte[]>? xattrs = null) =>
        Add(new TarHeader { Name = name, Kind = TarEntryKind.File, Mode = mode, Uid = uid, Gid = gid, Size = content.Length, ModifiedTime = Time, Xattrs = xattrs ?? new Dictionary<string, byte[]>() }, content);

    public TarLayer Symlink(string name, string target) =>
        Add(new TarHeader { Name = name, Kind = TarEntryKind.Symlink, LinkName = target, Mode = 0x1FF, ModifiedTime = Time });

    public TarLayer Hardlink(string name, string target) =>
        Add(new TarHeader { Name = name, Kind = TarEntryKind.Hardlink, LinkName = target, Mode = 0x1A4, ModifiedTime = Time });

    public TarLayer Whiteout(string path)
    {
        var slash = path.LastIndexOf('/');
        return File(slash < 0 ? ".wh." + path : path[..(slash + 1)] + ".wh." + path[(slash + 1)..], []);
    }

    public TarLayer Opaque(string directory) => File(directory.TrimEnd('/') + "/.wh..wh..opq", []);

    public TarLayer Node(string name, TarEntryKind kind, int major = 0, int minor = 0, int mode = 0x1B6) =>
        Add(new TarHeader { Name = name, Kind = kind, Mode = mode, DeviceMajor = major, DeviceMinor = minor, ModifiedTime = Time });

    public TarLayer Add(TarHeader header, byte[]? content = null)
    {
        _entries.Add((header, content));
        return this;
    }

    public byte[] ToTar()
    {
        using var buffer = new MemoryStream();
        var writer = new TarWriter(buffer, leaveOpen: true);
        foreach (var (header, content) in _entries)
        {
            writer.WriteAsync(header, content is null ? null : new MemoryStream(content), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }

        writer.CompleteAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return buffer.ToArray();
    }

    /// <summary>Merge layers over in-memory tars, bottom first.</summary>
    public static IReadOnlyList<MergeLayer> Layers(params TarLayer[] layers) =>
        layers.Select((layer, index) =>
        {
            var tar = layer.ToTar();
            return new MergeLayer(index, "layer " + index, ct => LayerReader.ReadAsync(new MemoryStream(tar), null, index, null, "layer " + index, ct));
        }).ToArray();
}

/// <summary>What a merge produced: entries by path with their content as text, and the issues reported.</summary>
internal sealed record MergeResult(IReadOnlyList<(OciFileEntry Entry, string? Text)> Entries, IReadOnlyList<MergeIssue> Issues)
{
    public static async Task<MergeResult> RunAsync(params TarLayer[] layers)
    {
        var issues = new List<MergeIssue>();
        var entries = new List<(OciFileEntry, string?)>();
        await foreach (var merged in new LayerMerger(TarLayer.Layers(layers), issues.Add).MergeAsync(CancellationToken.None))
        {
            string? text = null;
            if (merged.Content is not null)
            {
                using var reader = new StreamReader(merged.Content, leaveOpen: true);
                text = await reader.ReadToEndAsync();
            }

            entries.Add((merged.Entry, text));
        }

        return new MergeResult(entries, issues);
    }

    public IEnumerable<string> Paths => Entries.Select(e => e.Entry.Path).Order(StringComparer.Ordinal);

    public OciFileEntry this[string path] => Entries.Single(e => e.Entry.Path == path).Entry;

    public string? Text(string path) => Entries.Single(e => e.Entry.Path == path).Text;
}
