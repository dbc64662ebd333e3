using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.SquashFs;

/// <summary>
/// Writes a merged filesystem as a squashfs 4.0 image, in one pass: file data is cut into blocks,
/// compressed in parallel and written as entries arrive (never held in memory); tails and small files are
/// packed into fragment blocks; a file whose bytes equal an earlier one's reuses its blocks. The tree's
/// metadata (inodes, sorted directories with indexes, ids, xattrs) is kept in memory and written at the end.
/// With <see cref="SquashFsSinkOptions.SourceDateEpoch"/> the same image gives the same bytes.
/// </summary>
public sealed class SquashFsSink : IRootfsSink
{
    private const int SuperblockSize = 96;
    private readonly string _destination;
    private readonly string _temporary;
    private readonly SquashFsSinkOptions _options;
    private readonly SafeFileHandle _file;
    private readonly BlockCompressor.Pool _compressors;
    private readonly DataBlockWriter _data;
    private readonly SquashFsTree _tree;
    private readonly XattrSets _xattrs;
    private readonly uint _imageTime;
    private readonly DuplicateHash _hash;
    private readonly Dictionary<ContentKey, FileData> _contents = [];
    private readonly List<Task<(long Start, uint Size)>> _fragmentsWritten = [];
    private byte[] _fragment;
    private readonly BlockDecompressor _decompressor;
    private byte[]? _readBack;
    private uint _readBackIndex = FileData.NoFragment;
    private int _fragmentUsed;
    private uint _fragmentCount;
    private bool _deduplicated;
    private bool _completed;

    private SquashFsSink(string destination, string temporary, SquashFsSinkOptions options, Action<string>? warn)
    {
        _destination = destination;
        _temporary = temporary;
        _options = options;
        _imageTime = ToImageTime(options.SourceDateEpoch ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        _tree = new SquashFsTree(_imageTime);
        _xattrs = new XattrSets(warn);
        _file = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous);
        _compressors = new BlockCompressor.Pool(BlockCompressor.Factory(options.Compression, options.CompressionLevel, options.SourceDateEpoch is not null));
        var parallelism = Math.Max(1, options.Parallelism ?? Environment.ProcessorCount);
        _data = new DataBlockWriter(_file, SuperblockSize, _compressors, options.BlockSize, parallelism);
        _fragment = _data.Buffers.Rent(options.BlockSize);
        _hash = options.DuplicateHash?.Invoke() ?? new LaneHash();
        _decompressor = new BlockDecompressor(options.Compression);
    }

    /// <summary>Starts writing a temporary file next to <paramref name="path"/>.</summary>
    /// <param name="warn">Receives what squashfs cannot hold (xattr namespaces other than user, trusted and security), once each.</param>
    public static SquashFsSink Create(string path, SquashFsSinkOptions options, Action<string>? warn = null)
    {
        options.Validate();
        var destination = Path.GetFullPath(path);
        OutputPlacement.CheckDestination(destination, options.Force);
        return new SquashFsSink(destination, OutputPlacement.TemporarySibling(destination), options, warn);
    }

