using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using LibGit2Sharp;

namespace OciPS.Core.Git;

/// <summary>
/// Writes new objects into one git pack file (with its version 2 index), instead of one loose file per
/// object: a layer of 20,000 files becomes one sequential write, not 20,000 temporary files, renames
/// and directory lookups. Objects the repository already has, or that this pack already holds, are
/// not written twice. Nothing is visible to git until <see cref="Complete"/> moves the pack and then
/// its index into <c>objects/pack</c>; a writer disposed before that deletes its file.
/// </summary>
/// <remarks>Git names objects and packs by SHA-1; that is the format, not a security choice.</remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "Git's object and pack format is defined with SHA-1.")]
internal sealed class PackWriter : IDisposable
{
    private const int BlobType = 3;
    private readonly Func<ObjectId, bool>? _stored;
    private readonly string _packDirectory;
    private readonly string _temporary;
    private readonly FileStream _file;
    private readonly CrcStream _output;
    private readonly List<PackEntry> _entries = [];
    private readonly HashSet<ObjectId> _written;
    private const int StoredBlock = 65535;

    /// <summary>Contents at least this large are tried for compressibility on their first bytes.</summary>
    private const int SampledSize = 1 << 16;
    private readonly byte[] _buffer = new byte[1 << 18];
    private readonly MemoryStream _sample = new();

