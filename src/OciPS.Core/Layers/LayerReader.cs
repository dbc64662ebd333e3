using System.Runtime.CompilerServices;
using OciPS.Core.Content;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;

namespace OciPS.Core.Layers;

/// <summary>
/// One raw entry of a layer and, for a regular file, its content: readable only until the next entry
/// is requested.
/// </summary>
public sealed record LayerEntry(OciFileEntry Entry, Stream? Content);

/// <summary>
/// Streams the raw entries of a layer: the blob is opened through its source (digest-verified),
/// decompressed as its bytes say, read as tar, and its diffID checked over the uncompressed bytes when
/// the end is reached. Nothing is extracted and nothing is held in memory.
/// </summary>
public static class LayerReader
{
    public const string OpaqueMarker = ".wh..wh..opq";
    public const string WhiteoutPrefix = ".wh.";

    /// <summary>The entries of one layer of an image (nothing for an empty history step).</summary>
    public static IAsyncEnumerable<LayerEntry> ReadAsync(OciLayer layer, CancellationToken cancellationToken = default)
    {
        if (layer.Descriptor is not { } descriptor)
        {
            return None();
        }

        if (layer.Image.Source is IExtractedLayerSource extracted)
        {
            return extracted.ReadLayerAsync(layer, cancellationToken);
        }

        return new TarLayer(ct => layer.Image.Source.OpenBlobAsync(descriptor, ct), layer.DiffId, layer.Index, layer.Digest, layer.DisplayName, cancellationToken);
    }

    /// <summary>
    /// The entries of a layer blob given as a stream (owned and disposed here). With
    /// <paramref name="diffId"/>, the uncompressed bytes must hash to it.
    /// </summary>
    public static IAsyncEnumerable<LayerEntry> ReadAsync(
        Stream blob,
        Digest? diffId,
        int? layerIndex,
        Digest? layerDigest,
        string layerName,
        CancellationToken cancellationToken = default) =>
        new TarLayer(_ => Task.FromResult(blob), diffId, layerIndex, layerDigest, layerName, cancellationToken);

    /// <summary>The engine's view of a tar entry: normalised path, whiteouts classified.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static OciFileEntry ToEntry(TarHeader header, int? layerIndex, Digest? layerDigest)
    {
        var path = EntryName.Normalize(header.Name);
        var fileName = EntryName.FileName(path);
        var type = header.Kind switch
        {
            TarEntryKind.Directory => OciFileType.Directory,
            TarEntryKind.Symlink => OciFileType.Symlink,
            TarEntryKind.Hardlink => OciFileType.Hardlink,
            TarEntryKind.CharDevice => OciFileType.CharDevice,
            TarEntryKind.BlockDevice => OciFileType.BlockDevice,
            TarEntryKind.Fifo => OciFileType.Fifo,
            _ => OciFileType.File,
        };
        if (fileName == OpaqueMarker)
        {
            type = OciFileType.OpaqueWhiteout;
            path = EntryName.Parent(path);
        }
        else if (fileName.StartsWith(WhiteoutPrefix, StringComparison.Ordinal) && fileName.Length > WhiteoutPrefix.Length)
        {
            type = OciFileType.Whiteout;
            var parent = EntryName.Parent(path);
            var hidden = fileName[WhiteoutPrefix.Length..];
            path = parent == "." ? hidden : parent + "/" + hidden;
        }

        return new OciFileEntry
        {
            Path = path,
            Type = type,
            Mode = header.Mode,
            Uid = header.Uid,
            Gid = header.Gid,
            UserName = header.UserName,
            GroupName = header.GroupName,
            Size = type == OciFileType.File ? header.Size : 0,
            ModifiedTime = header.ModifiedTime,
            AccessTime = header.AccessTime,
            ChangeTime = header.ChangeTime,
            LinkTarget = type switch
            {
                OciFileType.Hardlink => header.LinkName is null ? null : EntryName.Normalize(header.LinkName),
                OciFileType.Symlink => header.LinkName ?? string.Empty,
                _ => null,
            },
            DeviceMajor = type is OciFileType.CharDevice or OciFileType.BlockDevice ? header.DeviceMajor : 0,
            DeviceMinor = type is OciFileType.CharDevice or OciFileType.BlockDevice ? header.DeviceMinor : 0,
            Xattrs = header.Xattrs,
            SparseMap = header.SparseMap,
            RawName = header.Name,
            LayerIndex = layerIndex,
            LayerDigest = layerDigest,
        };
    }

    private static bool IsCorruption(Exception exception) =>
        exception is InvalidDataException or EndOfStreamException || exception.GetType().FullName == "ZstdSharp.ZstdException";

