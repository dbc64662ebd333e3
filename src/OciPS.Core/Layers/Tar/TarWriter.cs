using System.Globalization;
using System.Text;
using OciPS.Core.Model;

namespace OciPS.Core.Layers.Tar;

/// <summary>
/// Writes a POSIX (PAX) tar: plain ustar headers when they can say everything, a PAX extended header
/// otherwise (long or non-ASCII names, binary xattrs, large ids and sizes, sub-second times). The same
/// entries always give the same bytes.
/// </summary>
public sealed class TarWriter : IAsyncDisposable
{
    private const long MaxOctal7 = (1L << 21) - 1;
    private const long MaxOctal11 = (1L << 33) - 1;
    private static readonly byte[] Zeros = new byte[TarFields.BlockSize * 2];

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _copyBuffer = new byte[1 << 16];
    private bool _completed;

    public TarWriter(Stream stream, bool leaveOpen = false)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Bytes written so far.</summary>
    public long Position { get; private set; }

    /// <summary>
    /// Writes one entry. Regular files take exactly <see cref="TarHeader.Size"/> bytes from
    /// <paramref name="content"/> (sparse files are written dense); other kinds take none.
    /// </summary>
    public async ValueTask WriteAsync(TarHeader header, Stream? content, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var name = EntryName.Encode(header.Kind == TarEntryKind.Directory && !header.Name.EndsWith('/') ? header.Name + "/" : header.Name);
        var link = header.LinkName is null ? [] : EntryName.Encode(header.LinkName);
        var size = header.Kind == TarEntryKind.File ? header.Size : 0;
        var pax = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);

        var block = new byte[TarFields.BlockSize];
        if (!TrySplitName(name, out var prefix, out var shortName))
        {
            pax["path"] = name;
            shortName = Truncate(name, TarFields.NameLength);
            prefix = [];
        }

        if (link.Length > TarFields.NameLength || !IsAscii(link))
        {
            pax["linkpath"] = link;
            link = Truncate(link, TarFields.NameLength);
        }

        shortName.CopyTo(block.AsSpan(TarFields.NameOffset));
        prefix.CopyTo(block.AsSpan(TarFields.PrefixOffset));
        link.CopyTo(block.AsSpan(TarFields.LinkNameOffset));
        TarFields.TryWriteOctal(block.AsSpan(TarFields.ModeOffset, TarFields.IdLength), header.Mode & 0xFFF);
        WriteId(block.AsSpan(TarFields.UidOffset, TarFields.IdLength), header.Uid, "uid", pax);
        WriteId(block.AsSpan(TarFields.GidOffset, TarFields.IdLength), header.Gid, "gid", pax);
        if (size > MaxOctal11)
        {
            pax["size"] = Ascii(size);
            TarFields.TryWriteOctal(block.AsSpan(TarFields.SizeOffset, TarFields.SizeLength), 0);
        }
        else
        {
            TarFields.TryWriteOctal(block.AsSpan(TarFields.SizeOffset, TarFields.SizeLength), size);
        }

        var mtime = header.ModifiedTime;
        if (mtime.Nanoseconds != 0 || mtime.Seconds < 0 || mtime.Seconds > MaxOctal11)
        {
            pax["mtime"] = Encoding.ASCII.GetBytes(TarFields.FormatPaxTime(mtime));
        }

        TarFields.TryWriteOctal(block.AsSpan(TarFields.MtimeOffset, TarFields.SizeLength), Math.Clamp(mtime.Seconds, 0, MaxOctal11));
        block[TarFields.TypeFlagOffset] = TypeFlag(header.Kind);
        TarFields.UstarMagic.CopyTo(block.AsSpan(TarFields.MagicOffset));
        "00"u8.CopyTo(block.AsSpan(TarFields.MagicOffset + 6));
        WriteOwner(block.AsSpan(TarFields.UserNameOffset, TarFields.OwnerNameLength), header.UserName, "uname", pax);
        WriteOwner(block.AsSpan(TarFields.GroupNameOffset, TarFields.OwnerNameLength), header.GroupName, "gname", pax);
        if (header.Kind is TarEntryKind.CharDevice or TarEntryKind.BlockDevice)
        {
            WriteId(block.AsSpan(TarFields.DevMajorOffset, TarFields.IdLength), header.DeviceMajor, "SCHILY.devmajor", pax);
            WriteId(block.AsSpan(TarFields.DevMinorOffset, TarFields.IdLength), header.DeviceMinor, "SCHILY.devminor", pax);
        }

        foreach (var (key, value) in header.Xattrs)
        {
            pax["SCHILY.xattr." + key] = value;
        }

        if (pax.Count > 0)
        {
            await WritePaxHeaderAsync(shortName, pax, cancellationToken).ConfigureAwait(false);
        }

