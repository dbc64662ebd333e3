using System.Buffers.Binary;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.SquashFs;

/// <summary>
/// Lays out the metadata of the image once all data is written: inode numbers, the inode table, the
/// sorted directory listings with their indexes, and the fragment, export, id and xattr tables, in the
/// order the kernel insists on.
/// </summary>
internal sealed class SquashFsLayout : IDisposable
{
    private const int MaxEntriesPerHeader = 256;
    private readonly BlockCompressor _compressor;
    private readonly bool _exportTable;
    private readonly MetadataWriter _inodes;
    private readonly MetadataWriter _directories;
    private readonly Dictionary<uint, ushort> _ids = [];
    private readonly MemoryStream _scratch;
    private readonly MemoryStream _listing;
    private readonly BinaryWriter _listingWriter;
    private readonly BinaryWriter _scratchWriter;
    private readonly List<long> _inodeReferences = [];
    private uint _inodeCount;

    public SquashFsLayout(BlockCompressor compressor, bool exportTable)
    {
        _compressor = compressor;
        _exportTable = exportTable;
        _inodes = new MetadataWriter(compressor);
        _directories = new MetadataWriter(compressor);
        _scratch = new MemoryStream();
        _scratchWriter = new BinaryWriter(_scratch);
        _listing = new MemoryStream();
        _listingWriter = new BinaryWriter(_listing);
    }

    public void Dispose()
    {
        _inodes.Dispose();
        _directories.Dispose();
        _scratchWriter.Dispose();
        _listingWriter.Dispose();
    }

    /// <summary>Where a directory's listing is in the directory table, and its index.</summary>
    private sealed record Listing(long Start, int Offset, long Size, List<(uint Index, long Block, byte[] Name)> Index);

    /// <summary>The tables in file order, from the end of the data, and what the superblock says about them.</summary>
    internal sealed record Tables(IReadOnlyList<ReadOnlyMemory<byte>> Segments, uint InodeCount, uint FragmentCount, ushort IdCount, long RootInode,
        long InodeTable, long DirectoryTable, long FragmentTable, long ExportTable, long IdTable, long XattrTable);

    public Tables Build(FsNode root, IReadOnlyList<(byte[] Bytes, int Count)> xattrSets, IReadOnlyList<(long Start, uint Size)> fragments, long dataEnd)
    {
        Number(root);
        WriteTree(root);
        var segments = new List<ReadOnlyMemory<byte>>();
        var position = dataEnd;
        long Append(ReadOnlyMemory<byte> segment)
        {
            var at = position;
            segments.Add(segment);
            position += segment.Length;
            return at;
        }

        var inodeTable = Append(Contents(_inodes.Finish()));
        var directoryTable = Append(Contents(_directories.Finish()));

        var fragmentEntries = new byte[fragments.Count * 16];
        for (var i = 0; i < fragments.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(fragmentEntries.AsSpan(i * 16), fragments[i].Start);
            BinaryPrimitives.WriteUInt32LittleEndian(fragmentEntries.AsSpan((i * 16) + 8), fragments[i].Size);
        }

        var fragmentTable = AppendLookupTable(fragmentEntries, Append);

        var exportTableStart = -1L;
        if (_exportTable)
        {
            var references = new byte[_inodeReferences.Count * 8];
            for (var i = 0; i < _inodeReferences.Count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(references.AsSpan(i * 8), _inodeReferences[i]);
            }

            exportTableStart = AppendLookupTable(references, Append);
        }

        var ids = new byte[_ids.Count * 4];
        foreach (var (id, index) in _ids)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(ids.AsSpan(index * 4), id);
        }

