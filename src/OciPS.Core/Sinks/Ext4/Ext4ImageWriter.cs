using System.Numerics;
using System.Text;
using Microsoft.Win32.SafeHandles;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>
/// Completes an image whose data is already written: numbers the inodes, writes directories, the
/// journal, bitmaps and inode tables after the data, then the group descriptors and the superblock.
/// </summary>
internal sealed class Ext4ImageWriter(
    SafeFileHandle file,
    Ext4SinkOptions options,
    Ext4Node root,
    Ext4Geometry? fixedGeometry,
    long dataEnd,
    byte[] uuid,
    uint[] hashSeed,
    uint? checksumSeed,
    UnixTime now,
    string destination)
{
    private readonly int _bs = options.BlockSize;
    private readonly List<Ext4Node> _nodes = [];
    private readonly Dictionary<Ext4Node, Ext4Node> _parents = new(ReferenceEqualityComparer.Instance);
    private Ext4Node? _journal;

    private long MaxInode => Ext4Format.FirstInode - 1 + _nodes.Count;

    public async Task WriteAsync(CancellationToken cancellationToken)
    {
        if (!root.Children!.ContainsKey("lost+found"))
        {
            root.Children["lost+found"] = Ext4Node.Directory(0x1C0, 0, 0, now, false);
        }

        Number();
        var appender = new BlockAppender(file, _bs, dataEnd);
        await WriteDirectoriesAsync(appender, cancellationToken).ConfigureAwait(false);
        if (options.Journal)
        {
            await WriteJournalAsync(appender, cancellationToken).ConfigureAwait(false);
        }

        await appender.FlushAsync(cancellationToken).ConfigureAwait(false);
        var geometry = Plan(appender.Next);
        var meta = appender.Next;
        var groups = geometry.Groups;
        long BlockBitmap(int g) => meta + g;
        long InodeBitmap(int g) => meta + groups + g;
        long InodeTable(int g) => meta + (2L * groups) + ((long)g * geometry.InodeTableBlocks);
        var metaEnd = meta + geometry.GroupMetadataBlocks;

        var (freeInodes, usedDirectories) = await WriteInodeTablesAsync(geometry, InodeTable, cancellationToken).ConfigureAwait(false);
        var freeBlocks = await WriteBitmapsAsync(geometry, meta, metaEnd, cancellationToken).ConfigureAwait(false);

        var descriptors = new byte[geometry.DescriptorBlocks * _bs];
        for (var g = 0; g < groups; g++)
        {
            var d = descriptors.AsSpan(g * 32, 32);
            Ext4Format.Put32(d, 0x0, BlockBitmap(g));
            Ext4Format.Put32(d, 0x4, InodeBitmap(g));
            Ext4Format.Put32(d, 0x8, InodeTable(g));
            Ext4Format.Put16(d, 0xC, freeBlocks[g].Free);
            Ext4Format.Put16(d, 0xE, freeInodes[g]);
            Ext4Format.Put16(d, 0x10, usedDirectories[g]);
            if (checksumSeed is { } seed)
            {
                Ext4Format.Put16(d, 0x12, 0x4);
                Ext4Format.Put16(d, 0x18, (int)(freeBlocks[g].BlockCrc & 0xFFFF));
                Ext4Format.Put16(d, 0x1A, (int)(freeBlocks[g].InodeCrc & 0xFFFF));
                Ext4Format.Put16(d, 0x1E, (int)(Ext4Format.Crc32C(Ext4Format.Crc32C(seed, (uint)g), d) & 0xFFFF));
            }
        }

        await RandomAccess.WriteAsync(file, descriptors, (geometry.FirstDataBlock + 1L) * _bs, cancellationToken).ConfigureAwait(false);
        var superblock = Superblock(geometry, freeBlocks.Sum(f => (long)f.Free), freeInodes.Sum(f => (long)f));
        await RandomAccess.WriteAsync(file, superblock, 1024, cancellationToken).ConfigureAwait(false);
        RandomAccess.SetLength(file, geometry.TotalBlocks * _bs);
    }

    /// <summary>Inode numbers in directory order (a directory's names get consecutive numbers), links counted.</summary>
    private void Number()
    {
        root.Number = Ext4Format.RootInode;
        var stack = new Stack<Ext4Node>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var directory = stack.Pop();
            var subdirectories = new List<Ext4Node>();
            foreach (var (_, child) in directory.Children!.OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                if (child.Number == 0)
                {
                    _nodes.Add(child);
                    child.Number = (uint)MaxInode;
                    child.Links = 0;
                }

                child.Links++;
                if (child.IsDirectory)
                {
                    _parents[child] = directory;
                    subdirectories.Add(child);
                }
                else if (child.Links > 65000)
                {
                    throw new OciException("Ext4TooManyLinks", OciErrorKind.LimitsExceeded, $"A file has more than 65000 hardlinks, the most ext4 allows.", destination);
                }
            }

            directory.Links = subdirectories.Count + 2 > 65000 ? 1 : subdirectories.Count + 2;
            for (var i = subdirectories.Count - 1; i >= 0; i--)
            {
                stack.Push(subdirectories[i]);
            }
        }

        if (MaxInode >= uint.MaxValue)
        {
            throw new Ext4SpaceException(destination, "The image has more entries than ext4 has inode numbers.");
        }
    }

    private async Task WriteDirectoriesAsync(BlockAppender appender, CancellationToken cancellationToken)
    {
        var builder = new Ext4Directory(_bs, hashSeed, checksumSeed);
        foreach (var directory in _nodes.Where(n => n.IsDirectory).Prepend(root))
        {
            var entries = directory.Children!.Select(c => new Ext4DirEntry(EntryName.Encode(c.Key), c.Value.Number, c.Value.FileType)).ToList();
            var parent = _parents.TryGetValue(directory, out var p) ? p.Number : Ext4Format.RootInode;
            var seed = checksumSeed is { } s ? Ext4Inodes.Seed(s, directory.Number) : 0;
            var blocks = builder.Build(directory.Number, parent, entries, seed, out var indexed);
            directory.Indexed = indexed;
            directory.Size = (long)blocks.Count * _bs;
            directory.Extents = Extents(appender.Next, blocks.Count, "a directory");
            foreach (var block in blocks)
            {
                await appender.AppendAsync(block, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task WriteJournalAsync(BlockAppender appender, CancellationToken cancellationToken)
    {
        var blocks = Ext4Geometry.JournalBlocks(fixedGeometry?.TotalBlocks ?? (appender.Next * 11 / 10));
        _journal = new Ext4Node
        {
            Type = OciFileType.File,
            Mode = 0x180,
            ModifiedTime = now,
            AccessTime = now,
            ChangeTime = now,
            Links = 1,
            Size = (long)blocks * _bs,
            Number = Ext4Format.JournalInode,
            Extents = Extents(appender.Next, blocks, "the journal"),
        };

        // A jbd2 v2 superblock (big-endian) describing an empty, clean journal; the rest stays zeros.
        var first = new byte[_bs];
        Ext4Format.Put32BigEndian(first, 0x0, 0xC03B3998);
        Ext4Format.Put32BigEndian(first, 0x4, 4);
        Ext4Format.Put32BigEndian(first, 0xC, (uint)_bs);
        Ext4Format.Put32BigEndian(first, 0x10, (uint)blocks);
        Ext4Format.Put32BigEndian(first, 0x14, 1);
        Ext4Format.Put32BigEndian(first, 0x18, 1);
        uuid.CopyTo(first, 0x30);
        Ext4Format.Put32BigEndian(first, 0x40, 1);
        uuid.CopyTo(first, 0x100);
        await appender.AppendAsync(first, cancellationToken).ConfigureAwait(false);
        await appender.SkipAsync(blocks - 1, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The final geometry: the fixed one (checked), or for Auto the content plus headroom.</summary>
    private Ext4Geometry Plan(long metaStart)
    {
        if (fixedGeometry is { } geometry)
        {
            if (MaxInode > geometry.InodeCount)
            {
                throw new Ext4SpaceException(destination, $"The image needs {MaxInode} inodes but {options.Size} bytes at one inode per {options.InodeRatio} bytes give {geometry.InodeCount}; give a larger -Size or a smaller -InodeRatio.");
            }

            if (metaStart + geometry.GroupMetadataBlocks > geometry.TotalBlocks)
            {
                var needed = (metaStart + geometry.GroupMetadataBlocks) * _bs;
                throw new Ext4SpaceException(destination, $"The content needs an ext4 image of at least {needed} bytes ({(needed + (1 << 20) - 1) >> 20} MiB); -Size is {options.Size}. Give a larger -Size or Auto.");
            }

            return geometry;
        }

        var megabyte = (1L << 20) / _bs;
        long Headroom(long blocks) => RoundUp(blocks + (blocks / 10) + (16 * megabyte), megabyte);
        var total = Headroom(metaStart);
        for (var i = 0; i < 16; i++)
        {
            var inodes = Math.Max(total * _bs / options.InodeRatio, MaxInode + Math.Max(MaxInode / 10, 64));
            geometry = Ext4Geometry.Create(_bs, total, inodes);
            if (geometry.InodeCount >= MaxInode + Math.Max(MaxInode / 10, 64) && metaStart + geometry.GroupMetadataBlocks <= total)
            {
                return geometry;
            }

            total = Math.Max(total + megabyte, Headroom(metaStart + geometry.GroupMetadataBlocks));
        }

        throw new Ext4SpaceException(destination, "No ext4 geometry holds this many entries; give -Size and -InodeRatio explicitly.");
    }

    private async Task<(int[] FreeInodes, int[] UsedDirectories)> WriteInodeTablesAsync(Ext4Geometry geometry, Func<int, long> tableOf, CancellationToken cancellationToken)
    {
        var perGroup = geometry.InodesPerGroup;
        var freeInodes = new int[geometry.Groups];
        var usedDirectories = new int[geometry.Groups];
        var table = new byte[perGroup * Ext4Format.InodeSize];
        var treeBlocks = new List<(uint Block, byte[] Data)>();
        for (var g = 0; g < geometry.Groups; g++)
        {
            var firstNumber = ((long)g * perGroup) + 1;
            var used = (int)Math.Clamp(MaxInode - firstNumber + 1, 0, perGroup);
            freeInodes[g] = perGroup - used;
            if (used == 0)
            {
                continue;
            }

            Array.Clear(table);
            for (var i = 0; i < used; i++)
            {
                var number = (uint)(firstNumber + i);
                var node = number switch
                {
                    Ext4Format.RootInode => root,
                    Ext4Format.JournalInode => _journal,
                    < Ext4Format.FirstInode => null,
                    _ => _nodes[(int)(number - Ext4Format.FirstInode)],
                };
                if (node is null)
                {
                    continue;
                }

                Ext4Inodes.Write(table.AsSpan(i * Ext4Format.InodeSize, Ext4Format.InodeSize), node, number, _bs, checksumSeed, treeBlocks);
                if (node.IsDirectory)
                {
                    usedDirectories[g]++;
                }
            }

            var bytes = (int)RoundUp((long)used * Ext4Format.InodeSize, _bs);
            await RandomAccess.WriteAsync(file, table.AsMemory(0, bytes), tableOf(g) * _bs, cancellationToken).ConfigureAwait(false);
            foreach (var (block, data) in treeBlocks)
            {
                await RandomAccess.WriteAsync(file, data, (long)block * _bs, cancellationToken).ConfigureAwait(false);
            }

            treeBlocks.Clear();
        }

        return (freeInodes, usedDirectories);
    }

    /// <summary>Marks every block a live inode owns plus the fixed and metadata areas; writes both bitmaps of every group.</summary>
    private async Task<(int Free, uint BlockCrc, uint InodeCrc)[]> WriteBitmapsAsync(Ext4Geometry geometry, long meta, long metaEnd, CancellationToken cancellationToken)
    {
        var groups = geometry.Groups;
        var bitmaps = new byte[groups][];
        for (var g = 0; g < groups; g++)
        {
            bitmaps[g] = new byte[_bs];
        }

        void Mark(long start, long count)
        {
            for (var b = start; b < start + count; b++)
            {
                var relative = b - geometry.FirstDataBlock;
                bitmaps[relative / geometry.BlocksPerGroup][relative % geometry.BlocksPerGroup >> 3] |= (byte)(1 << (int)(relative % 8));
            }
        }

        Mark(geometry.FirstDataBlock, 1 + geometry.DescriptorBlocks);
        Mark(dataEnd, metaEnd - dataEnd);
        foreach (var node in _nodes.Append(root))
        {
            foreach (var extent in node.Extents)
            {
                if (extent.Physical < dataEnd)
                {
                    Mark(extent.Physical, extent.Length);
                }
            }

            foreach (var block in node.TreeBlocks)
            {
                Mark(block, 1);
            }

            if (node.XattrBlock != 0)
            {
                Mark(node.XattrBlock, 1);
            }
        }

        var result = new (int Free, uint BlockCrc, uint InodeCrc)[groups];
        var inodeBitmaps = new byte[groups * _bs];
        for (var g = 0; g < groups; g++)
        {
            var inGroup = geometry.BlocksInGroup(g);
            var bitmap = bitmaps[g];
            var used = 0;
            for (var i = 0; i < _bs; i++)
            {
                used += BitOperations.PopCount(bitmap[i]);
            }

            for (var bit = inGroup; bit < geometry.BlocksPerGroup; bit++)
            {
                bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
            }

            var inodes = inodeBitmaps.AsSpan(g * _bs, _bs);
            var usedInodes = (int)Math.Clamp(MaxInode - ((long)g * geometry.InodesPerGroup), 0, geometry.InodesPerGroup);
            SetBits(inodes, 0, usedInodes);
            SetBits(inodes, geometry.InodesPerGroup, (_bs * 8) - geometry.InodesPerGroup);
            var seed = checksumSeed ?? 0;
            result[g] = (inGroup - used, Ext4Format.Crc32C(seed, bitmap.AsSpan(0, geometry.BlocksPerGroup / 8)), Ext4Format.Crc32C(seed, inodes[..(geometry.InodesPerGroup / 8)]));
            await RandomAccess.WriteAsync(file, bitmap, (meta + g) * _bs, cancellationToken).ConfigureAwait(false);
        }

        await RandomAccess.WriteAsync(file, inodeBitmaps, (meta + groups) * _bs, cancellationToken).ConfigureAwait(false);
        return result;
    }

    private byte[] Superblock(Ext4Geometry geometry, long freeBlocks, long freeInodes)
    {
        var sb = new byte[1024];
        var span = sb.AsSpan();
        Ext4Format.Put32(span, 0x0, geometry.InodeCount);
        Ext4Format.Put32(span, 0x4, geometry.TotalBlocks);
        Ext4Format.Put32(span, 0xC, freeBlocks);
        Ext4Format.Put32(span, 0x10, freeInodes);
        Ext4Format.Put32(span, 0x14, geometry.FirstDataBlock);
        var log = BitOperations.Log2((uint)_bs) - 10;
        Ext4Format.Put32(span, 0x18, (uint)log);
        Ext4Format.Put32(span, 0x1C, (uint)log);
        Ext4Format.Put32(span, 0x20, (uint)geometry.BlocksPerGroup);
        Ext4Format.Put32(span, 0x24, (uint)geometry.BlocksPerGroup);
        Ext4Format.Put32(span, 0x28, (uint)geometry.InodesPerGroup);
        // e2fsck refuses a last-write time in the future: a SOURCE_DATE_EPOCH ahead of the clock is not used here.
        var time = (uint)Math.Clamp(Math.Min(now.Seconds, DateTimeOffset.UtcNow.ToUnixTimeSeconds()), 0, uint.MaxValue);
        Ext4Format.Put32(span, 0x30, time);
        Ext4Format.Put16(span, 0x36, 0xFFFF);
        Ext4Format.Put16(span, 0x38, 0xEF53);
        Ext4Format.Put16(span, 0x3A, 1);
        Ext4Format.Put16(span, 0x3C, 1);
        Ext4Format.Put32(span, 0x40, time);
        Ext4Format.Put32(span, 0x4C, 1u);
        Ext4Format.Put32(span, 0x54, (uint)Ext4Format.FirstInode);
        Ext4Format.Put16(span, 0x58, Ext4Format.InodeSize);
        Ext4Format.Put32(span, 0x5C, Ext4Format.CompatExtAttr | Ext4Format.CompatDirIndex | Ext4Format.CompatSparseSuper2 | (options.Journal ? Ext4Format.CompatHasJournal : 0));
        Ext4Format.Put32(span, 0x60, Ext4Format.IncompatFiletype | Ext4Format.IncompatExtents | Ext4Format.IncompatFlexBg);
        Ext4Format.Put32(span, 0x64, Ext4Format.RoCompatSparseSuper | Ext4Format.RoCompatLargeFile | Ext4Format.RoCompatHugeFile | Ext4Format.RoCompatDirNlink | Ext4Format.RoCompatExtraIsize | (checksumSeed is null ? 0 : Ext4Format.RoCompatMetadataCsum));
        uuid.CopyTo(span[0x68..]);
        if (options.Label is { } label)
        {
            Encoding.UTF8.GetBytes(label).CopyTo(span[0x78..]);
        }

        if (_journal is not null)
        {
            Ext4Format.Put32(span, 0xE0, Ext4Format.JournalInode);
            var inode = new byte[Ext4Format.InodeSize];
            Ext4Inodes.Write(inode, _journal, Ext4Format.JournalInode, _bs, null, []);
            inode.AsSpan(0x28, 60).CopyTo(span[0x10C..]);
            Ext4Format.Put32(span, 0x10C + 60, (uint)(_journal.Size >> 32));
            Ext4Format.Put32(span, 0x10C + 64, (uint)_journal.Size);
            span[0xFD] = 1;
        }

        for (var i = 0; i < 4; i++)
        {
            Ext4Format.Put32(span, 0xEC + (i * 4), hashSeed[i]);
        }

        span[0xFC] = 2;
        Ext4Format.Put32(span, 0x100, 0x000Cu);
        Ext4Format.Put32(span, 0x108, time);
        Ext4Format.Put16(span, 0x15C, Ext4Format.ExtraInodeSize);
        Ext4Format.Put16(span, 0x15E, Ext4Format.ExtraInodeSize);
        Ext4Format.Put32(span, 0x160, 2u);
        span[0x174] = 4;
        if (checksumSeed is not null)
        {
            span[0x175] = 1;
            Ext4Format.Put32(span, 0x3FC, Ext4Format.Crc32C(~0u, span[..0x3FC]));
        }

        return sb;
    }

    private Ext4Extent[] Extents(long start, long count, string what)
    {
        var extents = new List<Ext4Extent>();
        for (long done = 0; done < count; done += Ext4Format.MaxExtentLength)
        {
            extents.Add(new Ext4Extent((uint)done, (uint)(start + done), (int)Math.Min(Ext4Format.MaxExtentLength, count - done)));
        }

        return extents.Count <= 4
            ? [.. extents]
            : throw new OciException("Ext4MetadataTooLarge", OciErrorKind.LimitsExceeded, $"{what} needs more than four extents of {_bs}-byte blocks.", destination);
    }

    private static void SetBits(Span<byte> bitmap, int from, int count)
    {
        for (var bit = from; bit < from + count; bit++)
        {
            bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
        }
    }

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Writes blocks one after another from a starting block, in 1 MiB writes.</summary>
    private sealed class BlockAppender(SafeFileHandle file, int blockSize, long start)
    {
        private readonly byte[] _buffer = new byte[1 << 20];
        private int _used;
        private long _flushed = start;

        public long Next => _flushed + (_used / blockSize);

        public async Task AppendAsync(byte[] block, CancellationToken cancellationToken)
        {
            if (_used + block.Length > _buffer.Length)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            block.CopyTo(_buffer, _used);
            _used += block.Length;
        }

        public async Task SkipAsync(long blocks, CancellationToken cancellationToken)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
            _flushed += blocks;
        }

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_used > 0)
            {
                await RandomAccess.WriteAsync(file, _buffer.AsMemory(0, _used), _flushed * blockSize, cancellationToken).ConfigureAwait(false);
                _flushed += _used / blockSize;
                _used = 0;
            }
        }
    }
}
