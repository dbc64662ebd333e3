using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Core.Layers.Tar;

/// <summary>
/// Reads a tar stream entry by entry, never holding more than one header and a small buffer. ustar,
/// v7, GNU (long names, base-256 numbers, old sparse files) and PAX (global and local records, binary
/// xattrs, fractional times, GNU sparse 0.0/0.1/1.0) are understood; names and xattr values keep their
/// exact bytes. System.Formats.Tar is not used for layers: it decodes PAX values and names as UTF-8,
/// which corrupts binary xattrs (security.capability) and non-UTF-8 names.
/// </summary>
public sealed class TarReader : IAsyncDisposable
{
    /// <summary>The largest PAX header or GNU long name accepted: hostile layers must not make us buffer gigabytes.</summary>
    public const int MaxExtensionSize = 8 << 20;

    private const int MaxSparseRegions = 1 << 20;

    private readonly TarInput _input;
    private readonly string _source;
    private readonly Dictionary<string, byte[]> _global = new(StringComparer.Ordinal);
    private readonly byte[] _block = new byte[TarFields.BlockSize];
    private long _remaining;
    private long _padding;
    private int _generation;
    private bool _ended;

    /// <param name="stream">The uncompressed archive.</param>
    /// <param name="source">Names the archive in error messages ("layer 2 (sha256:…) of oci:/x:1").</param>
    /// <param name="leaveOpen">Whether disposing the reader leaves <paramref name="stream"/> open.</param>
    public TarReader(Stream stream, string source = "the archive", bool leaveOpen = false)
    {
        _input = new TarInput(stream, leaveOpen);
        _source = source;
    }

    /// <summary>The current entry's content; valid until the next <see cref="ReadNextAsync"/>.</summary>
    public Stream DataStream { get; private set; } = Stream.Null;

    /// <summary>Bytes of the archive consumed so far.</summary>
    public long Position => _input.Position;

    /// <summary>The next entry, or null at the end of the archive.</summary>
    /// <remarks>
    /// An entry whose headers are all in the bytes ready now is read without any async machinery (this
    /// runs for every entry of every layer); the async path reads the rest: headers across a read-ahead
    /// block's end, the end of the archive, errors, global headers, sparse maps.
    /// </remarks>
    public ValueTask<TarHeader?> ReadNextAsync(CancellationToken cancellationToken) =>
        !_ended && TrySkipRest() && TryReadNext() is { } header
            ? ValueTask.FromResult<TarHeader?>(header)
            : ReadNextAfterWaitAsync(cancellationToken);

    private async ValueTask<TarHeader?> ReadNextAfterWaitAsync(CancellationToken cancellationToken)
    {
        if (_ended)
        {
            return null;
        }

        await SkipRestAsync(cancellationToken).ConfigureAwait(false);
        _generation++;
        DataStream = Stream.Null;

        List<KeyValuePair<string, byte[]>>? local = null;
        byte[]? longName = null, longLink = null;
        while (true)
        {
            var offset = _input.Position;
            var read = await _input.ReadFullyAsync(_block, cancellationToken).ConfigureAwait(false);
            if (read == 0 && local is null && longName is null && longLink is null)
            {
                return End();
            }

            if (read < TarFields.BlockSize)
            {
                throw Corrupt(offset, "the archive ends in the middle of a header");
            }

            if (TarFields.IsZero(_block))
            {
                var next = await _input.ReadFullyAsync(_block, cancellationToken).ConfigureAwait(false);
                if (next == 0 || TarFields.IsZero(_block.AsSpan(0, next)))
                {
                    return End();
                }

                throw Corrupt(offset, "a zero block is followed by more entries");
            }

            if (!TarFields.ChecksumMatches(_block, out _))
            {
                throw Corrupt(offset, "the header's checksum does not match (not a tar archive, or corrupted)");
            }

            var typeFlag = _block[TarFields.TypeFlagOffset];
            var storedSize = Number(_block.AsSpan(TarFields.SizeOffset, TarFields.SizeLength), offset, "size");
            switch (typeFlag)
            {
                case (byte)'x' or (byte)'L' or (byte)'K':
                    var extension = await ReadExtensionAsync(storedSize, offset, cancellationToken).ConfigureAwait(false);
                    Extend(typeFlag, extension, offset, ref local, ref longName, ref longLink);
                    continue;
                case (byte)'g':
                    foreach (var (key, value) in PaxRecords.Parse(await ReadExtensionAsync(storedSize, offset, cancellationToken).ConfigureAwait(false), reason => Corrupt(offset, reason)))
                    {
                        if (value.Length == 0)
                        {
                            _global.Remove(key);
                        }
                        else
                        {
                            _global[key] = value;
                        }
                    }

                    continue;
                case (byte)'V' or (byte)'N':
                    // A volume label or GNU's obsolete rename record: nothing to extract.
                    await SkipDataAsync(storedSize, offset, cancellationToken).ConfigureAwait(false);
                    continue;
                case (byte)'M':
                    throw new UnsupportedContentException("LayerCorrupt", $"{_source}: the entry at offset {offset} continues a multi-volume archive, which layers never are.", _source);
            }

            var header = await BuildAsync(typeFlag, storedSize, offset, local, longName, longLink, cancellationToken).ConfigureAwait(false);
            return header;
        }
    }