    private static CorruptContentException Corrupt(string layerName, Exception inner) =>
        new("LayerCorrupt", $"{layerName} cannot be decompressed: {inner.Message}", layerName, inner);

    /// <summary>The entries of a tar layer blob (read once per enumeration).</summary>
    private sealed record TarLayer(
        Func<CancellationToken, Task<Stream>> OpenBlob,
        Digest? DiffId,
        int? LayerIndex,
        Digest? LayerDigest,
        string LayerName,
        CancellationToken Cancellation) : IAsyncEnumerable<LayerEntry>
    {
        public IAsyncEnumerator<LayerEntry> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
            new Entries(this, Cancellation.CanBeCanceled ? Cancellation : cancellationToken);

        /// <summary>
        /// Reads the layer entry by entry. An entry whose headers are ready is handed out synchronously;
        /// the async path opens the blob, waits for bytes, and at the end of the archive drains the stream
        /// so that the diffID and (through the decompressor) the blob's digest are checked.
        /// </summary>
        private sealed class Entries(TarLayer layer, CancellationToken cancellationToken) : IAsyncEnumerator<LayerEntry>
        {
            private readonly Stack<IAsyncDisposable> _owned = new();
            private TarReader? _reader;
            private bool _ended;

            public LayerEntry Current { get; private set; } = null!;

            public ValueTask<bool> MoveNextAsync()
            {
                if (_reader is null)
                {
                    return _ended ? ValueTask.FromResult(false) : StartAsync();
                }

                var next = _reader.ReadNextAsync(cancellationToken);
                if (!next.IsCompletedSuccessfully)
                {
                    return MoveNextAfterAsync(next);
                }

                return next.Result is { } header ? ValueTask.FromResult(Take(header)) : MoveNextAfterAsync(ValueTask.FromResult<TarHeader?>(null));
            }

            public async ValueTask DisposeAsync()
            {
                _reader = null;
                while (_owned.TryPop(out var owned))
                {
                    await owned.DisposeAsync().ConfigureAwait(false);
                }
            }

            private bool Take(TarHeader header)
            {
                var entry = ToEntry(header, layer.LayerIndex, layer.LayerDigest);
                Current = new LayerEntry(entry, entry.Type == OciFileType.File ? _reader!.DataStream : null);
                return true;
            }

            private async ValueTask<bool> MoveNextAfterAsync(ValueTask<TarHeader?> next)
            {
                if (await next.ConfigureAwait(false) is { } header)
                {
                    return Take(header);
                }

                // Reading past the end-of-archive marker reaches the end of the stream, where the diffID and
                // (through the decompressor) the blob's digest are checked.
                await _reader!.DrainAsync(cancellationToken).ConfigureAwait(false);
                _ended = true;
                await DisposeAsync().ConfigureAwait(false);
                return false;
            }

            private async ValueTask<bool> StartAsync()
            {
                // A layer is read by four threads, each a few blocks ahead of the next: reading the blob and
                // checking its digest; decompressing; checking the diffID; and the reader (tar, merge, sink).
                // With the first three on one thread, that thread held back the reader on two cores.
                var blob = await layer.OpenBlob(cancellationToken).ConfigureAwait(false);
                _owned.Push(blob);
                var compressed = new ReadAheadStream(blob);
                _owned.Push(compressed);
                Stream decompressed;
                try
                {
                    (decompressed, _) = await LayerDecompressor.OpenAsync(compressed, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsCorruption(ex))
                {
                    throw Corrupt(layer.LayerName, ex);
                }

                Stream tar = new ReadAheadStream(new CorruptionTranslatingStream(decompressed, layer.LayerName));
                if (layer.DiffId is not null)
                {
                    tar = new VerifyingStream(tar, layer.DiffId, -1, $"The uncompressed content of {layer.LayerName} (its diffID)");
                }

                var ahead = new ReadAheadStream(tar);
                _owned.Push(ahead);
                _reader = new TarReader(ahead, layer.LayerName);
                _owned.Push(_reader);
                return await MoveNextAsync().ConfigureAwait(false);
            }
        }
    }

    private static async IAsyncEnumerable<LayerEntry> None()
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }

    /// <summary>Reports decompression failures (gzip, zstd) as corrupt-layer errors naming the layer.</summary>
    private sealed class CorruptionTranslatingStream(Stream inner, string layerName) : ReadOnlyStream
    {
        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (Exception ex) when (IsCorruption(ex))
            {
                throw Corrupt(layerName, ex);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsCorruption(ex))
            {
                throw Corrupt(layerName, ex);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }
}
