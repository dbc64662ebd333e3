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
    /// <summary>The layers of an image, bottom first (empty history steps have none).</summary>
    public static IReadOnlyList<MergeLayer> Of(OciImage image) =>
        image.Layers.Select(layer => new MergeLayer(layer.Index!.Value, layer.DisplayName, ct => LayerReader.ReadAsync(layer, ct))).ToArray();
}

/// <summary>An entry of the merged filesystem and, for a regular file, its content (readable until the next entry).</summary>
public sealed record MergedEntry(OciFileEntry Entry, Stream? Content);

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