    /// <summary>Skips the rest of the current entry as far as the bytes ready now go; whether it is all skipped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool TrySkipRest()
    {
        while (_remaining + _padding > 0)
        {
            var step = _input.TrySkip(_remaining + _padding);
            if (step == 0)
            {
                return false;
            }

            var fromData = Math.Min(step, _remaining);
            _remaining -= fromData;
            _padding -= step - fromData;
        }

        return true;
    }

    /// <summary>
    /// The next entry when its headers (PAX, GNU long names, the header itself) are all in the bytes ready
    /// now and it needs nothing more read; otherwise null, with nothing consumed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private TarHeader? TryReadNext()
    {
        var ready = _input.Peek();
        var start = _input.Position;
        var used = 0;
        List<KeyValuePair<string, byte[]>>? local = null;
        byte[]? longName = null, longLink = null;
        while (ready.Length - used >= TarFields.BlockSize)
        {
            var block = ready.Slice(used, TarFields.BlockSize);
            var offset = start + used;

            // The end of the archive and damaged headers are the async path's to report.
            if (TarFields.IsZero(block) || !TarFields.ChecksumMatches(block, out _) || !TarFields.TryParseNumber(block.Slice(TarFields.SizeOffset, TarFields.SizeLength), out var storedSize) || storedSize < 0)
            {
                return null;
            }

            var typeFlag = block[TarFields.TypeFlagOffset];
            switch (typeFlag)
            {
                case (byte)'x' or (byte)'L' or (byte)'K':
                    var extended = storedSize + Padding(storedSize);
                    if (storedSize > MaxExtensionSize || ready.Length - used - TarFields.BlockSize < extended)
                    {
                        return null;
                    }

                    Extend(typeFlag, ready.Slice(used + TarFields.BlockSize, (int)storedSize), offset, ref local, ref longName, ref longLink);
                    used += TarFields.BlockSize + (int)extended;
                    continue;
                case (byte)'g' or (byte)'V' or (byte)'N' or (byte)'M':
                    return null;
            }

            block.CopyTo(_block);
            var draft = Prepare(typeFlag, storedSize, offset, local, longName, longLink);
            if (draft.NeedsInput)
            {
                return null;
            }

            _input.Consume(used + TarFields.BlockSize);
            _generation++;
            Begin(draft);
            return Finish(draft, null, draft.StoredSize);
        }

        return null;
    }

    /// <summary>What an extension header (PAX 'x', GNU long name 'L' or long link 'K') says about the entry that follows.</summary>
    private void Extend(byte typeFlag, ReadOnlySpan<byte> data, long offset, ref List<KeyValuePair<string, byte[]>>? local, ref byte[]? longName, ref byte[]? longLink)
    {
        switch (typeFlag)
        {
            case (byte)'x':
                (local ??= []).AddRange(PaxRecords.Parse(data, reason => Corrupt(offset, reason)));
                break;
            case (byte)'L':
                longName = TarFields.CString(data).ToArray();
                break;
            default:
                longLink = TarFields.CString(data).ToArray();
                break;
        }
    }

