using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>
/// Serialises inodes (256 bytes, 32 extra bytes with nanosecond times, in-inode xattrs) and the
/// extent trees of files whose extents do not fit in the inode.
/// </summary>
internal static class Ext4Inodes
{
    private const ushort ExtentMagic = 0xF30A;

    public static int LeafCapacity(int blockSize) => (blockSize - 12) / 12;

    /// <summary>Blocks an extent tree of <paramref name="extents"/> extents needs outside the inode (leaves, then index nodes).</summary>
    public static int TreeBlockCount(int extents, int blockSize, string path)
    {
        if (extents <= 4)
        {
            return 0;
        }

        var capacity = LeafCapacity(blockSize);
        var leaves = (extents + capacity - 1) / capacity;
        if (leaves <= 4)
        {
            return leaves;
        }

        var nodes = (leaves + capacity - 1) / capacity;
        return nodes <= 4
            ? leaves + nodes
            : throw new OciException("Ext4TooManyExtents", OciErrorKind.LimitsExceeded, $"'{path}' has {extents} data runs, more than a two-level extent tree holds.", path);
    }

    /// <summary>The checksum seed of one inode: the filesystem seed, the inode number, the generation (0).</summary>
    public static uint Seed(uint checksumSeed, uint number) => Ext4Format.Crc32C(Ext4Format.Crc32C(checksumSeed, number), 0u);

    /// <summary>Writes one inode; the extent tree's outside blocks go to <paramref name="treeBlocks"/>.</summary>
    public static void Write(Span<byte> inode, Ext4Node node, uint number, int blockSize, uint? checksumSeed, List<(uint Block, byte[] Data)> treeBlocks)
    {
        inode.Clear();
        var seed = checksumSeed is { } s ? Seed(s, number) : 0;
        Ext4Format.Put16(inode, 0x0, node.ModeWithType);
        Ext4Format.Put16(inode, 0x2, (int)(node.Uid & 0xFFFF));
        Ext4Format.Put32(inode, 0x4, (uint)node.Size);
        PutTime(inode, 0x8, 0x8C, node.AccessTime);
        PutTime(inode, 0xC, 0x84, node.ChangeTime);
        PutTime(inode, 0x10, 0x88, node.ModifiedTime);
        PutTime(inode, 0x90, 0x94, node.ModifiedTime);
        Ext4Format.Put16(inode, 0x18, (int)(node.Gid & 0xFFFF));
        Ext4Format.Put16(inode, 0x1A, node.Links);
        var sectors = node.BlockCount * (blockSize / 512);
        Ext4Format.Put32(inode, 0x1C, (uint)sectors);
        Ext4Format.Put16(inode, 0x74, (int)(sectors >> 32));
        Ext4Format.Put32(inode, 0x68, node.XattrBlock);
        Ext4Format.Put32(inode, 0x6C, (uint)(node.Size >> 32));
        Ext4Format.Put16(inode, 0x78, (int)(node.Uid >> 16));
        Ext4Format.Put16(inode, 0x7A, (int)(node.Gid >> 16));
        Ext4Format.Put16(inode, 0x80, Ext4Format.ExtraInodeSize);

        uint flags = 0;
        var block = inode.Slice(0x28, 60);
        switch (node.Type)
        {
            case OciFileType.Symlink when node.InlineTarget is { } target:
                target.CopyTo(block);
                break;
            case OciFileType.CharDevice or OciFileType.BlockDevice:
                if (node.DeviceMajor is >= 0 and < 256 && node.DeviceMinor is >= 0 and < 256)
                {
                    Ext4Format.Put32(block, 0, (uint)((node.DeviceMajor << 8) | node.DeviceMinor));
                }
                else
                {
                    var minor = (uint)node.DeviceMinor;
                    Ext4Format.Put32(block, 4, (minor & 0xFF) | ((uint)node.DeviceMajor << 8) | ((minor & ~0xFFu) << 12));
                }

                break;
            case OciFileType.Fifo or OciFileType.Socket:
                break;
            default:
                flags |= Ext4Format.ExtentsFlag;
                WriteExtentTree(block, node, blockSize, seed, checksumSeed is not null, treeBlocks);
                break;
        }

        if (node.Indexed)
        {
            flags |= Ext4Format.IndexFlag;
        }

        Ext4Format.Put32(inode, 0x20, flags);
        if (node.InodeXattrs is { } xattrs)
        {
            Ext4Format.Put32(inode, 128 + Ext4Format.ExtraInodeSize, Ext4Xattrs.Magic);
            xattrs.CopyTo(inode[(128 + Ext4Format.ExtraInodeSize + 4)..]);
        }

        if (checksumSeed is not null)
        {
            var crc = Ext4Format.Crc32C(seed, inode[..Ext4Format.InodeSize]);
            Ext4Format.Put16(inode, 0x7C, (int)(crc & 0xFFFF));
            Ext4Format.Put16(inode, 0x82, (int)(crc >> 16));
        }
    }

