using System.Buffers.Binary;
using System.Text;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>One extended attribute in ext4's form: a name index (the prefix) and the rest of the name.</summary>
internal readonly record struct Ext4Xattr(byte Index, byte[] Name, byte[] Value)
{
    public int EntrySize => 16 + Align(Name.Length);

    public int ValueSize => Align(Value.Length);

    public static int Align(int length) => (length + 3) & ~3;

    /// <summary>The entry hash: the name bytes (as signed chars, like the kernel), then the value's 32-bit words.</summary>
    public uint Hash()
    {
        uint hash = 0;
        foreach (var c in Name)
        {
            hash = (hash << 5) ^ (hash >> 27) ^ (uint)(sbyte)c;
        }

        if (Value.Length > 0)
        {
            Span<byte> padded = stackalloc byte[4];
            for (var i = 0; i < Value.Length; i += 4)
            {
                padded.Clear();
                Value.AsSpan(i, Math.Min(4, Value.Length - i)).CopyTo(padded);
                hash = (hash << 16) ^ (hash >> 16) ^ BinaryPrimitives.ReadUInt32LittleEndian(padded);
            }
        }

        return hash;
    }
}

/// <summary>
/// Extended attributes as ext4 stores them: what fits goes in the inode's spare space after the extra
/// fields, the rest in one attribute block. Entries are sorted (index, name length, name) because the
/// kernel stops searching a block at the first larger name. POSIX ACLs are converted from the xattr
/// form tar carries to ext4's shorter on-disk form.
/// </summary>
internal static class Ext4Xattrs
{
    public const uint Magic = 0xEA020000;

    /// <summary>Space in a 256-byte inode after the extra fields, less the 4-byte magic.</summary>
    public const int InodeAreaSize = Ext4Format.InodeSize - 128 - Ext4Format.ExtraInodeSize - 4;

    private static readonly (string Prefix, byte Index)[] Prefixes =
    [
        ("system.posix_acl_access", 2),
        ("system.posix_acl_default", 3),
        ("user.", 1),
        ("trusted.", 4),
        ("security.", 6),
    ];

    /// <summary>Splits attributes between the inode and a block; names ext4 cannot hold go to <paramref name="skipped"/>.</summary>
    public static (List<Ext4Xattr> Inode, List<Ext4Xattr> Block) Place(IReadOnlyDictionary<string, byte[]> xattrs, int blockSize, string path, Action<string> skipped)
    {
        var all = new List<Ext4Xattr>();
        foreach (var (name, value) in xattrs)
        {
            var prefix = Array.Find(Prefixes, p => p.Index is 2 or 3 ? name == p.Prefix : name.StartsWith(p.Prefix, StringComparison.Ordinal));
            if (prefix.Prefix is null || (prefix.Index is not (2 or 3) && name.Length == prefix.Prefix.Length))
            {
                skipped(name);
                continue;
            }

            var rest = prefix.Index is 2 or 3 ? [] : Encoding.UTF8.GetBytes(name[prefix.Prefix.Length..]);
            var stored = prefix.Index is 2 or 3 ? AclToDisk(value, name, path) : value;
            if (rest.Length > 255)
            {
                skipped(name);
                continue;
            }

            all.Add(new Ext4Xattr(prefix.Index, rest, stored));
        }

        all.Sort(Compare);
        var inode = new List<Ext4Xattr>();
        var block = new List<Ext4Xattr>();
        var inodeUsed = 4;
        foreach (var x in all)
        {
            if (inodeUsed + x.EntrySize + x.ValueSize <= InodeAreaSize)
            {
                inode.Add(x);
                inodeUsed += x.EntrySize + x.ValueSize;
            }
            else
            {
                block.Add(x);
            }
        }

        if (32 + block.Sum(x => x.EntrySize + x.ValueSize) + 4 > blockSize)
        {
            throw new OciException("Ext4XattrsTooLarge", OciErrorKind.LimitsExceeded, $"The extended attributes of '{path}' need more than one {blockSize}-byte block, which ext4 without ea_inode cannot hold.", path);
        }

        return (inode, block);
    }

    /// <summary>Writes entries and values into the inode area (offsets count from the first entry).</summary>
    public static byte[] InodeArea(List<Ext4Xattr> items)
    {
        var area = new byte[InodeAreaSize];
        Fill(area, 0, items);
        return area;
    }

    /// <summary>An attribute block with its header, hashes and (with metadata_csum) checksum.</summary>
    public static void WriteBlock(Span<byte> block, List<Ext4Xattr> items, uint blockNumber, uint? checksumSeed)
    {
        block.Clear();
        Ext4Format.Put32(block, 0, Magic);
        Ext4Format.Put32(block, 4, 1u);
        Ext4Format.Put32(block, 8, 1u);
        uint hash = 0;
        foreach (var x in items)
        {
            hash = (hash << 16) ^ (hash >> 16) ^ x.Hash();
        }

        Ext4Format.Put32(block, 0xC, hash);
        Fill(block, 32, items);
        if (checksumSeed is { } seed)
        {
            Span<byte> number = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(number, blockNumber);
            Ext4Format.Put32(block, 0x10, Ext4Format.Crc32C(Ext4Format.Crc32C(seed, number), block));
        }
    }

    private static void Fill(Span<byte> area, int entriesStart, List<Ext4Xattr> items)
    {
        var entry = entriesStart;
        var valueEnd = area.Length;
        foreach (var x in items)
        {
            var valueOffset = 0;
            if (x.Value.Length > 0)
            {
                valueEnd -= x.ValueSize;
                x.Value.CopyTo(area[valueEnd..]);
                valueOffset = valueEnd;
            }

            area[entry] = (byte)x.Name.Length;
            area[entry + 1] = x.Index;
            Ext4Format.Put16(area, entry + 2, valueOffset);
            Ext4Format.Put32(area, entry + 8, (uint)x.Value.Length);
            Ext4Format.Put32(area, entry + 12, x.Hash());
            x.Name.CopyTo(area[(entry + 16)..]);
            entry += x.EntrySize;
        }
    }

    private static int Compare(Ext4Xattr a, Ext4Xattr b)
    {
        var c = a.Index.CompareTo(b.Index);
        if (c == 0)
        {
            c = a.Name.Length.CompareTo(b.Name.Length);
        }

        return c != 0 ? c : a.Name.AsSpan().SequenceCompareTo(b.Name);
    }

    /// <summary>
    /// The VFS form (version 2, 8-byte entries) to ext4's (version 1; owner, group, mask and other
    /// entries without the id field).
    /// </summary>
    private static byte[] AclToDisk(byte[] value, string name, string path)
    {
        if (value.Length < 4 || (value.Length - 4) % 8 != 0 || BinaryPrimitives.ReadUInt32LittleEndian(value) != 2)
        {
            throw new OciException("Ext4AclInvalid", OciErrorKind.InvalidData, $"The {name} attribute of '{path}' is not a POSIX ACL.", path);
        }

        using var output = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        Ext4Format.Put32(word, 0, 1u);
        output.Write(word);
        for (var i = 4; i < value.Length; i += 8)
        {
            var tag = BinaryPrimitives.ReadUInt16LittleEndian(value.AsSpan(i));
            output.Write(value.AsSpan(i, 4));
            if (tag is 2 or 8)
            {
                output.Write(value.AsSpan(i + 4, 4));
            }
        }

        return output.ToArray();
    }
}
