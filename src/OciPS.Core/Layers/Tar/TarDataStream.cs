using System.Runtime.CompilerServices;
using OciPS.Core.Model;
using OciPS.Core.Content;

namespace OciPS.Core.Layers.Tar;

/// <summary>
/// The content of the current entry, read straight from the archive: exactly the entry's size, and for
/// a sparse file the logical content, holes given as zeros between the stored data regions.
/// </summary>
internal sealed class TarDataStream : ReadOnlyStream, ILiveStream, ILendingStream
{
    private readonly TarReader _owner;
    private readonly int _generation;
    private readonly IReadOnlyList<SparseRegion>? _regions;
    private readonly long _length;
    private long _position;
    private int _region;

    public TarDataStream(TarReader owner, int generation, long length, IReadOnlyList<SparseRegion>? regions)
    {
        _owner = owner;
        _generation = generation;
        _length = length;
        _regions = regions;
    }

    /// <summary>Whether the reader is still at this entry.</summary>
    public bool IsLive => _owner.IsCurrent(_generation);

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(Span<byte> buffer)
    {
        _owner.EnsureCurrent(_generation);
        var (want, hole) = Plan(buffer.Length);
        if (want == 0)
        {
            return 0;
        }

        if (hole)
        {
            buffer[..want].Clear();
            _position += want;
            return want;
        }

        var read = _owner.ReadData(buffer[..want]);
        _position += read;
        return read;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _owner.EnsureCurrent(_generation);
        var (want, hole) = Plan(buffer.Length);
        if (want == 0)
        {
            return ValueTask.FromResult(0);
        }

        if (hole)
        {
            buffer.Span[..want].Clear();
            _position += want;
            return ValueTask.FromResult(want);
        }

        var pending = _owner.ReadDataAsync(buffer[..want], cancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            _position += pending.Result;
            return pending;
        }

        return AdvanceAfterAsync(pending);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<byte> Peek(int max)
    {
        _owner.EnsureCurrent(_generation);
        return _regions is null && _position < _length ? _owner.PeekData((int)Math.Min(max, _length - _position)) : default;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Consume(int count)
    {
        _owner.ConsumeData(count);
        _position += count;
    }

    /// <inheritdoc/>
    public ValueTask<bool> WaitAsync(CancellationToken cancellationToken)
    {
        _owner.EnsureCurrent(_generation);
        return _regions is null && _position < _length ? _owner.WaitDataAsync(cancellationToken) : ValueTask.FromResult(false);
    }

    private async ValueTask<int> AdvanceAfterAsync(ValueTask<int> pending)
    {
        var read = await pending.ConfigureAwait(false);
        _position += read;
        return read;
    }

    /// <summary>How much of a read of <paramref name="requested"/> bytes to serve next, and whether it is a hole (zeros).</summary>
    private (int Count, bool Hole) Plan(int requested)
    {
        if (requested == 0 || _position >= _length)
        {
            return (0, false);
        }

        var want = (int)Math.Min(requested, _length - _position);
        if (_regions is null)
        {
            return (want, false);
        }

        while (_region < _regions.Count && _regions[_region].Offset + _regions[_region].Length <= _position)
        {
            _region++;
        }

        if (_region >= _regions.Count || _position < _regions[_region].Offset)
        {
            var holeEnd = _region < _regions.Count ? _regions[_region].Offset : _length;
            return ((int)Math.Min(want, holeEnd - _position), true);
        }

        var region = _regions[_region];
        return ((int)Math.Min(want, region.Offset + region.Length - _position), false);
    }

}