    private static void PutTime(Span<byte> inode, int low, int extra, UnixTime time)
    {
        var (seconds, bits) = Ext4Format.EncodeTime(time.Seconds, time.Nanoseconds);
        Ext4Format.Put32(inode, low, seconds);
        Ext4Format.Put32(inode, extra, bits);
    }

    private static void WriteExtentTree(Span<byte> root, Ext4Node node, int blockSize, uint seed, bool checksums, List<(uint Block, byte[] Data)> treeBlocks)
    {
        var extents = node.Extents;
        if (node.TreeBlocks.Length == 0)
        {
            Header(root, extents.Length, 4, 0);
            for (var i = 0; i < extents.Length; i++)
            {
                PutExtent(root, 12 + (i * 12), extents[i]);
            }

            return;
        }

        var capacity = LeafCapacity(blockSize);
        var leafCount = (extents.Length + capacity - 1) / capacity;
        var leafStarts = new uint[leafCount];
        for (var l = 0; l < leafCount; l++)
        {
            var leaf = new byte[blockSize];
            var count = Math.Min(capacity, extents.Length - (l * capacity));
            Header(leaf, count, capacity, 0);
            for (var i = 0; i < count; i++)
            {
                PutExtent(leaf, 12 + (i * 12), extents[(l * capacity) + i]);
            }

            leafStarts[l] = extents[l * capacity].Logical;
            treeBlocks.Add((node.TreeBlocks[l], Seal(leaf, capacity, seed, checksums)));
        }

        if (leafCount <= 4)
        {
            Header(root, leafCount, 4, 1);
            for (var l = 0; l < leafCount; l++)
            {
                PutIndex(root, 12 + (l * 12), leafStarts[l], node.TreeBlocks[l]);
            }

            return;
        }

        var nodeCount = node.TreeBlocks.Length - leafCount;
        Header(root, nodeCount, 4, 2);
        for (var n = 0; n < nodeCount; n++)
        {
            var index = new byte[blockSize];
            var count = Math.Min(capacity, leafCount - (n * capacity));
            Header(index, count, capacity, 1);
            for (var i = 0; i < count; i++)
            {
                var l = (n * capacity) + i;
                PutIndex(index, 12 + (i * 12), leafStarts[l], node.TreeBlocks[l]);
            }

            var at = node.TreeBlocks[leafCount + n];
            treeBlocks.Add((at, Seal(index, capacity, seed, checksums)));
            PutIndex(root, 12 + (n * 12), leafStarts[n * capacity], at);
        }
    }

    private static byte[] Seal(byte[] block, int capacity, uint seed, bool checksums)
    {
        if (checksums)
        {
            var tail = 12 + (capacity * 12);
            Ext4Format.Put32(block, tail, Ext4Format.Crc32C(seed, block.AsSpan(0, tail)));
        }

        return block;
    }

    private static void Header(Span<byte> at, int entries, int max, int depth)
    {
        Ext4Format.Put16(at, 0, ExtentMagic);
        Ext4Format.Put16(at, 2, entries);
        Ext4Format.Put16(at, 4, max);
        Ext4Format.Put16(at, 6, depth);
    }

    private static void PutExtent(Span<byte> at, int offset, Ext4Extent extent)
    {
        Ext4Format.Put32(at, offset, extent.Logical);
        Ext4Format.Put16(at, offset + 4, extent.Length);
        Ext4Format.Put16(at, offset + 6, 0);
        Ext4Format.Put32(at, offset + 8, extent.Physical);
    }

    private static void PutIndex(Span<byte> at, int offset, uint logical, uint block)
    {
        Ext4Format.Put32(at, offset, logical);
        Ext4Format.Put32(at, offset + 4, block);
        Ext4Format.Put16(at, offset + 8, 0);
    }
}
