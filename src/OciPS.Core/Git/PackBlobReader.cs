using System.Buffers.Binary;
using System.IO.Compression;
using LibGit2Sharp;

namespace OciPS.Core.Git;

/// <summary>
/// Streams a blob stored whole in one of the repository's packs (as <see cref="PackWriter"/> writes
/// them), found through the packs' version 2 indexes. libgit2 reads an object whole into memory; this
/// reader lets a large file be written out in chunks. Null when the blob is not stored that way (a
/// delta after a gc, a loose object): the caller then falls back to libgit2.
/// </summary>
internal static class PackBlobReader
{
    public static Stream? Open(string objectsDirectory, ObjectId id)
    {
        var packs = Path.Combine(objectsDirectory, "pack");
        if (!Directory.Exists(packs))
        {
            return null;
        }

        foreach (var index in Directory.EnumerateFiles(packs, "pack-*.idx"))
        {
            if (Find(index, id.RawId) is not { } offset)
            {
                continue;
            }

            var pack = new FileStream(Path.ChangeExtension(index, ".pack"), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            try
            {
                pack.Position = offset;
                var first = pack.ReadByte();
                var type = (first >> 4) & 7;
                var size = (long)(first & 0x0F);
                var shift = 4;
                for (var b = first; (b & 0x80) != 0; shift += 7)
                {
                    b = pack.ReadByte();
                    size |= (long)(b & 0x7F) << shift;
                }

                if (type != 3)
                {
                    pack.Dispose();
                    return null;
                }

                return new ZLibStream(pack, CompressionMode.Decompress, leaveOpen: false);
            }
            catch
            {
                pack.Dispose();
                throw;
            }
        }

        return null;
    }

    private static uint FanOut(FileStream index, int i)
    {
        Span<byte> word = stackalloc byte[4];
        index.Position = 8 + (i * 4);
        index.ReadExactly(word);
        return BinaryPrimitives.ReadUInt32BigEndian(word);
    }

    /// <summary>The object's offset in the pack, from the index's fan-out table and sorted names.</summary>
    private static long? Find(string indexPath, byte[] id)
    {
        using var index = new FileStream(indexPath, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        Span<byte> word = stackalloc byte[8];
        Span<byte> name = stackalloc byte[20];
        index.ReadExactly(word);
        if (BinaryPrimitives.ReadUInt32BigEndian(word) != 0xFF744F63 || BinaryPrimitives.ReadUInt32BigEndian(word[4..]) != 2)
        {
            return null;
        }

        var count = FanOut(index, 255);
        long low = id[0] == 0 ? 0 : FanOut(index, id[0] - 1), high = FanOut(index, id[0]);
        const long Names = 8 + (256 * 4);
        while (low < high)
        {
            var middle = (low + high) / 2;
            index.Position = Names + (middle * 20);
            index.ReadExactly(name);
            var order = name.SequenceCompareTo(id);
            if (order == 0)
            {
                var offsets = Names + (count * 24L);
                index.Position = offsets + (middle * 4);
                index.ReadExactly(word[..4]);
                var offset = BinaryPrimitives.ReadUInt32BigEndian(word);
                if ((offset & 0x80000000u) == 0)
                {
                    return offset;
                }

                index.Position = offsets + (count * 4L) + ((offset & 0x7FFFFFFFu) * 8L);
                index.ReadExactly(word);
                return (long)BinaryPrimitives.ReadUInt64BigEndian(word);
            }

            if (order < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return null;
    }
}
