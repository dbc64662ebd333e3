namespace OciPS.Core.Sinks.Ext4;

/// <summary>
/// The block groups of an image: how many, how many inodes each, where the group descriptors end.
/// Bitmaps and inode tables are not placed here: with flex_bg they may lie anywhere, and the writer
/// puts them after the data (see <see cref="Ext4Sink"/>).
/// </summary>
internal sealed record Ext4Geometry(int BlockSize, long TotalBlocks, int Groups, int InodesPerGroup)
{
    /// <summary>The largest image <c>-Size Auto</c> plans descriptor room for (data starts after that room).</summary>
    public static long MaxAutoBytes(int blockSize) => blockSize == 4096 ? 1L << 40 : 1L << 36;

    public int BlocksPerGroup => BlockSize * 8;

    public uint FirstDataBlock => BlockSize == 1024 ? 1u : 0u;

    public int InodeTableBlocks => InodesPerGroup * Ext4Format.InodeSize / BlockSize;

    public long InodeCount => (long)Groups * InodesPerGroup;

    public int DescriptorBlocks => DescriptorBlocksFor(Groups, BlockSize);

    /// <summary>Bitmaps and inode tables of every group.</summary>
    public long GroupMetadataBlocks => (long)Groups * (2 + InodeTableBlocks);

    public long GroupStart(int group) => FirstDataBlock + ((long)group * BlocksPerGroup);

    public int BlocksInGroup(int group) => (int)Math.Min(BlocksPerGroup, TotalBlocks - GroupStart(group));

    public static int DescriptorBlocksFor(long groups, int blockSize) => (int)(((groups * 32) + blockSize - 1) / blockSize);

    public static int GroupsFor(long totalBlocks, int blockSize) => (int)((totalBlocks - (blockSize == 1024 ? 1 : 0) + (blockSize * 8) - 1) / (blockSize * 8));

    /// <summary>Groups for a size, and inodes per group for at least <paramref name="inodes"/> inodes.</summary>
    public static Ext4Geometry Create(int blockSize, long totalBlocks, long inodes)
    {
        var groups = GroupsFor(totalBlocks, blockSize);
        var perBlock = blockSize / Ext4Format.InodeSize;
        var multiple = Math.Max(8, perBlock);
        var perGroup = (inodes + groups - 1) / groups;
        perGroup = Math.Max(multiple, (perGroup + multiple - 1) / multiple * multiple);
        perGroup = Math.Min(perGroup, blockSize * 8);
        return new Ext4Geometry(blockSize, totalBlocks, groups, (int)perGroup);
    }

    /// <summary>The journal mkfs.ext4 would make for this size, in blocks.</summary>
    public static int JournalBlocks(long totalBlocks) => totalBlocks switch
    {
        < 32768 => 1024,
        < 262144 => 4096,
        < 524288 => 8192,
        < 4194304 => 16384,
        _ => 32768,
    };
}
