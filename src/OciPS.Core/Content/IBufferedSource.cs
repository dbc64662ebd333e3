namespace OciPS.Core.Content;

/// <summary>
/// A source that lends the bytes it has buffered instead of copying them out: a reader parses them in
/// place (tar headers) or writes them straight to their destination (file content), and copies only
/// what it keeps. Lent bytes are valid until <see cref="Consume"/> or the next wait.
/// </summary>
internal interface IBufferedSource
{
    /// <summary>The bytes ready now, without waiting: empty when the next must be waited for, or at the end.</summary>
    ReadOnlySpan<byte> Peek();

    /// <summary>Marks the first <paramref name="count"/> of the bytes <see cref="Peek"/> gave as read.</summary>
    void Consume(int count);

    /// <summary>Waits until bytes are ready; false at the end of the source.</summary>
    ValueTask<bool> FillAsync(CancellationToken cancellationToken);

    /// <summary>The blocking twin of <see cref="FillAsync"/>, for synchronous readers.</summary>
    bool Fill();
}

/// <summary>Lends a plain stream's bytes through a buffer of its own.</summary>
internal sealed class StreamBufferedSource(Stream stream, int bufferSize = 1 << 16) : IBufferedSource
{
    private readonly byte[] _buffer = new byte[bufferSize];
    private int _start;
    private int _end;

    public ReadOnlySpan<byte> Peek() => _buffer.AsSpan(_start, _end - _start);

    public void Consume(int count) => _start += count;

    public async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start < _end)
        {
            return true;
        }

        _start = 0;
        _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
        return _end > 0;
    }

    public bool Fill()
    {
        if (_start < _end)
        {
            return true;
        }

        _start = 0;
        _end = stream.Read(_buffer);
        return _end > 0;
    }
}