    /// <summary>Reads whatever follows the end of the archive, so that digests over the whole stream can be checked.</summary>
    public async ValueTask<long> DrainAsync(CancellationToken cancellationToken)
    {
        if (!_ended)
        {
            while (await ReadNextAsync(cancellationToken).ConfigureAwait(false) is not null)
            {
            }
        }

        return await _input.DrainAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _input.DisposeAsync();

    internal bool IsCurrent(int generation) => generation == _generation && !_ended;

    internal void EnsureCurrent(int generation)
    {
        if (generation != _generation)
        {
            throw new InvalidOperationException("The content of a tar entry can only be read before the next entry is read.");
        }
    }

    internal ValueTask<int> ReadDataAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var want = (int)Math.Min(buffer.Length, _remaining);
        var read = _input.TryRead(buffer.Span[..want]);
        return read > 0 || want == 0 ? ValueTask.FromResult(Account(read, want)) : ReadDataAfterWaitAsync(buffer[..want], cancellationToken);
    }

    /// <summary>Up to <paramref name="max"/> bytes of the current entry's stored data that are ready now, lent in place (see <see cref="IBufferedSource"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal ReadOnlySpan<byte> PeekData(int max)
    {
        var ready = _input.Peek();
        return ready[..(int)Math.Min(Math.Min(ready.Length, max), _remaining)];
    }

    /// <summary>Marks <paramref name="count"/> bytes of <see cref="PeekData"/> as read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void ConsumeData(int count)
    {
        _input.Consume(count);
        _remaining -= count;
    }

    /// <summary>Waits until some of the current entry's data is ready (false if the archive ended first: a read then reports it).</summary>
    internal ValueTask<bool> WaitDataAsync(CancellationToken cancellationToken) =>
        _remaining == 0 ? ValueTask.FromResult(false) : _input.FillAsync(cancellationToken);

    internal int ReadData(Span<byte> buffer)
    {
        var want = (int)Math.Min(buffer.Length, _remaining);
        var read = _input.Read(buffer[..want]);
        return Account(read, want);
    }

