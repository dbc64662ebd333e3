using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks.Directory;
using OciPS.Core.Sinks.Ext4;
using OciPS.Core.Sinks.SquashFs;
using OciPS.Core.Sinks.Tar;

namespace OciPS.Core.Sinks;

/// <summary>The formats a merged root filesystem can be exported as.</summary>
public enum RootfsFormat
{
    Directory,
    Tar,
    SquashFs,
    Ext4,
}

/// <summary>Every option of every rootfs format; each sink takes the ones it understands.</summary>
public sealed record RootfsExportOptions
{
    public bool Force { get; init; }

    public long? SourceDateEpoch { get; init; }

    public bool SameOwner { get; init; } = true;

    public TarCompression Compression { get; init; }

    public int? CompressionLevel { get; init; }

    /// <summary>SquashFs: the data block size (null for 128 KiB).</summary>
    public int? BlockSize { get; init; }

    /// <summary>Ext4: size, label, UUID, inode ratio, journal (Force, SourceDateEpoch and BlockSize come from here).</summary>
    public Ext4SinkOptions? Ext4 { get; init; }
}

/// <summary>What an export wrote.</summary>
public sealed record RootfsExportSummary(long Entries, long Files, long Bytes);

/// <summary>Runs merged entries into a sink: straight from the merge, or one by one from a pipeline.</summary>
public static class RootfsExport
{
    public static IRootfsSink CreateSink(RootfsFormat format, string path, RootfsExportOptions options, Action<string>? warn) => format switch
    {
        RootfsFormat.Directory => DirectorySink.Create(path, new DirectorySinkOptions { Force = options.Force, SameOwner = options.SameOwner, SourceDateEpoch = options.SourceDateEpoch }, warn),
        RootfsFormat.Tar => TarSink.Create(path, new TarSinkOptions { Force = options.Force, SourceDateEpoch = options.SourceDateEpoch, Compression = options.Compression, CompressionLevel = options.CompressionLevel }, warn),
        RootfsFormat.SquashFs => SquashFsSink.Create(path, new SquashFsSinkOptions { Force = options.Force, SourceDateEpoch = options.SourceDateEpoch, Compression = options.Compression == TarCompression.Zstd ? SquashFsCompression.Zstd : SquashFsCompression.Gzip, CompressionLevel = options.CompressionLevel, BlockSize = options.BlockSize ?? SquashFsSinkOptions.DefaultBlockSize }, warn),
        RootfsFormat.Ext4 => Ext4Sink.Create(path, (options.Ext4 ?? new Ext4SinkOptions()) with { Force = options.Force, SourceDateEpoch = options.SourceDateEpoch, BlockSize = options.BlockSize ?? 4096 }, warn),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown rootfs format."),
    };

    /// <summary>Merges and writes; the sink is completed (output moved into place) only when everything succeeded.</summary>
    public static async Task<RootfsExportSummary> RunAsync(IAsyncEnumerable<MergedEntry> entries, IRootfsSink sink, CancellationToken cancellationToken)
    {
        long count = 0, files = 0, bytes = 0;
        await foreach (var merged in entries.ConfigureAwait(false))
        {
            await sink.AddAsync(merged.Entry, merged.Content, cancellationToken).ConfigureAwait(false);
            count++;
            if (merged.Entry.Type == OciFileType.File)
            {
                files++;
                bytes += merged.Entry.Size;
            }
        }

        await sink.CompleteAsync(cancellationToken).ConfigureAwait(false);
        return new RootfsExportSummary(count, files, bytes);
    }
}

/// <summary>
/// Feeds entries that arrive one by one (a PowerShell pipeline, possibly filtered) into a sink, keeping
/// hardlink groups whole: a link whose target was filtered out becomes a file under the surviving name,
/// and later links to the same target point to it.
/// </summary>
public sealed class EntryExport(IRootfsSink sink, Action<string>? warn)
{
    private readonly HashSet<string> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _substitutes = new(StringComparer.Ordinal);
    private bool _warnedReread;
    private long _entries;
    private long _bytes;

    public async Task AddAsync(OciFileEntry entry, CancellationToken cancellationToken)
    {
        _entries++;
        switch (entry.Type)
        {
            case OciFileType.File:
                await AddFileAsync(entry, cancellationToken).ConfigureAwait(false);
                break;
            case OciFileType.Hardlink when entry.LinkTarget is { } target && _files.Contains(target):
                await sink.AddAsync(entry, null, cancellationToken).ConfigureAwait(false);
                break;
            case OciFileType.Hardlink when entry.LinkTarget is { } target && _substitutes.TryGetValue(target, out var survivor):
                await sink.AddAsync(entry.With(linkTarget: survivor), null, cancellationToken).ConfigureAwait(false);
                break;
            case OciFileType.Hardlink:
                if (entry.Content is null)
                {
                    throw new OciException("ExportHardlinkTargetMissing", OciErrorKind.InvalidData, $"The hardlink '{entry.Path}' points to '{entry.LinkTarget}', which was not exported, and it carries no content of its own.", entry.Path);
                }

                // The target was filtered out: the link becomes the file, and takes the target's place for later links.
                _substitutes[entry.LinkTarget ?? string.Empty] = entry.Path;
                await AddFileAsync(entry.With(type: OciFileType.File, linkTarget: string.Empty), cancellationToken, sizeFromContent: true).ConfigureAwait(false);
                break;
            default:
                if (entry.IsWhiteout)
                {
                    throw new OciException("ExportWhiteoutGiven", OciErrorKind.InvalidArgument, $"'{entry.Path}' is a whiteout, a raw layer entry: export merged entries (Merge-OciLayer), not raw ones (Get-OciFile).", entry.Path);
                }

                await sink.AddAsync(entry, null, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    public async Task<RootfsExportSummary> CompleteAsync(CancellationToken cancellationToken)
    {
        await sink.CompleteAsync(cancellationToken).ConfigureAwait(false);
        return new RootfsExportSummary(_entries, _files.Count, _bytes);
    }

    private async Task AddFileAsync(OciFileEntry entry, CancellationToken cancellationToken, bool sizeFromContent = false)
    {
        if ((entry.Size == 0 && !sizeFromContent) || entry.Content is null)
        {
            if (entry.Size > 0)
            {
                throw new OciException("ExportContentMissing", OciErrorKind.InvalidArgument, $"'{entry.Path}' carries no content: export entries from Merge-OciLayer.", entry.Path);
            }

            await sink.AddAsync(entry, null, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var reread = !entry.Content.IsLive;
            if (reread && !_warnedReread)
            {
                _warnedReread = true;
                warn?.Invoke("Some entries did not come straight from Merge-OciLayer (they were stored first, or their hardlink target was filtered out): their content is read again from the layers, which is slower.");
            }

            var content = await entry.Content.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (sizeFromContent)
            {
                // A link made into a file: it has the size of the content it shares.
                entry = entry.With(size: content.Length);
            }

            try
            {
                await sink.AddAsync(entry, content, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (reread)
                {
                    await content.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        _files.Add(entry.Path);
        _bytes += entry.Size;
    }
}
