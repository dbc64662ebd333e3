namespace OciPS.Core.Model;

/// <summary>
/// One step of an image's history: a filesystem layer (with its blob descriptor and diffID), or an
/// empty step such as ENV or CMD that changed no files (<see cref="EmptyLayer"/>).
/// </summary>
public sealed class OciLayer
{
    private OciLayer(OciImage image, int? index, int? historyIndex, Descriptor? descriptor, Digest? diffId, HistoryEntry? history)
    {
        Image = image;
        Index = index;
        HistoryIndex = historyIndex;
        Descriptor = descriptor;
        DiffId = diffId;
        History = history;
    }

    /// <summary>The image the layer belongs to; its source opens the blob.</summary>
    public OciImage Image { get; }

    /// <summary>The layer's position among the image's filesystem layers (0 = bottom); null for an empty step.</summary>
    public int? Index { get; }

    /// <summary>The position of the step in the config's history; null when the image has no history for it.</summary>
    public int? HistoryIndex { get; }

    /// <summary>The blob descriptor; null for an empty step.</summary>
    public Descriptor? Descriptor { get; }

    public HistoryEntry? History { get; }

    public Digest? Digest => Descriptor?.Digest;

    /// <summary>The digest of the uncompressed tar, from the config's rootfs.</summary>
    public Digest? DiffId { get; }

    public string? MediaType => Descriptor?.MediaType;

    /// <summary>The blob's size (compressed, as stored); 0 for an empty step.</summary>
    public long Size => Descriptor?.Size ?? 0;

    public bool EmptyLayer => Descriptor is null;

    public string? CreatedBy => History?.CreatedBy;

    public DateTimeOffset? Created => OciManifest.ParseTime(History?.Created);

    public string? Comment => History?.Comment;

    public string? Author => History?.Author;

    public IReadOnlyDictionary<string, string> Annotations => Descriptor?.Annotations ?? new Dictionary<string, string>();

    public IReadOnlyList<string> Urls => Descriptor?.Urls ?? [];

    /// <summary>A name for messages: "layer 2 (sha256:…) of oci:/x:1".</summary>
    public string DisplayName => Index is null
        ? $"empty step {HistoryIndex} of {Image.Location}"
        : $"layer {Index} ({Digest}) of {Image.Location}";

    public override string ToString() => Index is null ? $"(empty) {CreatedBy}" : $"{Index} {Digest}";

    /// <summary>
    /// Pairs the manifest's layers with the config's history: each step that is not marked empty takes
    /// the next layer. Layers beyond the history get no history; history beyond the layers gets no layer.
    /// </summary>
    internal static (IReadOnlyList<OciLayer> Layers, IReadOnlyList<OciLayer> History) Join(OciImage image)
    {
        var descriptors = image.Manifest.Layers;
        var diffIds = image.Config?.RootFs?.DiffIds;
        Digest? DiffIdOf(int index) => diffIds is not null && index < diffIds.Count ? diffIds[index] : null;

        var layers = new List<OciLayer>(descriptors.Count);
        var history = new List<OciLayer>();
        var entries = image.Config?.History ?? [];
        var next = 0;
        for (var h = 0; h < entries.Count; h++)
        {
            var entry = entries[h];
            if (entry.EmptyLayer == true || next >= descriptors.Count)
            {
                history.Add(new OciLayer(image, null, h, null, null, entry));
                continue;
            }

            var layer = new OciLayer(image, next, h, descriptors[next], DiffIdOf(next), entry);
            layers.Add(layer);
            history.Add(layer);
            next++;
        }

        for (; next < descriptors.Count; next++)
        {
            var layer = new OciLayer(image, next, null, descriptors[next], DiffIdOf(next), null);
            layers.Add(layer);
            history.Add(layer);
        }

        return (layers, history);
    }
}