    private async ValueTask<int> ReadDataAfterWaitAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = await _input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(read, buffer.Length);
    }

    private int Account(int read, int wanted)
    {
        if (read == 0 && wanted > 0)
        {
            throw Corrupt(_input.Position, "the archive ends in the middle of an entry's content");
        }

        _remaining -= read;
        return read;
    }

    private TarHeader? End()
    {
        _ended = true;
        return null;
    }

    private async ValueTask<TarHeader> BuildAsync(
        byte typeFlag,
        long storedSize,
        long offset,
        List<KeyValuePair<string, byte[]>>? local,
        byte[]? longName,
        byte[]? longLink,
        CancellationToken cancellationToken)
    {
        var draft = Prepare(typeFlag, storedSize, offset, local, longName, longLink);
        Begin(draft);
        if (draft.SkipsData)
        {
            await SkipDataAsync(draft.StoredSize, offset, cancellationToken).ConfigureAwait(false);
        }

        IReadOnlyList<SparseRegion>? sparse = null;
        var logicalSize = draft.StoredSize;
        if (typeFlag == (byte)'S')
        {
            (sparse, logicalSize) = await ReadOldGnuSparseAsync(offset, cancellationToken).ConfigureAwait(false);
        }
        else if (draft.IsPaxSparse)
        {
            (sparse, logicalSize) = await ReadPaxSparseAsync(draft.Pax, draft.SparsePairs ?? [], draft.StoredSize, offset, cancellationToken).ConfigureAwait(false);
        }

        return Finish(draft, sparse, logicalSize);
    }

    /// <summary>Everything the header block and its extension records say, before any content is read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Draft Prepare(byte typeFlag, long storedSize, long offset, List<KeyValuePair<string, byte[]>>? local, byte[]? longName, byte[]? longLink)
    {
        var block = _block;
        var magic = block.AsSpan(TarFields.MagicOffset, 6);
        var isGnu = magic.SequenceEqual(TarFields.GnuMagic);
        var isUstar = magic.SequenceEqual(TarFields.UstarMagic);

        // Most entries have no PAX records of their own: they read the global ones (usually none) as they are.
        var pax = local is null ? _global : new Dictionary<string, byte[]>(_global, StringComparer.Ordinal);
        List<long>? sparsePairs = null;
        foreach (var (key, value) in local ?? [])
        {
            if (key is "GNU.sparse.offset" or "GNU.sparse.numbytes")
            {
                (sparsePairs ??= []).Add(ParseLong(value, offset, key));
            }

            pax[key] = value;
        }

        byte[] nameBytes;
        if (pax.TryGetValue("GNU.sparse.name", out var sparseName))
        {
            nameBytes = sparseName;
        }
        else if (pax.TryGetValue("path", out var path))
        {
            nameBytes = path;
        }
        else if (longName is not null)
        {
            nameBytes = longName;
        }
        else
        {
            var name = TarFields.CString(block.AsSpan(TarFields.NameOffset, TarFields.NameLength));
            var prefix = isUstar ? TarFields.CString(block.AsSpan(TarFields.PrefixOffset, TarFields.PrefixLength)) : [];
            nameBytes = prefix.Length > 0 ? [.. prefix, (byte)'/', .. name] : name.ToArray();
        }

        var draft = new Draft
        {
            TypeFlag = typeFlag,
            Offset = offset,
            Pax = pax,
            SparsePairs = sparsePairs,
            NameBytes = nameBytes,
            LinkBytes = pax.TryGetValue("linkpath", out var linkPath) ? linkPath
                : longLink ?? (TarFields.CString(block.AsSpan(TarFields.LinkNameOffset, TarFields.NameLength)) is { Length: > 0 } link ? link.ToArray() : []),
            Kind = KindOf(typeFlag, nameBytes),
            Mode = (int)(Number(block.AsSpan(TarFields.ModeOffset, TarFields.IdLength), offset, "mode") & 0xFFF),
            Uid = pax.TryGetValue("uid", out var paxUid) ? ParseLong(paxUid, offset, "uid") : Number(block.AsSpan(TarFields.UidOffset, TarFields.IdLength), offset, "uid"),
            Gid = pax.TryGetValue("gid", out var paxGid) ? ParseLong(paxGid, offset, "gid") : Number(block.AsSpan(TarFields.GidOffset, TarFields.IdLength), offset, "gid"),
            UserName = pax.TryGetValue("uname", out var paxUser) ? EntryName.Decode(paxUser) : OwnerName(block.AsSpan(TarFields.UserNameOffset, TarFields.OwnerNameLength), isUstar || isGnu),
            GroupName = pax.TryGetValue("gname", out var paxGroup) ? EntryName.Decode(paxGroup) : OwnerName(block.AsSpan(TarFields.GroupNameOffset, TarFields.OwnerNameLength), isUstar || isGnu),
            ModifiedTime = pax.TryGetValue("mtime", out var paxMtime) ? PaxTime(paxMtime, offset, "mtime") : new UnixTime(Number(block.AsSpan(TarFields.MtimeOffset, TarFields.SizeLength), offset, "mtime"), 0),
            AccessTime = pax.TryGetValue("atime", out var paxAtime) ? PaxTime(paxAtime, offset, "atime")
                : isGnu && GnuTime(block.AsSpan(TarFields.GnuAtimeOffset, TarFields.SizeLength)) is { } gnuAtime ? gnuAtime : null,
            ChangeTime = pax.TryGetValue("ctime", out var paxCtime) ? PaxTime(paxCtime, offset, "ctime")
                : isGnu && GnuTime(block.AsSpan(TarFields.GnuCtimeOffset, TarFields.SizeLength)) is { } gnuCtime ? gnuCtime : null,
            DeviceMajor = (int)(pax.TryGetValue("SCHILY.devmajor", out var paxMajor) ? ParseLong(paxMajor, offset, "devmajor") : isUstar || isGnu ? Number(block.AsSpan(TarFields.DevMajorOffset, TarFields.IdLength), offset, "devmajor") : 0),
            DeviceMinor = (int)(pax.TryGetValue("SCHILY.devminor", out var paxMinor) ? ParseLong(paxMinor, offset, "devminor") : isUstar || isGnu ? Number(block.AsSpan(TarFields.DevMinorOffset, TarFields.IdLength), offset, "devminor") : 0),
            StoredSize = pax.TryGetValue("size", out var paxSize) ? ParseLong(paxSize, offset, "size") : storedSize,
            IsPaxSparse = pax.ContainsKey("GNU.sparse.major") || pax.ContainsKey("GNU.sparse.map") || sparsePairs is not null,
            Format = local is not null || _global.Count > 0 ? TarFormat.Pax : isGnu ? TarFormat.Gnu : isUstar ? TarFormat.Ustar : TarFormat.V7,
        };

        if (draft.StoredSize < 0)
        {
            throw Corrupt(offset, $"the entry '{EntryName.Decode(nameBytes)}' has a negative size");
        }

        return draft;
    }

    /// <summary>Makes the entry's content (files only: links, directories, devices and FIFOs have none, whatever their size field says) the next thing to read.</summary>
    private void Begin(in Draft draft)
    {
        _remaining = draft.HasData ? draft.StoredSize : 0;
        _padding = draft.HasData ? Padding(draft.StoredSize) : 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private TarHeader Finish(in Draft draft, IReadOnlyList<SparseRegion>? sparse, long logicalSize)
    {
        if (sparse is not null)
        {
            ValidateSparse(sparse, logicalSize, _remaining, draft.Offset, draft.NameBytes);
        }

        DataStream = draft.HasData ? new TarDataStream(this, _generation, logicalSize, sparse) : Stream.Null;
        return new TarHeader
        {
            Name = EntryName.Decode(draft.NameBytes),
            Kind = draft.Kind,
            TypeFlag = draft.TypeFlag,
            LinkName = draft.LinkBytes.Length == 0 ? null : EntryName.Decode(draft.LinkBytes),
            Mode = draft.Mode,
            Uid = draft.Uid,
            Gid = draft.Gid,
            UserName = draft.UserName,
            GroupName = draft.GroupName,
            Size = draft.HasData ? logicalSize : 0,
            ModifiedTime = draft.ModifiedTime,
            AccessTime = draft.AccessTime,
            ChangeTime = draft.ChangeTime,
            DeviceMajor = draft.DeviceMajor,
            DeviceMinor = draft.DeviceMinor,
            Xattrs = Xattrs(draft.Pax, draft.Offset),
            SparseMap = sparse,
            PaxRecords = draft.Pax,
            Format = draft.Format,
            Offset = draft.Offset,
        };
    }

    private static TarEntryKind KindOf(byte typeFlag, ReadOnlySpan<byte> name) => typeFlag switch
    {
        (byte)'1' => TarEntryKind.Hardlink,
        (byte)'2' => TarEntryKind.Symlink,
        (byte)'3' => TarEntryKind.CharDevice,
        (byte)'4' => TarEntryKind.BlockDevice,
        (byte)'5' or (byte)'D' => TarEntryKind.Directory,
        (byte)'6' => TarEntryKind.Fifo,
        0 when name.Length > 0 && name[^1] == '/' => TarEntryKind.Directory,
        _ => TarEntryKind.File,
    };

    private static string? OwnerName(ReadOnlySpan<byte> field, bool present)
    {
        if (!present)
        {
            return null;
        }

        var bytes = TarFields.CString(field);
        return bytes.Length == 0 ? null : EntryName.Decode(bytes);
    }

    private static UnixTime? GnuTime(ReadOnlySpan<byte> field) =>
        TarFields.IsZero(field) || !TarFields.TryParseNumber(field, out var seconds) || seconds == 0 ? null : new UnixTime(seconds, 0);

    private static IReadOnlyDictionary<string, byte[]> Xattrs(Dictionary<string, byte[]> pax, long offset)
    {
        Dictionary<string, byte[]>? xattrs = null;
        foreach (var (key, value) in pax)
        {
            if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
            {
                (xattrs ??= new(StringComparer.Ordinal))[key["SCHILY.xattr.".Length..]] = value;
            }
            else if (key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
            {
                var name = Uri.UnescapeDataString(key["LIBARCHIVE.xattr.".Length..]);
                var text = Encoding.ASCII.GetString(value).TrimEnd('=');
                var padded = text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
                try
                {
                    (xattrs ??= new(StringComparer.Ordinal))[name] = Convert.FromBase64String(padded);
                }
                catch (FormatException ex)
                {
                    throw new CorruptContentException("LayerCorrupt", $"The entry at offset {offset} has a LIBARCHIVE.xattr value that is not base64.", null, ex);
                }
            }
        }

        return xattrs ?? OciFileEntry.NoXattrs;
    }

    private async ValueTask<(IReadOnlyList<SparseRegion>, long)> ReadOldGnuSparseAsync(long offset, CancellationToken cancellationToken)
    {
        var regions = new List<SparseRegion>();
        var realSize = Number(_block.AsSpan(TarFields.GnuRealSizeOffset, TarFields.SizeLength), offset, "realsize");
        AddGnuSparseEntries(_block.AsSpan(TarFields.GnuSparseOffset, TarFields.GnuSparseEntries * 24), regions, offset);
        var extended = _block[TarFields.GnuIsExtendedOffset] != 0;
        var extension = new byte[TarFields.BlockSize];
        while (extended)
        {
            if (await _input.ReadFullyAsync(extension, cancellationToken).ConfigureAwait(false) < TarFields.BlockSize)
            {
                throw Corrupt(offset, "the archive ends in a sparse map");
            }

            AddGnuSparseEntries(extension.AsSpan(0, 21 * 24), regions, offset);
            extended = extension[504] != 0;
        }

        return (regions, realSize);
    }

    private void AddGnuSparseEntries(ReadOnlySpan<byte> entries, List<SparseRegion> regions, long offset)
    {
        for (var i = 0; i + 24 <= entries.Length; i += 24)
        {
            var entry = entries.Slice(i, 24);
            if (TarFields.IsZero(entry))
            {
                break;
            }

            if (regions.Count >= MaxSparseRegions)
            {
                throw Corrupt(offset, "the sparse map is too long");
            }

            regions.Add(new SparseRegion(Number(entry[..12], offset, "sparse offset"), Number(entry[12..], offset, "sparse size")));
        }
    }

    private async ValueTask<(IReadOnlyList<SparseRegion>, long)> ReadPaxSparseAsync(
        Dictionary<string, byte[]> pax, List<long> pairs, long storedSize, long offset, CancellationToken cancellationToken)
    {
        var regions = new List<SparseRegion>();
        var major = pax.TryGetValue("GNU.sparse.major", out var majorText) ? ParseLong(majorText, offset, "GNU.sparse.major") : 0;
        var realSize = pax.TryGetValue("GNU.sparse.realsize", out var real) ? ParseLong(real, offset, "GNU.sparse.realsize")
            : pax.TryGetValue("GNU.sparse.size", out var size) ? ParseLong(size, offset, "GNU.sparse.size")
            : storedSize;
        if (major == 1)
        {
            // Format 1.0: the map is at the start of the data, decimal numbers on lines, padded to a block.
            var numbers = new List<long>();
            var line = new StringBuilder();
            long expected = -1;
            var block = new byte[TarFields.BlockSize];
            while (expected < 0 || numbers.Count < 1 + (2 * expected))
            {
                if (_remaining < TarFields.BlockSize || await _input.ReadFullyAsync(block, cancellationToken).ConfigureAwait(false) < TarFields.BlockSize)
                {
                    throw Corrupt(offset, "the sparse map at the start of the content is truncated");
                }

                _remaining -= TarFields.BlockSize;
                foreach (var b in block)
                {
                    if (expected >= 0 && numbers.Count >= 1 + (2 * expected))
                    {
                        break;
                    }

                    if (b == '\n')
                    {
                        numbers.Add(ParseLong(Encoding.ASCII.GetBytes(line.ToString()), offset, "sparse map"));
                        line.Clear();
                        if (numbers.Count == 1)
                        {
                            expected = numbers[0] <= MaxSparseRegions && numbers[0] >= 0 ? numbers[0] : throw Corrupt(offset, "the sparse map is too long");
                        }
                    }
                    else
                    {
                        line.Append((char)b);
                    }
                }
            }

            for (var i = 1; i + 1 < numbers.Count; i += 2)
            {
                regions.Add(new SparseRegion(numbers[i], numbers[i + 1]));
            }
        }
        else if (pax.TryGetValue("GNU.sparse.map", out var map))
        {
            var parts = Encoding.ASCII.GetString(map).Split(',', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length % 2 != 0 || parts.Length / 2 > MaxSparseRegions)
            {
                throw Corrupt(offset, "GNU.sparse.map has an odd number of values");
            }

            for (var i = 0; i < parts.Length; i += 2)
            {
                regions.Add(new SparseRegion(ParseLong(Encoding.ASCII.GetBytes(parts[i]), offset, "GNU.sparse.map"), ParseLong(Encoding.ASCII.GetBytes(parts[i + 1]), offset, "GNU.sparse.map")));
            }
        }
        else
        {
            if (pairs.Count % 2 != 0)
            {
                throw Corrupt(offset, "GNU.sparse.offset and GNU.sparse.numbytes do not pair up");
            }

            for (var i = 0; i < pairs.Count; i += 2)
            {
                regions.Add(new SparseRegion(pairs[i], pairs[i + 1]));
            }
        }

        return (regions, realSize);
    }

    private void ValidateSparse(IReadOnlyList<SparseRegion> regions, long logicalSize, long stored, long offset, byte[] name)
    {
        long end = 0, total = 0;
        foreach (var region in regions)
        {
            if (region.Offset < end || region.Length < 0 || region.Offset + region.Length > logicalSize)
            {
                throw Corrupt(offset, $"the sparse map of '{EntryName.Decode(name)}' has overlapping or out-of-range regions");
            }

            end = region.Offset + region.Length;
            total += region.Length;
        }

        if (total != stored)
        {
            throw Corrupt(offset, $"the sparse map of '{EntryName.Decode(name)}' describes {total} bytes but {stored} are stored");
        }
    }

    private async ValueTask<byte[]> ReadExtensionAsync(long size, long offset, CancellationToken cancellationToken)
    {
        if (size > MaxExtensionSize)
        {
            throw Corrupt(offset, $"an extension header of {size} bytes is larger than the {MaxExtensionSize} allowed");
        }

        var data = new byte[size];
        if (await _input.ReadFullyAsync(data, cancellationToken).ConfigureAwait(false) < size)
        {
            throw Corrupt(offset, "the archive ends in an extension header");
        }

        await _input.SkipAsync(Padding(size), cancellationToken).ConfigureAwait(false);
        return data;
    }

    private async ValueTask SkipDataAsync(long size, long offset, CancellationToken cancellationToken)
    {
        var total = size + Padding(size);
        if (await _input.SkipAsync(total, cancellationToken).ConfigureAwait(false) < total)
        {
            throw Corrupt(offset, "the archive ends in the middle of an entry's content");
        }
    }

    private async ValueTask SkipRestAsync(CancellationToken cancellationToken)
    {
        var total = _remaining + _padding;
        _remaining = 0;
        _padding = 0;
        if (total > 0 && await _input.SkipAsync(total, cancellationToken).ConfigureAwait(false) < total)
        {
            throw Corrupt(_input.Position, "the archive ends in the middle of an entry's content");
        }
    }

    private static long Padding(long size) => (TarFields.BlockSize - (size % TarFields.BlockSize)) % TarFields.BlockSize;

    private long Number(ReadOnlySpan<byte> field, long offset, string what) =>
        TarFields.TryParseNumber(field, out var value) ? value : throw Corrupt(offset, $"the header's {what} field is not a number");

    private long ParseLong(ReadOnlySpan<byte> text, long offset, string what) =>
        Utf8Parser.TryParse(text, out long value, out var used) && used == text.Length
            ? value
            : throw Corrupt(offset, $"the PAX {what} value '{Encoding.ASCII.GetString(text)}' is not a number");

    private UnixTime PaxTime(byte[] text, long offset, string what) =>
        TarFields.TryParsePaxTime(text, out var time) ? time : throw Corrupt(offset, $"the PAX {what} value is not a time");

    private CorruptContentException Corrupt(long offset, string reason) =>
        new("LayerCorrupt", string.Create(CultureInfo.InvariantCulture, $"{_source} is not a valid tar archive: at offset {offset}, {reason}."), _source);

    /// <summary>A header as parsed, before its content (or the sparse map at its start) is read.</summary>
    private struct Draft
    {
        public byte TypeFlag;
        public long Offset;
        public long StoredSize;
        public Dictionary<string, byte[]> Pax;
        public List<long>? SparsePairs;
        public byte[] NameBytes;
        public byte[] LinkBytes;
        public TarEntryKind Kind;
        public int Mode;
        public long Uid;
        public long Gid;
        public string? UserName;
        public string? GroupName;
        public UnixTime ModifiedTime;
        public UnixTime? AccessTime;
        public UnixTime? ChangeTime;
        public int DeviceMajor;
        public int DeviceMinor;
        public bool IsPaxSparse;
        public TarFormat Format;

        public readonly bool HasData => Kind == TarEntryKind.File;

        /// <summary>A non-file entry with a size: its stored bytes are skipped.</summary>
        public readonly bool SkipsData => !HasData && StoredSize > 0;

        /// <summary>Whether building the entry reads from the archive (data to skip, a sparse map).</summary>
        public readonly bool NeedsInput => SkipsData || TypeFlag == (byte)'S' || IsPaxSparse;
    }
}
