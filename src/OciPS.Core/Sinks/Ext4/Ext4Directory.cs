namespace OciPS.Core.Sinks.Ext4;

/// <summary>A name in a directory: its bytes, its inode and its type.</summary>
internal readonly record struct Ext4DirEntry(byte[] Name, uint Inode, byte FileType)
{
    public int RecordLength => (8 + Name.Length + 3) & ~3;
}

/// <summary>
/// Lays out a directory's blocks: linear when the names fit in one block, otherwise a hashed tree
/// (dx_root, optionally one level of dx_node, then leaves sorted by the TEA name hash) as the kernel
/// builds once a directory outgrows a block. With metadata_csum every leaf ends in a checksum tail
/// and every index block in a dx_tail.
/// </summary>
internal sealed class Ext4Directory(int blockSize, uint[] hashSeed, uint? checksumSeed)
{
    private const byte TeaHashVersion = 2;
    private readonly int _tail = checksumSeed is null ? 0 : 12;

    /// <summary>Builds the blocks of a directory; <paramref name="indexed"/> tells whether it became a hashed tree.</summary>
    public List<byte[]> Build(uint self, uint parent, IReadOnlyList<Ext4DirEntry> entries, uint inodeSeed, out bool indexed)
    {
        var linear = new List<Ext4DirEntry>(entries.Count + 2) { new("."u8.ToArray(), self, 2), new(".."u8.ToArray(), parent, 2) };
        linear.AddRange(entries);
        var blocks = Pack(linear);
        var indexBlocks = 0;
        indexed = blocks.Count > 1;
        if (indexed)
        {
            blocks = BuildTree(self, parent, entries, out indexBlocks);
        }

        if (checksumSeed is not null)
        {
            for (var i = 0; i < blocks.Count; i++)
            {
                if (i < indexBlocks)
                {
                    SealIndex(blocks[i], i == 0 ? 0x20 : 8, inodeSeed);
                }
                else
                {
                    SealLeaf(blocks[i], inodeSeed);
                }
            }
        }

        return blocks;
    }

    /// <summary>The TEA hash of a name (unsigned chars), low bit cleared as the kernel keeps it for collisions.</summary>
    public uint Hash(ReadOnlySpan<byte> name)
    {
        Span<uint> buffer = stackalloc uint[4];
        hashSeed.AsSpan().CopyTo(buffer);
        if (buffer[0] == 0 && buffer[1] == 0 && buffer[2] == 0 && buffer[3] == 0)
        {
            buffer[0] = 0x67452301;
            buffer[1] = 0xefcdab89;
            buffer[2] = 0x98badcfe;
            buffer[3] = 0x10325476;
        }

        Span<uint> input = stackalloc uint[4];
        for (var remaining = name.Length; remaining > 0; remaining -= 16)
        {
            ToHashBuffer(name[(name.Length - remaining)..], remaining, input);
            Tea(buffer, input);
        }

        if (name.Length == 0)
        {
            return buffer[0] & ~1u;
        }

        var hash = buffer[0] & ~1u;
        return hash == 0xFFFFFFFE ? 0xFFFFFFFC : hash;
    }

    private static void ToHashBuffer(ReadOnlySpan<byte> message, int length, Span<uint> output)
    {
        var pad = (uint)length | ((uint)length << 8);
        pad |= pad << 16;
        var value = pad;
        var count = Math.Min(length, 16);
        var written = 0;
        for (var i = 0; i < count; i++)
        {
            value = message[i] + (value << 8);
            if (i % 4 == 3)
            {
                output[written++] = value;
                value = pad;
            }
        }

        if (written < 4)
        {
            output[written++] = value;
        }

        while (written < 4)
        {
            output[written++] = pad;
        }
    }

    private static void Tea(Span<uint> buffer, ReadOnlySpan<uint> input)
    {
        uint sum = 0, b0 = buffer[0], b1 = buffer[1];
        uint a = input[0], b = input[1], c = input[2], d = input[3];
        for (var n = 0; n < 16; n++)
        {
            sum += 0x9E3779B9;
            b0 += ((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >> 5) + b);
            b1 += ((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >> 5) + d);
        }

        buffer[0] += b0;
        buffer[1] += b1;
    }

    /// <summary>Fills blocks in order; the last entry of each block stretches to the block's end (or its tail).</summary>
    private List<byte[]> Pack(IReadOnlyList<Ext4DirEntry> entries) => Pack(entries, out _);

    private List<byte[]> Pack(IReadOnlyList<Ext4DirEntry> entries, out List<int> firstIndex)
    {
        var usable = blockSize - _tail;
        var blocks = new List<byte[]>();
        firstIndex = [];
        byte[]? block = null;
        int used = 0, last = -1;
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            if (block is null || used + entry.RecordLength > usable)
            {
                if (block is not null)
                {
                    Ext4Format.Put16(block, last + 4, usable - last);
                }

                block = new byte[blockSize];
                blocks.Add(block);
                firstIndex.Add(i);
                used = 0;
            }

            Ext4Format.Put32(block, used, entry.Inode);
            Ext4Format.Put16(block, used + 4, entry.RecordLength);
            block[used + 6] = (byte)entry.Name.Length;
            block[used + 7] = entry.FileType;
            entry.Name.CopyTo(block, used + 8);
            last = used;
            used += entry.RecordLength;
        }

