using System.Buffers.Binary;
using System.Numerics;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>
/// Constants of the ext4 on-disk format (kernel Documentation/filesystems/ext4) and the crc32c the
/// metadata_csum feature puts on every structure.
/// </summary>
internal static class Ext4Format
{
    public const int InodeSize = 256;
    public const int ExtraInodeSize = 32;
    public const int FirstInode = 11;
    public const uint RootInode = 2;
    public const uint JournalInode = 8;
    public const int MaxExtentLength = 32768;
    public const int InlineSymlinkLimit = 60;

    public const uint CompatHasJournal = 0x4;
    public const uint CompatExtAttr = 0x8;
    public const uint CompatDirIndex = 0x20;
    public const uint CompatSparseSuper2 = 0x200;
    public const uint IncompatFiletype = 0x2;
    public const uint IncompatExtents = 0x40;
    public const uint IncompatFlexBg = 0x200;
    public const uint RoCompatSparseSuper = 0x1;
    public const uint RoCompatLargeFile = 0x2;
    public const uint RoCompatHugeFile = 0x8;
    public const uint RoCompatDirNlink = 0x20;
    public const uint RoCompatExtraIsize = 0x40;
    public const uint RoCompatMetadataCsum = 0x400;

    public const uint ExtentsFlag = 0x80000;
    public const uint IndexFlag = 0x1000;

    /// <summary>The raw crc32c update ext4 uses (no final inversion); seeds start at ~0.</summary>
    public static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    public static uint Crc32C(uint crc, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return Crc32C(crc, bytes);
    }

    public static void Put16(Span<byte> buffer, int offset, int value) => BinaryPrimitives.WriteUInt16LittleEndian(buffer[offset..], (ushort)value);

    public static void Put32(Span<byte> buffer, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(buffer[offset..], value);

    public static void Put32(Span<byte> buffer, int offset, long value) => BinaryPrimitives.WriteUInt32LittleEndian(buffer[offset..], (uint)value);

    public static void Put32BigEndian(Span<byte> buffer, int offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(buffer[offset..], value);

    /// <summary>Seconds as the 32-bit field plus the extra field: two epoch bits and the nanoseconds.</summary>
    public static (uint Low, uint Extra) EncodeTime(long seconds, int nanoseconds)
    {
        var low = (int)seconds;
        var epoch = (uint)((seconds - low) >> 32) & 3;
        return ((uint)low, epoch | ((uint)Math.Clamp(nanoseconds, 0, 999_999_999) << 2));
    }
}

/// <summary>A run of blocks of a file: logical block, physical block, length (at most 32768).</summary>
internal readonly record struct Ext4Extent(uint Logical, uint Physical, int Length);