        SetChecksum(block);
        await WriteRawAsync(block, cancellationToken).ConfigureAwait(false);
        if (size > 0)
        {
            await CopyContentAsync(content ?? throw new ArgumentException($"'{header.Name}' has {size} bytes of content but no content stream was given.", nameof(content)), size, header.Name, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the end-of-archive marker (two zero blocks) and flushes.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        if (_completed)
        {
            return;
        }

        await WriteRawAsync(Zeros, cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_leaveOpen)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask WritePaxHeaderAsync(byte[] shortName, SortedDictionary<string, byte[]> records, CancellationToken cancellationToken)
    {
        var data = PaxRecords.Format(records);
        var block = new byte[TarFields.BlockSize];
        var paxName = Truncate([.. "PaxHeaders/"u8, .. shortName.Where(b => b != '/')], TarFields.NameLength);
        paxName.CopyTo(block.AsSpan(TarFields.NameOffset));
        TarFields.TryWriteOctal(block.AsSpan(TarFields.ModeOffset, TarFields.IdLength), 0x1A4);
        TarFields.TryWriteOctal(block.AsSpan(TarFields.UidOffset, TarFields.IdLength), 0);
        TarFields.TryWriteOctal(block.AsSpan(TarFields.GidOffset, TarFields.IdLength), 0);
        TarFields.TryWriteOctal(block.AsSpan(TarFields.SizeOffset, TarFields.SizeLength), data.Length);
        TarFields.TryWriteOctal(block.AsSpan(TarFields.MtimeOffset, TarFields.SizeLength), 0);
        block[TarFields.TypeFlagOffset] = (byte)'x';
        TarFields.UstarMagic.CopyTo(block.AsSpan(TarFields.MagicOffset));
        "00"u8.CopyTo(block.AsSpan(TarFields.MagicOffset + 6));
        SetChecksum(block);
        await WriteRawAsync(block, cancellationToken).ConfigureAwait(false);
        await WriteRawAsync(data, cancellationToken).ConfigureAwait(false);
        await PadAsync(data.Length, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask CopyContentAsync(Stream content, long size, string name, CancellationToken cancellationToken)
    {
        var remaining = size;
        while (remaining > 0)
        {
            var read = await content.ReadAsync(_copyBuffer.AsMemory(0, (int)Math.Min(_copyBuffer.Length, remaining)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new InvalidDataException($"The content of '{name}' ended after {size - remaining} of its {size} bytes.");
            }

            await WriteRawAsync(_copyBuffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            remaining -= read;
        }

        await PadAsync(size, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask PadAsync(long size, CancellationToken cancellationToken)
    {
        var padding = (int)((TarFields.BlockSize - (size % TarFields.BlockSize)) % TarFields.BlockSize);
        return padding == 0 ? ValueTask.CompletedTask : WriteRawAsync(Zeros.AsMemory(0, padding), cancellationToken);
    }

    private async ValueTask WriteRawAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        Position += data.Length;
    }

    /// <summary>Splits a name into ustar's 155-byte prefix and 100-byte name at a slash, when it is ASCII and fits.</summary>
    private static bool TrySplitName(byte[] name, out byte[] prefix, out byte[] shortName)
    {
        prefix = [];
        shortName = name;
        if (!IsAscii(name))
        {
            return false;
        }

        if (name.Length <= TarFields.NameLength)
        {
            return true;
        }

        for (var slash = Math.Min(name.Length - 2, TarFields.PrefixLength); slash > 0; slash--)
        {
            if (name[slash] == '/' && name.Length - slash - 1 <= TarFields.NameLength)
            {
                prefix = name[..slash];
                shortName = name[(slash + 1)..];
                return true;
            }
        }

        return false;
    }

    private static void WriteId(Span<byte> field, long value, string paxKey, SortedDictionary<string, byte[]> pax)
    {
        if (value < 0 || value > MaxOctal7)
        {
            pax[paxKey] = Ascii(value);
            TarFields.TryWriteOctal(field, 0);
        }
        else
        {
            TarFields.TryWriteOctal(field, value);
        }
    }

    private static void WriteOwner(Span<byte> field, string? owner, string paxKey, SortedDictionary<string, byte[]> pax)
    {
        if (string.IsNullOrEmpty(owner))
        {
            return;
        }

        var bytes = EntryName.Encode(owner);
        if (bytes.Length >= TarFields.OwnerNameLength || !IsAscii(bytes))
        {
            pax[paxKey] = bytes;
            bytes = Truncate(bytes.Where(b => b < 0x80).ToArray(), TarFields.OwnerNameLength - 1);
        }

        bytes.CopyTo(field);
    }

    private static byte TypeFlag(TarEntryKind kind) => kind switch
    {
        TarEntryKind.Hardlink => (byte)'1',
        TarEntryKind.Symlink => (byte)'2',
        TarEntryKind.CharDevice => (byte)'3',
        TarEntryKind.BlockDevice => (byte)'4',
        TarEntryKind.Directory => (byte)'5',
        TarEntryKind.Fifo => (byte)'6',
        _ => (byte)'0',
    };

    private static void SetChecksum(byte[] block)
    {
        block.AsSpan(TarFields.ChecksumOffset, TarFields.ChecksumLength).Fill((byte)' ');
        long sum = 0;
        foreach (var b in block)
        {
            sum += b;
        }

        TarFields.TryWriteOctal(block.AsSpan(TarFields.ChecksumOffset, 7), sum);
        block[TarFields.ChecksumOffset + 7] = (byte)' ';
    }

    private static bool IsAscii(byte[] bytes) => bytes.All(b => b is > 0 and < 0x80);

    private static byte[] Truncate(byte[] bytes, int length) => bytes.Length <= length ? bytes : bytes[..length];

    private static byte[] Ascii(long value) => Encoding.ASCII.GetBytes(value.ToString(CultureInfo.InvariantCulture));
}