    /// <param name="objectsDirectory">The repository's <c>objects</c> directory.</param>
    /// <param name="stored">Whether the repository already has an object (null for a new, empty repository).</param>
    /// <param name="written">The objects earlier packs of this conversion hold (shared between writers, added to).</param>
    public PackWriter(string objectsDirectory, Func<ObjectId, bool>? stored, HashSet<ObjectId> written)
    {
        _stored = stored;
        _written = written;
        _packDirectory = Path.Combine(objectsDirectory, "pack");
        Directory.CreateDirectory(_packDirectory);
        _temporary = Path.Combine(_packDirectory, "tmp_ocips_" + Guid.NewGuid().ToString("N") + ".pack");
        _file = new FileStream(_temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        _output = new CrcStream(_file);
        _file.Write("PACK\0\0\0\u0002\0\0\0\0"u8);
    }

    /// <summary>How many objects the pack holds so far.</summary>
    public int Count => _entries.Count;

    /// <summary>Writes an object whose bytes are in memory (a tree, a commit, a small blob).</summary>
    public ObjectId Write(ObjectType type, byte[] content) => Write(TypeCode(type), new MemoryStream(content, writable: false), content.LongLength);

    /// <summary>Streams a blob of <paramref name="size"/> bytes: hashed and compressed in one pass, never held in memory.</summary>
    public ObjectId WriteBlob(Stream content, long size) => Write(BlobType, content, size);

    /// <summary>Finishes the pack and makes it part of the repository; false (and nothing written) when it is empty.</summary>
    public bool Complete()
    {
        if (_entries.Count == 0)
        {
            Dispose();
            return false;
        }

        Span<byte> count = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(count, (uint)_entries.Count);
        _file.Position = 8;
        _file.Write(count);
        _file.Position = 0;
        var checksum = SHA1.HashData(_file);
        _file.Position = _file.Length;
        _file.Write(checksum);
        _file.Flush();
        _file.Dispose();

        var name = "pack-" + Convert.ToHexString(checksum).ToLowerInvariant();
        var pack = Path.Combine(_packDirectory, name + ".pack");
        File.Move(_temporary, pack, overwrite: true);
        var index = Path.Combine(_packDirectory, name + ".idx");
        var temporaryIndex = Path.Combine(_packDirectory, "tmp_ocips_" + name + ".idx");
        File.WriteAllBytes(temporaryIndex, BuildIndex(checksum));
        File.Move(temporaryIndex, index, overwrite: true);
        return true;
    }

    public void Dispose()
    {
        _file.Dispose();
        _sample.Dispose();
        if (File.Exists(_temporary))
        {
            File.Delete(_temporary);
        }
    }

    private static int TypeCode(ObjectType type) => type switch
    {
        ObjectType.Commit => 1,
        ObjectType.Tree => 2,
        ObjectType.Blob => BlobType,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Packs here hold commits, trees and blobs."),
    };

    private ObjectId Write(int type, Stream content, long size)
    {
        var start = _file.Position;
        _output.ResetCrc();
        WriteHeader(type, size);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        hash.AppendData(Encoding.ASCII.GetBytes((type switch { 1 => "commit", 2 => "tree", _ => "blob" }) + " " + size.ToString(CultureInfo.InvariantCulture) + "\0"));
        if (size == 0)
        {
            // A zlib stream of nothing (header, an empty final block, Adler-32 of nothing): the
            // compressor writes no header at all when it is given no bytes.
            _output.Write([0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        }
        else
        {
            var head = ReadFully(content, _buffer, (int)Math.Min(_buffer.Length, size));
            hash.AppendData(_buffer, 0, head);
            if (size >= SampledSize && Incompressible(_buffer.AsSpan(0, head)))
            {
                WriteStored(content, size, head, hash);
            }
            else
            {
                WriteDeflated(content, size, head, hash);
            }
        }

        var id = new ObjectId(hash.GetHashAndReset());
        if (!_written.Add(id) || (_stored?.Invoke(id) ?? false))
        {
            // Already stored: take the copy back out of the pack.
            _file.SetLength(start);
            _file.Position = start;
            return id;
        }

        _entries.Add(new PackEntry(id, start, _output.Crc));
        return id;
    }

    /// <summary>Compresses the content with zlib's strongest level (git reuses these bytes as they are when it repacks).</summary>
    private void WriteDeflated(Stream content, long size, int head, IncrementalHash hash)
    {
        using var deflate = new ZLibStream(_output, CompressionLevel.SmallestSize, leaveOpen: true);
        deflate.Write(_buffer, 0, head);
        var remaining = size - head;
        while (remaining > 0)
        {
            var read = ReadFully(content, _buffer, (int)Math.Min(_buffer.Length, remaining));
            hash.AppendData(_buffer, 0, read);
            deflate.Write(_buffer, 0, read);
            remaining -= read;
        }
    }

    /// <summary>
    /// Stores the content in zlib's uncompressed blocks: content that does not compress (compressed
    /// archives, media, random data) costs no compressor time, and is no larger than a compressor
    /// would make it (git's own zlib stores such data the same way).
    /// </summary>
    private void WriteStored(Stream content, long size, int head, IncrementalHash hash)
    {
        _output.Write([0x78, 0x01]);
        uint a = 1, b = 0;
        var remaining = size - head;
        var length = head;
        while (true)
        {
            Adler32(_buffer.AsSpan(0, length), ref a, ref b);
            for (var offset = 0; offset < length; offset += StoredBlock)
            {
                var block = Math.Min(StoredBlock, length - offset);
                var last = remaining == 0 && offset + block == length;
                Span<byte> header = [last ? (byte)1 : (byte)0, (byte)block, (byte)(block >> 8), (byte)~block, (byte)(~block >> 8)];
                _output.Write(header);
                _output.Write(_buffer, offset, block);
            }

            if (remaining == 0)
            {
                break;
            }

            length = ReadFully(content, _buffer, (int)Math.Min(_buffer.Length, remaining));
            hash.AppendData(_buffer, 0, length);
            remaining -= length;
        }

        Span<byte> checksum = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(checksum, (b << 16) | a);
        _output.Write(checksum);
    }

    /// <summary>Whether a sample of the content gains (almost) nothing from compression.</summary>
    private bool Incompressible(ReadOnlySpan<byte> sample)
    {
        _sample.SetLength(0);
        using (var deflate = new ZLibStream(_sample, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(sample[..Math.Min(sample.Length, SampledSize)]);
        }

        return _sample.Length >= Math.Min(sample.Length, SampledSize) * 49L / 50;
    }

    private static void Adler32(ReadOnlySpan<byte> data, ref uint a, ref uint b)
    {
        const uint Modulus = 65521;
        while (data.Length > 0)
        {
            // 5552 bytes is the most that can be summed before b could overflow 32 bits.
            var chunk = data[..Math.Min(data.Length, 5552)];
            foreach (var value in chunk)
            {
                a += value;
                b += a;
            }

            a %= Modulus;
            b %= Modulus;
            data = data[chunk.Length..];
        }
    }

    private static int ReadFully(Stream content, byte[] buffer, int count)
    {
        var total = 0;
        while (total < count)
        {
            var read = content.Read(buffer, total, count - total);
            if (read == 0)
            {
                throw new EndOfStreamException($"The content ended {count - total} bytes early.");
            }

            total += read;
        }

        return total;
    }

    private void WriteHeader(int type, long size)
    {
        Span<byte> header = stackalloc byte[16];
        var length = 0;
        var current = (byte)((type << 4) | (int)(size & 0x0F));
        size >>= 4;
        while (size != 0)
        {
            header[length++] = (byte)(current | 0x80);
            current = (byte)(size & 0x7F);
            size >>= 7;
        }

        header[length++] = current;
        _output.Write(header[..length]);
    }

    /// <summary>The version 2 pack index: fan-out table, sorted names, CRCs, offsets, checksums.</summary>
    private byte[] BuildIndex(byte[] packChecksum)
    {
        var sorted = _entries.OrderBy(e => e.Id.Sha, StringComparer.Ordinal).ToArray();
        using var index = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        Span<byte> wide = stackalloc byte[8];
        index.Write([0xFF, (byte)'t', (byte)'O', (byte)'c', 0, 0, 0, 2]);
        var fanout = new int[256];
        foreach (var entry in sorted)
        {
            fanout[entry.Id.RawId[0]]++;
        }

        var running = 0u;
        for (var i = 0; i < 256; i++)
        {
            running += (uint)fanout[i];
            BinaryPrimitives.WriteUInt32BigEndian(word, running);
            index.Write(word);
        }

        foreach (var entry in sorted)
        {
            index.Write(entry.Id.RawId);
        }

        foreach (var entry in sorted)
        {
            BinaryPrimitives.WriteUInt32BigEndian(word, entry.Crc);
            index.Write(word);
        }

        var large = new List<long>();
        foreach (var entry in sorted)
        {
            if (entry.Offset < 0x80000000L)
            {
                BinaryPrimitives.WriteUInt32BigEndian(word, (uint)entry.Offset);
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(word, 0x80000000u | (uint)large.Count);
                large.Add(entry.Offset);
            }

            index.Write(word);
        }

        foreach (var offset in large)
        {
            BinaryPrimitives.WriteUInt64BigEndian(wide, (ulong)offset);
            index.Write(wide);
        }

        index.Write(packChecksum);
        index.Write(SHA1.HashData(index.ToArray()));
        return index.ToArray();
    }

    private sealed record PackEntry(ObjectId Id, long Offset, uint Crc);

    /// <summary>Passes writes through, keeping the CRC-32 (IEEE) of what was written since the last reset.</summary>
    private sealed class CrcStream(Stream inner) : Stream
    {
        private static readonly uint[] Table = BuildTable();
        private uint _crc = 0xFFFFFFFF;

        public uint Crc => ~_crc;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => throw new NotSupportedException();
        }

        public void ResetCrc() => _crc = 0xFFFFFFFF;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var crc = _crc;
            foreach (var b in buffer)
            {
                crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            }

            _crc = crc;
            inner.Write(buffer);
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private static uint[] BuildTable()
        {
            var table = new uint[256];
            for (var n = 0u; n < 256; n++)
            {
                var c = n;
                for (var k = 0; k < 8; k++)
                {
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                }

                table[n] = c;
            }

            return table;
        }
    }
}
