using OciPS.Core.Layers;
using OciPS.Core.Model;

namespace OciPS.Core.Merge;

/// <summary>
/// One layer as the merge sees it: its position and a way to stream its raw entries. Opening it twice
/// reads it twice (the merge does so only to recover a hardlink's content, a rare case).
/// </summary>
/// <param name="Index">The layer's position, 0 = bottom.</param>
/// <param name="Name">Names the layer in messages.</param>
/// <param name="Open">Streams the layer's raw entries (whiteouts typed), content valid until the next entry.</param>
public sealed record MergeLayer(int Index, string Name, Func<CancellationToken, IAsyncEnumerable<LayerEntry>> Open)
{
    /// <summary>Starts fetching the layer ahead of <see cref="Open"/> (a registry download); null where there is nothing to fetch.</summary>
    public Func<CancellationToken, Task>? Prefetch { get; init; }

    /// <summary>The layers of an image, bottom first (empty history steps have none).</summary>
    public static IReadOnlyList<MergeLayer> Of(OciImage image) =>
        image.Layers.Select(layer => new MergeLayer(layer.Index!.Value, layer.DisplayName, ct => LayerReader.ReadAsync(layer, ct))
        {
            Prefetch = image.Source is Content.IPrefetchingSource source && layer.Descriptor is { } blob ? ct => source.PrefetchAsync(blob, ct) : null,
        }).ToArray();
}

/// <summary>
/// An entry of the merged filesystem and, for a regular file, its content (readable until the next
/// entry). <paramref name="Origin"/> says where the bytes of a file (or of a hardlink's target) can be
/// read again later.
/// </summary>
public sealed record MergedEntry(OciFileEntry Entry, Stream? Content, ContentOrigin? Origin = null)
{
    /// <summary>The entry with its content attached, for passing down a pipeline.</summary>
    public OciFileEntry WithContent() =>
        Entry.Type is OciFileType.File or OciFileType.Hardlink && (Content is not null || Origin is not null)
            ? Entry.With(content: new MergedContent(Content, Origin))
            : Entry;
}

/// <summary>A merged file's bytes: live while the merge is at the entry, else read again from its layer.</summary>
public sealed class MergedContent(Stream? live, ContentOrigin? origin) : EntryContent
{
    public ContentOrigin? Origin { get; } = origin;

    public override bool IsLive => live is ILiveStream { IsLive: true };

    public override Task<Stream> OpenAsync(CancellationToken cancellationToken) =>
        IsLive ? Task.FromResult(live!)
        : Origin is not null ? Origin.OpenAsync(cancellationToken)
        : throw new OciException("EntryContentNotFound", OciErrorKind.NotFound, "The content of this entry has streamed by and cannot be read again.");
}

/// <summary>Where a file's bytes are: a regular file entry of one layer.</summary>
public sealed record ContentOrigin(MergeLayer Layer, string Path)
{
    /// <summary>
    /// Reads the layer again up to the entry and returns its content; the returned stream owns the
    /// layer reader, so disposing it ends the read. The slow path, for content no longer streaming by.
    /// </summary>
    public async Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        var entries = Layer.Open(cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (await entries.MoveNextAsync().ConfigureAwait(false))
            {
                var raw = entries.Current;
                if (raw.Entry.Type == OciFileType.File && raw.Entry.Path == Path && raw.Content is not null)
                {
                    return new EnumeratorOwningStream(raw.Content, entries);
                }
            }
        }
        catch
        {
            await entries.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        await entries.DisposeAsync().ConfigureAwait(false);
        throw new OciException("EntryContentNotFound", OciErrorKind.NotFound, $"{Layer.Name} has no file '{Path}' any more.", Path);
    }

    private sealed class EnumeratorOwningStream(Stream inner, IAsyncEnumerator<LayerEntry> owner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask DisposeAsync()
        {
            await owner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _ = owner.DisposeAsync().AsTask();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>How serious a merge issue is.</summary>
public enum MergeIssueSeverity
{
    /// <summary>The entry was neutralised (e.g. a path clamped inside the root) and kept.</summary>
    Warning,

    /// <summary>The entry was dropped.</summary>
    Error,
}

/// <summary>Something wrong with an entry of a layer, found while merging; the merge goes on.</summary>
/// <param name="ErrorId">A PowerShell-style error id (<c>MergeEntryEscapes</c>, <c>MergeHardlinkBroken</c>…).</param>
public sealed record MergeIssue(string ErrorId, MergeIssueSeverity Severity, string Message, int LayerIndex, string Layer, string Entry);

/// <summary>A merge issue as an exception, for hosts that report errors as exceptions (PowerShell's ErrorRecord).</summary>
public sealed class MergeIssueException(MergeIssue issue)
    : OciException(issue.ErrorId, issue.ErrorId is "MergeEntryEscapes" or "MergeEntryUnderNonDirectory" or "MergeEntryReplacesRoot" ? OciErrorKind.Security : OciErrorKind.InvalidData, issue.Message, issue.Entry)
{
    public MergeIssue Issue { get; } = issue;
}
