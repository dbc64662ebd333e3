using Microsoft.Win32.SafeHandles;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>
/// Gathers the data writes of an image into 1 MiB writes. Blocks are handed out strictly in order, so
/// every write lands at or after the end of the previous one; small files then cost a copy, not a
/// system call each. Gaps (the rest of a file's last block, blocks reserved for later) are zeros.
/// </summary>
internal sealed class Ext4DataWriter(SafeFileHandle file)
{
    private readonly byte[] _buffer = new byte[1 << 20];
    private long _start;
    private int _length;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, long position, CancellationToken cancellationToken)
    {
        var end = _start + _length;
        if (_length > 0 && (position < end || position + data.Length - _start > _buffer.Length))
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        if (data.Length >= _buffer.Length)
        {
            await RandomAccess.WriteAsync(file, data, position, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (_length == 0)
        {
            _start = position;
        }

        var at = (int)(position - _start);
        _buffer.AsSpan(_length, at - _length).Clear();
        data.Span.CopyTo(_buffer.AsSpan(at));
        _length = at + data.Length;
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_length > 0)
        {
            await RandomAccess.WriteAsync(file, _buffer.AsMemory(0, _length), _start, cancellationToken).ConfigureAwait(false);
            _length = 0;
        }
    }
}