        if (block is not null)
        {
            Ext4Format.Put16(block, last + 4, usable - last);
        }

        return blocks;
    }

    private List<byte[]> BuildTree(uint self, uint parent, IReadOnlyList<Ext4DirEntry> entries, out int indexBlocks)
    {
        var hashed = entries.Select(e => (Hash: Hash(e.Name), Entry: e)).OrderBy(e => e.Hash).ToList();
        var leaves = Pack(hashed.Select(h => h.Entry).ToList(), out var first);

        // An index entry holds the first hash of its leaf; the low bit says the previous leaf ends with the same hash.
        var leafHashes = new uint[leaves.Count];
        for (var i = 1; i < leaves.Count; i++)
        {
            var h = hashed[first[i]].Hash;
            leafHashes[i] = h == hashed[first[i] - 1].Hash ? h | 1 : h;
        }

        var indexTail = _tail == 0 ? 0 : 8;
        var rootLimit = (blockSize - 32 - indexTail) / 8;
        var nodeLimit = (blockSize - 8 - indexTail) / 8;
        var blocks = new List<byte[]>();
        var root = new byte[blockSize];
        blocks.Add(root);
        Ext4Format.Put32(root, 0, self);
        Ext4Format.Put16(root, 4, 12);
        root[6] = 1;
        root[7] = 2;
        root[8] = (byte)'.';
        Ext4Format.Put32(root, 12, parent);
        Ext4Format.Put16(root, 16, blockSize - 12);
        root[18] = 2;
        root[19] = 2;
        root[20] = (byte)'.';
        root[21] = (byte)'.';
        root[0x18 + 4] = TeaHashVersion;
        root[0x18 + 5] = 8;
        if (leaves.Count <= rootLimit)
        {
            WriteIndex(root, 0x20, rootLimit, leafHashes, Enumerable.Range(1, leaves.Count).Select(b => (uint)b).ToArray());
            indexBlocks = 1;
            blocks.AddRange(leaves);
            return blocks;
        }

        var nodes = (leaves.Count + nodeLimit - 1) / nodeLimit;
        if (nodes > rootLimit)
        {
            throw new OciException("Ext4DirectoryTooLarge", OciErrorKind.LimitsExceeded, $"A directory with {entries.Count} entries needs more than a two-level hashed tree (large_dir is not supported).");
        }

        root[0x18 + 6] = 1;
        var nodeHashes = new uint[nodes];
        var nodeBlocks = new uint[nodes];
        for (var n = 0; n < nodes; n++)
        {
            var from = n * nodeLimit;
            var count = Math.Min(nodeLimit, leaves.Count - from);
            var node = new byte[blockSize];
            Ext4Format.Put16(node, 4, blockSize);
            var hashes = leafHashes.AsSpan(from, count).ToArray();
            nodeHashes[n] = hashes[0];
            hashes[0] = 0;
            WriteIndex(node, 8, nodeLimit, hashes, Enumerable.Range(1 + nodes + from, count).Select(b => (uint)b).ToArray());
            nodeBlocks[n] = (uint)(1 + n);
            blocks.Add(node);
        }

        WriteIndex(root, 0x20, rootLimit, nodeHashes, nodeBlocks);
        indexBlocks = 1 + nodes;
        blocks.AddRange(leaves);
        return blocks;
    }

    /// <summary>limit, count, the first block (hash implied 0), then (hash, block) pairs.</summary>
    private static void WriteIndex(byte[] block, int offset, int limit, uint[] hashes, uint[] targets)
    {
        Ext4Format.Put16(block, offset, limit);
        Ext4Format.Put16(block, offset + 2, targets.Length);
        Ext4Format.Put32(block, offset + 4, targets[0]);
        for (var i = 1; i < targets.Length; i++)
        {
            Ext4Format.Put32(block, offset + (i * 8), hashes[i]);
            Ext4Format.Put32(block, offset + (i * 8) + 4, targets[i]);
        }
    }

    /// <summary>An index block's dx_tail, right after its limit entries: crc over the used entries and the tail.</summary>
    private static void SealIndex(byte[] block, int countOffset, uint inodeSeed)
    {
        var limit = BitConverter.ToUInt16(block, countOffset);
        var count = BitConverter.ToUInt16(block, countOffset + 2);
        var tail = countOffset + (limit * 8);
        var crc = Ext4Format.Crc32C(inodeSeed, block.AsSpan(0, countOffset + (count * 8)));
        crc = Ext4Format.Crc32C(crc, block.AsSpan(tail, 8));
        Ext4Format.Put32(block, tail + 4, crc);
    }

    /// <summary>A leaf's tail: a 12-byte entry of inode 0, type 0xDE, holding the crc of everything before it.</summary>
    private void SealLeaf(byte[] block, uint inodeSeed)
    {
        var at = blockSize - 12;
        Ext4Format.Put16(block, at + 4, 12);
        block[at + 7] = 0xDE;
        Ext4Format.Put32(block, at + 8, Ext4Format.Crc32C(inodeSeed, block.AsSpan(0, at)));
    }
}