        var idTable = AppendLookupTable(ids, Append);
        var xattrTable = xattrSets.Count == 0 ? -1 : AppendXattrs(xattrSets, Append);
        return new Tables(segments, _inodeCount, (uint)fragments.Count, (ushort)_ids.Count, root.InodeReference,
            inodeTable, directoryTable, fragmentTable, exportTableStart, idTable, xattrTable);
    }

    /// <summary>
    /// Sorts every directory and numbers the inodes breadth-first, so the entries of one directory have
    /// consecutive numbers and share directory headers; counts links.
    /// </summary>
    private void Number(FsNode root)
    {
        uint next = 1;
        root.InodeNumber = next++;
        var queue = new Queue<FsNode>();
        queue.Enqueue(root);
        while (queue.Count > 0)
        {
            var directory = queue.Dequeue();
            var sorted = directory.Children!.Select(c => (Name: EntryName.Encode(c.Key), Node: c.Value)).ToArray();
            Array.Sort(sorted, (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
            directory.Sorted = sorted;
            uint subdirectories = 0;
            foreach (var (_, child) in sorted)
            {
                if (child.Type == OciFileType.Directory)
                {
                    subdirectories++;
                    child.InodeNumber = next++;
                    child.ParentNumber = directory.InodeNumber;
                    queue.Enqueue(child);
                    continue;
                }

                child.LinkCount++;
                if (child.InodeNumber == 0)
                {
                    child.InodeNumber = next++;
                }
            }

            directory.LinkCount = 2 + subdirectories;
        }

        _inodeCount = next - 1;
        root.ParentNumber = _inodeCount + 1;
        _inodeReferences.AddRange(new long[_inodeCount]);
    }

    /// <summary>Writes inodes children first (a directory's inode points at its listing, which points at its children's inodes), without recursion.</summary>
    private void WriteTree(FsNode root)
    {
        var stack = new Stack<(FsNode Directory, int Next)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (directory, next) = stack.Pop();
            if (next < directory.Sorted.Length)
            {
                stack.Push((directory, next + 1));
                var child = directory.Sorted[next].Node;
                if (child.Type == OciFileType.Directory)
                {
                    stack.Push((child, 0));
                }
                else if (child.InodeReference < 0)
                {
                    WriteInode(child, null);
                }

                continue;
            }

            WriteInode(directory, WriteListing(directory));
        }
    }

    private Listing WriteListing(FsNode directory)
    {
        var start = _directories.BlockStart;
        var offset = _directories.Offset;
        var origin = _directories.UncompressedPosition;
        var index = new List<(uint, long, byte[])>();
        _listing.SetLength(0);
        var writer = _listingWriter;
        long headerAt = -1, headerBlock = -1, inodeBlock = -1;
        uint baseNumber = 0, count = 0;
        foreach (var (name, child) in directory.Sorted)
        {
            var block = (origin + _listing.Length) / MetadataWriter.BlockSize;
            var childBlock = child.InodeReference >> 16;
            var difference = (long)child.InodeNumber - baseNumber;
            if (headerAt < 0 || count == MaxEntriesPerHeader || childBlock != inodeBlock || difference is < short.MinValue or > short.MaxValue || block != headerBlock)
            {
                PatchCount(headerAt, count);
                if (headerAt >= 0 && block != headerBlock)
                {
                    // A header in a new metadata block: the index lets a lookup start reading here.
                    index.Add(((uint)_listing.Length, block, name));
                }

                headerAt = _listing.Length;
                headerBlock = block;
                inodeBlock = childBlock;
                baseNumber = child.InodeNumber;
                count = 0;
                writer.Write(0u);
                writer.Write((uint)childBlock);
                writer.Write(baseNumber);
            }

            writer.Write((ushort)(child.InodeReference & 0xFFFF));
            writer.Write((short)(child.InodeNumber - baseNumber));
            writer.Write(BasicType(child.Type));
            writer.Write((ushort)(name.Length - 1));
            writer.Write(name);
            count++;
        }

        writer.Flush();
        PatchCount(headerAt, count);
        _directories.Write(_listing.GetBuffer().AsSpan(0, (int)_listing.Length));
        for (var i = 0; i < index.Count; i++)
        {
            index[i] = (index[i].Item1, _directories.StartOfBlock(index[i].Item2), index[i].Item3);
        }

        return new Listing(start, offset, _listing.Length, index);
    }

    private void PatchCount(long headerAt, uint count)
    {
        if (headerAt >= 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_listing.GetBuffer().AsSpan((int)headerAt), count - 1);
        }
    }

    private void WriteInode(FsNode node, Listing? listing)
    {
        node.InodeReference = _inodes.Reference;
        _inodeReferences[(int)node.InodeNumber - 1] = node.InodeReference;
        _scratch.SetLength(0);
        var w = _scratchWriter;
        var extended = node.XattrSet >= 0;
        var xattr = extended ? (uint)node.XattrSet : 0xFFFFFFFF;
        switch (node.Type)
        {
            case OciFileType.Directory:
                var size = listing!.Size + 3;
                extended |= size > ushort.MaxValue || listing.Index.Count > 0 || listing.Start > uint.MaxValue;
                if (listing.Index.Count > ushort.MaxValue)
                {
                    throw new OciException("SquashFsDirectoryTooLarge", OciErrorKind.LimitsExceeded, $"A directory with {node.Sorted.Length} entries is too large for squashfs.", node.Sorted.Length);
                }

                WriteHeader(node, extended ? (ushort)8 : (ushort)1);
                if (!extended)
                {
                    w.Write((uint)listing.Start);
                    w.Write(node.LinkCount);
                    w.Write((ushort)size);
                    w.Write((ushort)listing.Offset);
                    w.Write(node.ParentNumber);
                    break;
                }

                w.Write(node.LinkCount);
                w.Write((uint)size);
                w.Write((uint)listing.Start);
                w.Write(node.ParentNumber);
                w.Write((ushort)listing.Index.Count);
                w.Write((ushort)listing.Offset);
                w.Write(xattr);
                foreach (var (offset, block, name) in listing.Index)
                {
                    w.Write(offset);
                    w.Write((uint)block);
                    w.Write((uint)(name.Length - 1));
                    w.Write(name);
                }

                break;
            case OciFileType.File:
                var data = node.Data!;
                extended |= node.LinkCount > 1 || data.Size > uint.MaxValue || data.BlocksStart > uint.MaxValue || data.SparseBytes > 0;
                WriteHeader(node, extended ? (ushort)9 : (ushort)2);
                if (extended)
                {
                    w.Write(data.BlocksStart);
                    w.Write(data.Size);
                    w.Write(data.SparseBytes);
                    w.Write(node.LinkCount);
                    w.Write(data.FragmentIndex);
                    w.Write(data.FragmentOffset);
                    w.Write(xattr);
                }
                else
                {
                    w.Write((uint)data.BlocksStart);
                    w.Write(data.FragmentIndex);
                    w.Write(data.FragmentOffset);
                    w.Write((uint)data.Size);
                }

                foreach (var blockSize in data.BlockSizes)
                {
                    w.Write(blockSize);
                }

                break;
            case OciFileType.Symlink:
                WriteHeader(node, extended ? (ushort)10 : (ushort)3);
                w.Write(node.LinkCount);
                w.Write((uint)node.LinkTarget!.Length);
                w.Write(node.LinkTarget);
                if (extended)
                {
                    w.Write(xattr);
                }

                break;
            default:
                WriteHeader(node, (ushort)(BasicType(node.Type) + (extended ? 7 : 0)));
                w.Write(node.LinkCount);
                if (node.Type is OciFileType.BlockDevice or OciFileType.CharDevice)
                {
                    w.Write(node.Device);
                }

                if (extended)
                {
                    w.Write(xattr);
                }

                break;
        }

        w.Flush();
        _inodes.Write(_scratch.GetBuffer().AsSpan(0, (int)_scratch.Length));
    }

    private void WriteHeader(FsNode node, ushort type)
    {
        var w = _scratchWriter;
        w.Write(type);
        w.Write(node.Mode);
        w.Write(IdIndex(node.Uid));
        w.Write(IdIndex(node.Gid));
        w.Write(node.ModifiedTime);
        w.Write(node.InodeNumber);
    }

    private ushort IdIndex(uint id)
    {
        if (!_ids.TryGetValue(id, out var index))
        {
            if (_ids.Count > ushort.MaxValue)
            {
                throw new OciException("SquashFsTooManyIds", OciErrorKind.LimitsExceeded, $"The image has more than 65536 distinct owner ids, more than squashfs can hold (at {id}).", id);
            }

            index = (ushort)_ids.Count;
            _ids[id] = index;
        }

        return index;
    }

    /// <summary>A table of fixed-size entries: metadata blocks, then the list of their positions (which the superblock points to).</summary>
    private long AppendLookupTable(byte[] entries, Func<ReadOnlyMemory<byte>, long> append)
    {
        using var table = new MetadataWriter(_compressor);
        table.Write(entries);
        var blocksAt = append(Contents(table.Finish()));
        return append(BlockList(table, blocksAt, 0));
    }

    /// <summary>The key/value sets, their lookup table, and the header the superblock points to.</summary>
    private long AppendXattrs(IReadOnlyList<(byte[] Bytes, int Count)> sets, Func<ReadOnlyMemory<byte>, long> append)
    {
        using var values = new MetadataWriter(_compressor);
        var entries = new byte[sets.Count * 16];
        for (var i = 0; i < sets.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(entries.AsSpan(i * 16), values.Reference);
            BinaryPrimitives.WriteInt32LittleEndian(entries.AsSpan((i * 16) + 8), sets[i].Count);
            BinaryPrimitives.WriteInt32LittleEndian(entries.AsSpan((i * 16) + 12), sets[i].Bytes.Length);
            values.Write(sets[i].Bytes);
        }

        var valuesAt = append(Contents(values.Finish()));
        using var table = new MetadataWriter(_compressor);
        table.Write(entries);
        var blocksAt = append(Contents(table.Finish()));
        var header = BlockList(table, blocksAt, 16);
        BinaryPrimitives.WriteInt64LittleEndian(header, valuesAt);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), sets.Count);
        return append(header);
    }

    private static byte[] BlockList(MetadataWriter table, long blocksAt, int headerSize)
    {
        var list = new byte[headerSize + (table.BlockStarts.Count * 8)];
        for (var i = 0; i < table.BlockStarts.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(list.AsSpan(headerSize + (i * 8)), blocksAt + table.BlockStarts[i]);
        }

        return list;
    }

    private static ushort BasicType(OciFileType type) => type switch
    {
        OciFileType.Directory => 1,
        OciFileType.File => 2,
        OciFileType.Symlink => 3,
        OciFileType.BlockDevice => 4,
        OciFileType.CharDevice => 5,
        OciFileType.Fifo => 6,
        _ => 7,
    };

    private static ReadOnlyMemory<byte> Contents(MemoryStream stream) => stream.GetBuffer().AsMemory(0, (int)stream.Length);
}