    public async ValueTask AddAsync(OciFileEntry entry, Stream? content, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var path = CheckPath(entry.Path);
        if (entry.Type == OciFileType.Hardlink)
        {
            var target = _tree.Find(CheckPath(entry.LinkTarget ?? string.Empty));
            if (target is null || target.Type != OciFileType.File)
            {
                throw new OciException("ExportHardlinkTargetMissing", OciErrorKind.InvalidData, $"The hardlink '{path}' points to '{entry.LinkTarget}', which is not a file added before it.", path);
            }

            _tree.Put(path, target);
            return;
        }

        var node = entry.Type switch
        {
            OciFileType.Directory => SquashFsTree.NewDirectory(0),
            OciFileType.File => new FsNode(OciFileType.File) { Data = await WriteContentAsync(entry, content, cancellationToken).ConfigureAwait(false) },
            OciFileType.Symlink => new FsNode(OciFileType.Symlink) { LinkTarget = EntryName.Encode(entry.LinkTarget ?? string.Empty) },
            OciFileType.CharDevice or OciFileType.BlockDevice => new FsNode(entry.Type) { Device = EncodeDevice(entry.DeviceMajor, entry.DeviceMinor) },
            OciFileType.Fifo or OciFileType.Socket => new FsNode(entry.Type),
            _ => throw new ArgumentException($"A {entry.Type} entry ('{path}') cannot be written to a squashfs image.", nameof(entry)),
        };
        node.Mode = (ushort)(entry.Mode & 0xFFF);
        node.Uid = ToId(entry.Uid, path);
        node.Gid = ToId(entry.Gid, path);
        node.ModifiedTime = ToImageTime(_options.SourceDateEpoch is { } epoch && entry.ModifiedTime.Seconds >= epoch ? epoch : entry.ModifiedTime.Seconds);
        node.XattrSet = _xattrs.Add(entry.Xattrs, path);
        _tree.Put(path, node);
    }

    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        await FlushFragmentAsync(cancellationToken).ConfigureAwait(false);
        var dataEnd = await _data.CompleteAsync().ConfigureAwait(false);
        _data.Buffers.Return(_fragment);
        using var metadataCompressor = BlockCompressor.Factory(_options.Compression, _options.CompressionLevel, _options.SourceDateEpoch is not null)();
        using var layout = new SquashFsLayout(metadataCompressor, _options.ExportTable);
        var tables = layout.Build(_tree.Root, _xattrs.Sets, _data.Fragments, dataEnd);
        var position = dataEnd;
        foreach (var table in tables.Segments)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await RandomAccess.WriteAsync(_file, table, position, cancellationToken).ConfigureAwait(false);
            position += table.Length;
        }

        // The kernel reads the image in 4 KiB device blocks: the file is padded to a multiple of them.
        var padded = (position + 4095) & ~4095L;
        RandomAccess.SetLength(_file, padded);
        var superblock = Superblock(tables, position);
        await RandomAccess.WriteAsync(_file, superblock, 0, cancellationToken).ConfigureAwait(false);
        _file.Dispose();
        _compressors.Dispose();
        _decompressor.Dispose();
        OutputPlacement.MoveIntoPlace(_temporary, _destination, _options.Force);
        _completed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        await _data.DisposeAsync().ConfigureAwait(false);
        _file.Dispose();
        _compressors.Dispose();
        _decompressor.Dispose();
        File.Delete(_temporary);
    }

    private async Task<FileData> WriteContentAsync(OciFileEntry entry, Stream? content, CancellationToken cancellationToken)
    {
        if (entry.Size == 0)
        {
            return new FileData(0, 0);
        }

        if (content is null)
        {
            throw new ArgumentException($"'{entry.Path}' has {entry.Size} bytes of content but none was given.", nameof(content));
        }

        var blockSize = _options.BlockSize;
        var fullBlocks = entry.Size / blockSize;
        var tail = (int)(entry.Size % blockSize);
        if (fullBlocks > int.MaxValue)
        {
            throw new OciException("SquashFsFileTooLarge", OciErrorKind.LimitsExceeded, $"'{entry.Path}' is too large for a squashfs image with {blockSize}-byte blocks.", entry.Path);
        }

        var data = new FileData(entry.Size, (int)fullBlocks);
        for (var block = 0; block < fullBlocks; block++)
        {
            var buffer = _data.Buffers.Rent(blockSize);
            await FillAsync(content, buffer, blockSize, entry, (long)block * blockSize, cancellationToken).ConfigureAwait(false);
            _hash.Append(buffer.AsSpan(0, blockSize));
            await _data.AddBlockAsync(data, block, buffer, blockSize, cancellationToken).ConfigureAwait(false);
        }

        byte[]? tailBuffer = null;
        try
        {
            if (tail > 0)
            {
                tailBuffer = _data.Buffers.Rent(blockSize);
                await FillAsync(content, tailBuffer, tail, entry, fullBlocks * blockSize, cancellationToken).ConfigureAwait(false);
                _hash.Append(tailBuffer.AsSpan(0, tail));
            }

            var key = ContentKey.From(entry.Size, _hash);
            if (_contents.TryGetValue(key, out var original) && await SameTailAsync(original, tailBuffer, tail, cancellationToken).ConfigureAwait(false))
            {
                // Most likely the same bytes as an earlier file (the hash is not proof): the tail, compared,
                // is shared; the full blocks are compared once written, and shared only if equal.
                _deduplicated = true;
                if (fullBlocks == 0)
                {
                    return original;
                }

                data.FragmentIndex = original.FragmentIndex;
                data.FragmentOffset = original.FragmentOffset;
                await _data.ConfirmDuplicateAsync(data, original, cancellationToken).ConfigureAwait(false);
                return data;
            }

            if (tailBuffer is not null)
            {
                if (_fragmentUsed + tail > blockSize)
                {
                    await FlushFragmentAsync(cancellationToken).ConfigureAwait(false);
                }

                tailBuffer.AsSpan(0, tail).CopyTo(_fragment.AsSpan(_fragmentUsed));
                data.FragmentIndex = _fragmentCount;
                data.FragmentOffset = (uint)_fragmentUsed;
                _fragmentUsed += tail;
            }

            // The first file with a key stays the one later candidates are compared with.
            _contents.TryAdd(key, data);
            return data;
        }
        finally
        {
            if (tailBuffer is not null)
            {
                _data.Buffers.Return(tailBuffer);
            }
        }
    }

    private async Task FlushFragmentAsync(CancellationToken cancellationToken)
    {
        if (_fragmentUsed == 0)
        {
            return;
        }

        var full = _fragment;
        _fragment = _data.Buffers.Rent(_options.BlockSize);
        _fragmentsWritten.Add(await _data.AddFragmentAsync(full, _fragmentUsed, cancellationToken).ConfigureAwait(false));
        _fragmentCount++;
        _fragmentUsed = 0;
    }

    /// <summary>Whether a file's tail equals <paramref name="original"/>'s (same size, so both have one or neither).</summary>
    private async ValueTask<bool> SameTailAsync(FileData original, byte[]? tail, int length, CancellationToken cancellationToken)
    {
        if (length == 0)
        {
            return true;
        }

        var offset = (int)original.FragmentOffset;
        var fragment = original.FragmentIndex == _fragmentCount ? _fragment : await ReadFragmentAsync(original.FragmentIndex, cancellationToken).ConfigureAwait(false);
        return fragment.AsSpan(offset, length).SequenceEqual(tail.AsSpan(0, length));
    }

    /// <summary>A fragment block already queued, read back from the image once written and decompressed (the last one kept).</summary>
    private async ValueTask<byte[]> ReadFragmentAsync(uint index, CancellationToken cancellationToken)
    {
        _readBack ??= new byte[_options.BlockSize];
        if (_readBackIndex == index)
        {
            return _readBack;
        }

        _readBackIndex = FileData.NoFragment;
        var (start, size) = await _fragmentsWritten[(int)index].WaitAsync(cancellationToken).ConfigureAwait(false);
        var length = (int)(size & ~DataBlockWriter.Uncompressed);
        if ((size & DataBlockWriter.Uncompressed) != 0)
        {
            await _data.ReadExactlyAsync(_readBack.AsMemory(0, length), start).ConfigureAwait(false);
        }
        else
        {
            var stored = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                await _data.ReadExactlyAsync(stored.AsMemory(0, length), start).ConfigureAwait(false);
                _decompressor.Decompress(stored, length, _readBack);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(stored);
            }
        }

        _readBackIndex = index;
        return _readBack;
    }

    private static async Task FillAsync(Stream content, byte[] buffer, int count, OciFileEntry entry, long offset, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < count)
        {
            var read = await content.ReadAsync(buffer.AsMemory(filled, count - filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new InvalidDataException($"The content of '{entry.Path}' ended after {offset + filled} of its {entry.Size} bytes.");
            }

            filled += read;
        }
    }

    private byte[] Superblock(SquashFsLayout.Tables tables, long bytesUsed)
    {
        var block = new byte[SuperblockSize];
        var span = block.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, 0x73717368);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], tables.InodeCount);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], _imageTime);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)_options.BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(span[16..], tables.FragmentCount);
        BinaryPrimitives.WriteUInt16LittleEndian(span[20..], _options.Compression == SquashFsCompression.Zstd ? (ushort)6 : (ushort)1);
        BinaryPrimitives.WriteUInt16LittleEndian(span[22..], (ushort)System.Numerics.BitOperations.Log2((uint)_options.BlockSize));
        // Flags: fragments always generated; duplicates removed; exportable; no xattrs.
        var flags = 0x20 | (_deduplicated || _data.Deduplicated ? 0x40 : 0) | (tables.ExportTable >= 0 ? 0x80 : 0) | (tables.XattrTable >= 0 ? 0 : 0x200);
        BinaryPrimitives.WriteUInt16LittleEndian(span[24..], (ushort)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(span[26..], tables.IdCount);
        BinaryPrimitives.WriteUInt16LittleEndian(span[28..], 4);
        BinaryPrimitives.WriteUInt16LittleEndian(span[30..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], tables.RootInode);
        BinaryPrimitives.WriteInt64LittleEndian(span[40..], bytesUsed);
        BinaryPrimitives.WriteInt64LittleEndian(span[48..], tables.IdTable);
        BinaryPrimitives.WriteInt64LittleEndian(span[56..], tables.XattrTable);
        BinaryPrimitives.WriteInt64LittleEndian(span[64..], tables.InodeTable);
        BinaryPrimitives.WriteInt64LittleEndian(span[72..], tables.DirectoryTable);
        BinaryPrimitives.WriteInt64LittleEndian(span[80..], tables.FragmentTable);
        BinaryPrimitives.WriteInt64LittleEndian(span[88..], tables.ExportTable);
        return block;
    }

    /// <summary>Linux's encoding of a device number (new_encode_dev), as squashfs stores it.</summary>
    private static uint EncodeDevice(int major, int minor) =>
        (uint)((minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12));

    private static uint ToImageTime(long seconds) => (uint)Math.Clamp(seconds, 0, uint.MaxValue);

    private static uint ToId(long id, string path) => id is >= 0 and <= uint.MaxValue
        ? (uint)id
        : throw new OciException("SquashFsIdInvalid", OciErrorKind.InvalidData, $"'{path}' has the owner id {id}, which squashfs cannot hold (0 … 4294967295).", path);

    private static string CheckPath(string path)
    {
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new OciException("ExportEntryUnsafe", OciErrorKind.Security, $"'{path}' is not a path inside the root; nothing is written for it.", path);
        }

        for (var rest = path.AsSpan(); ;)
        {
            var slash = rest.IndexOf('/');
            var part = slash < 0 ? rest : rest[..slash];
            if (part is "" or "." or "..")
            {
                throw new OciException("ExportEntryUnsafe", OciErrorKind.Security, $"'{path}' is not a path inside the root; nothing is written for it.", path);
            }

            // A name of at most 64 UTF-16 units encodes to at most 256 bytes.
            if (part.Length > 64 && EntryName.Encode(part.ToString()).Length > 256)
            {
                throw new OciException("SquashFsNameTooLong", OciErrorKind.LimitsExceeded, $"'{path}' has a name longer than the 256 bytes squashfs allows.", path);
            }

            if (slash < 0)
            {
                return path;
            }

            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>A file's content as duplicate detection first knows it: its size and a fast hash (a candidate, then compared).</summary>
    private readonly record struct ContentKey(long Size, ulong Hash)
    {
        public static ContentKey From(long size, DuplicateHash hash) => new(size, hash.GetAndReset());
    }
}
