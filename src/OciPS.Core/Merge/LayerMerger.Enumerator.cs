using OciPS.Core.Layers;

namespace OciPS.Core.Merge;

public sealed partial class LayerMerger
{
    /// <summary>One pass of the merge (a merger is enumerated once).</summary>
    private sealed class Sequence(LayerMerger merger, CancellationToken cancellationToken) : IAsyncEnumerable<MergedEntry>
    {
        public IAsyncEnumerator<MergedEntry> GetAsyncEnumerator(CancellationToken enumeratorCancellation = default) =>
            new Enumerator(merger, cancellationToken.CanBeCanceled ? cancellationToken : enumeratorCancellation);
    }

    /// <summary>
    /// The merge, layer after layer (newest first), then the rereads of hardlink targets. An entry whose
    /// layer entry is ready is merged and handed out synchronously; the async path runs only to wait
    /// for bytes, to open or close a layer, and for the rereads.
    /// </summary>
    private sealed class Enumerator(LayerMerger merger, CancellationToken cancellationToken) : IAsyncEnumerator<MergedEntry>
    {
        private readonly string _parentKey = "merge:" + merger._activity;
        private readonly List<MergedEntry> _outputs = [];
        private int _next;
        private int _position = merger._layers.Count;
        private IAsyncEnumerator<LayerEntry>? _entries;
        private LayerState? _state;
        private long _count;
        private string _key = string.Empty;
        private IAsyncEnumerator<MergedEntry>? _rereads;
        private bool _started;
        private bool _layersDone;
        private bool _ended;

        public MergedEntry Current { get; private set; } = null!;

        public ValueTask<bool> MoveNextAsync()
        {
            while (_next == _outputs.Count && _entries is not null)
            {
                var moved = _entries.MoveNextAsync();
                if (!moved.IsCompletedSuccessfully)
                {
                    return MoveNextAfterAsync(moved, pending: true);
                }

                if (!moved.Result)
                {
                    return MoveNextAfterAsync(ValueTask.FromResult(false), pending: true);
                }

                Take();
            }

            return _next < _outputs.Count ? ValueTask.FromResult(Hand()) : MoveNextAfterAsync(default, pending: false);
        }

        public async ValueTask DisposeAsync()
        {
            if (_entries is not null)
            {
                await _entries.DisposeAsync().ConfigureAwait(false);
                _entries = null;
            }

            if (_rereads is not null)
            {
                await _rereads.DisposeAsync().ConfigureAwait(false);
                _rereads = null;
            }
        }

        /// <summary>Where the next entry needs waiting; with <paramref name="pending"/>, <paramref name="moved"/> is the current layer's move, not yet awaited.</summary>
        private async ValueTask<bool> MoveNextAfterAsync(ValueTask<bool> moved, bool pending)
        {
            while (true)
            {
                if (pending)
                {
                    pending = false;
                    if (await moved.ConfigureAwait(false))
                    {
                        Take();
                    }
                    else
                    {
                        await EndLayerAsync().ConfigureAwait(false);
                    }
                }

                if (_next < _outputs.Count)
                {
                    return Hand();
                }

                if (_entries is not null)
                {
                    moved = _entries.MoveNextAsync();
                    pending = true;
                }
                else if (_position > 0)
                {
                    StartLayer();
                }
                else if (!_layersDone)
                {
                    EndLayers();
                }
                else if (_rereads is not null)
                {
                    if (await _rereads.MoveNextAsync().ConfigureAwait(false))
                    {
                        Current = _rereads.Current;
                        return true;
                    }

                    await _rereads.DisposeAsync().ConfigureAwait(false);
                    _rereads = null;
                }
                else
                {
                    if (!_ended)
                    {
                        _ended = true;
                        merger._progress?.Report(new OciProgress(_parentKey, null, merger._activity, "done", merger._layers.Count, merger._layers.Count, false, true));
                    }

                    return false;
                }
            }
        }

        private MergedEntry HandNext()
        {
            var output = _outputs[_next++];
            if (_next == _outputs.Count)
            {
                _outputs.Clear();
                _next = 0;
            }

            return output;
        }

        private bool Hand()
        {
            Current = HandNext();
            return true;
        }

        /// <summary>Merges the current layer's current entry into <see cref="_outputs"/>.</summary>
        private void Take()
        {
            merger.Process(_state!, _entries!.Current, _outputs);
            if (++_count % 1000 == 0)
            {
                merger._progress?.Report(new OciProgress(_key, _parentKey, "Layer " + _state!.Layer.Index, "entries read", _count, null, false, false));
            }
        }

        private void StartLayer()
        {
            var layers = merger._layers;
            if (!_started)
            {
                _started = true;
                merger.StartPrefetching(cancellationToken);
            }

            var layer = layers[--_position];
            _state = new LayerState(layer);
            _count = 0;
            _key = _parentKey + ":" + layer.Index;
            merger._progress?.Report(new OciProgress(_parentKey, null, merger._activity, $"layer {layers.Count - _position} of {layers.Count}", layers.Count - 1 - _position, layers.Count, false, false));
            _entries = layer.Open(cancellationToken).GetAsyncEnumerator(cancellationToken);
        }

        private async ValueTask EndLayerAsync()
        {
            merger._progress?.Report(new OciProgress(_key, _parentKey, "Layer " + _state!.Layer.Index, "entries read", _count, null, false, true));
            var entries = _entries!;
            _entries = null;
            await entries.DisposeAsync().ConfigureAwait(false);
        }

        /// <summary>All layers are read: links whose target never came are reported, and the rereads begin.</summary>
        private void EndLayers()
        {
            _layersDone = true;
            if (!_started)
            {
                _started = true;
                merger.StartPrefetching(cancellationToken);
            }

            foreach (var (target, links) in merger._pending)
            {
                foreach (var link in links)
                {
                    merger.Report(link.State, "MergeHardlinkBroken", MergeIssueSeverity.Error, link.Entry.Path, $"the hardlink '{link.Entry.Path}' points to '{target}', which no lower layer holds; it is left out");
                }
            }

            merger._pending.Clear();
            _rereads = merger.RereadAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        }
    }
}
