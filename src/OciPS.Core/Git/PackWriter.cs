using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
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
/// <remarks>
/// <para>The caller's thread reads and hashes (the id is known when the content has streamed by);
/// one worker thread compresses and writes, a few chunks behind, so reading a layer (gunzip,
/// diffID) and compressing its files use two cores. Memory stays bounded by the queue.</para>
/// <para>Objects are compressed with zlib's strongest level: <c>git gc</c> keeps an object's
/// compressed bytes as they are unless it stores it as a delta, so this level is what the
/// repository weighs even after a gc. Content that does not compress is stored in zlib's
/// uncompressed blocks instead, which costs no compressor time and is no larger.</para>
/// <para>Git names objects and packs by SHA-1; that is the format, not a security choice.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "Git's object and pack format is defined with SHA-1.")]
internal sealed class PackWriter : IDisposable
{
    private const int BlobType = 3;
    private const int StoredBlock = 65535;
    private const int ChunkSize = 1 << 18;

    /// <summary>Contents at least this large are tried for compressibility on their first bytes.</summary>
    private const int SampledSize = 1 << 16;

    private readonly Func<ObjectId, bool>? _stored;
    private readonly string _packDirectory;
    private readonly string _temporary;
    private readonly FileStream _file;
    private readonly CrcStream _output;
    private readonly List<PackEntry> _entries = [];
    private readonly HashSet<ObjectId> _written;
    private readonly MemoryStream _sample = new();
    private readonly BlockingCollection<Job> _jobs = new(boundedCapacity: 16);
    private readonly Thread _worker;
    private volatile bool _abandoned;
    private Exception? _failure;

    // The worker's state for the object it is writing.
    private long _start;
    private long _size;
    private long _done;
    private ZLibStream? _deflate;
    private bool _storing;
    private uint _adlerA;
    private uint _adlerB;

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
        _worker = new Thread(Work) { IsBackground = true, Name = "OciPS git pack writer" };
        _worker.Start();
    }

    /// <summary>Writes an object whose bytes are in memory (a tree, a commit, a small blob).</summary>
    public ObjectId Write(ObjectType type, byte[] content) => Write(TypeCode(type), new MemoryStream(content, writable: false), content.LongLength);

    /// <summary>Streams a blob of <paramref name="size"/> bytes: hashed and compressed as it streams by, never held in memory.</summary>
    public ObjectId WriteBlob(Stream content, long size) => Write(BlobType, content, size);

    /// <summary>Finishes the pack and makes it part of the repository; false (and nothing written) when it is empty.</summary>
    public bool Complete()
    {
        StopWorker();
        if (_failure is not null)
        {
            throw new IOException($"Writing the pack {_temporary} failed: {_failure.Message}", _failure);
        }

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
        _abandoned = true;
        StopWorker();
        _deflate?.Dispose();
        _file.Dispose();
        _sample.Dispose();
        _jobs.Dispose();
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

    private void StopWorker()
    {
        if (!_jobs.IsAddingCompleted)
        {
            _jobs.CompleteAdding();
        }

        _worker.Join();
    }

    /// <summary>Reads and hashes the content on the caller's thread, handing it to the worker in chunks.</summary>
    private ObjectId Write(int type, Stream content, long size)
    {
        if (_failure is not null || _abandoned || _jobs.IsAddingCompleted)
        {
            throw new InvalidOperationException("The pack writer has stopped.", _failure);
        }

        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            hash.AppendData(Encoding.ASCII.GetBytes((type switch { 1 => "commit", 2 => "tree", _ => "blob" }) + " " + size.ToString(CultureInfo.InvariantCulture) + "\0"));
            if (size == 0)
            {
                _jobs.Add(new Begin(type, 0, Stored: false));
            }
            else
            {
                var first = ArrayPool<byte>.Shared.Rent(ChunkSize);
                var head = ReadFully(content, first, (int)Math.Min(ChunkSize, size));
                hash.AppendData(first, 0, head);
                _jobs.Add(new Begin(type, size, size >= SampledSize && Incompressible(first.AsSpan(0, head))));
                _jobs.Add(new Chunk(first, head));
                for (var remaining = size - head; remaining > 0;)
                {
                    var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                    var read = ReadFully(content, buffer, (int)Math.Min(ChunkSize, remaining));
                    hash.AppendData(buffer, 0, read);
                    _jobs.Add(new Chunk(buffer, read));
                    remaining -= read;
                }
            }

            var id = new ObjectId(hash.GetHashAndReset());

            // Already stored (in the repository, or earlier in this conversion): the worker takes the copy back out.
            var keep = _written.Add(id) && !(_stored?.Invoke(id) ?? false);
            _jobs.Add(new End(id, keep));
            return id;
        }
        catch
        {
            // A half-handed object cannot be finished: the pack is given up (the caller disposes it).
            _abandoned = true;
            throw;
        }
    }

    /// <summary>Whether a sample of the content gains (almost) nothing from compression.</summary>
    private bool Incompressible(ReadOnlySpan<byte> sample)
    {
        sample = sample[..Math.Min(sample.Length, SampledSize)];
        _sample.SetLength(0);
        using (var deflate = new ZLibStream(_sample, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(sample);
        }

        return _sample.Length >= sample.Length * 49L / 50;
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

    /// <summary>The worker: compresses and writes the objects in the order they were handed over.</summary>
    private void Work()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            try
            {
                if (_failure is null && !_abandoned)
                {
                    Apply(job);
                }
            }
#pragma warning disable CA1031 // The failure is kept and rethrown on the caller's thread by Complete.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _failure = ex;
            }
            finally
            {
                if (job is Chunk chunk)
                {
                    ArrayPool<byte>.Shared.Return(chunk.Buffer);
                }
            }
        }
    }

    private void Apply(Job job)
    {
        switch (job)
        {
            case Begin begin:
                _start = _file.Position;
                _size = begin.Size;
                _done = 0;
                _output.ResetCrc();
                WriteHeader(begin.Type, begin.Size);
                _storing = begin.Stored;
                if (begin.Size == 0)
                {
                    // A zlib stream of nothing (header, an empty final block, Adler-32 of nothing): the
                    // compressor writes no header at all when it is given no bytes.
                    _output.Write([0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
                }
                else if (_storing)
                {
                    _output.Write([0x78, 0x01]);
                    (_adlerA, _adlerB) = (1, 0);
                }
                else
                {
                    _deflate = new ZLibStream(_output, CompressionLevel.SmallestSize, leaveOpen: true);
                }

                break;
            case Chunk chunk when _storing:
                WriteStored(chunk.Buffer.AsSpan(0, chunk.Length));
                break;
            case Chunk chunk:
                _deflate!.Write(chunk.Buffer, 0, chunk.Length);
                _done += chunk.Length;
                break;
            case End end:
                if (_deflate is not null)
                {
                    _deflate.Dispose();
                    _deflate = null;
                }
                else if (_storing)
                {
                    Span<byte> checksum = stackalloc byte[4];
                    BinaryPrimitives.WriteUInt32BigEndian(checksum, (_adlerB << 16) | _adlerA);
                    _output.Write(checksum);
                }

                if (end.Keep)
                {
                    _entries.Add(new PackEntry(end.Id, _start, _output.Crc));
                }
                else
                {
                    _file.SetLength(_start);
                    _file.Position = _start;
                }

                break;
        }
    }

    /// <summary>Zlib's uncompressed blocks (at most 65,535 bytes each, the last one flagged final).</summary>
    private void WriteStored(ReadOnlySpan<byte> data)
    {
        Adler32(data, ref _adlerA, ref _adlerB);
        Span<byte> header = stackalloc byte[5];
        while (data.Length > 0)
        {
            var block = Math.Min(StoredBlock, data.Length);
            _done += block;
            header[0] = _done == _size ? (byte)1 : (byte)0;
            BinaryPrimitives.WriteUInt16LittleEndian(header[1..], (ushort)block);
            BinaryPrimitives.WriteUInt16LittleEndian(header[3..], (ushort)~block);
            _output.Write(header);
            _output.Write(data[..block]);
            data = data[block..];
        }
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

    /// <summary>What the reading thread hands the worker: an object's start, its content in order, its end.</summary>
    private abstract record Job;

    private sealed record Begin(int Type, long Size, bool Stored) : Job;

    /// <summary>A pooled buffer, returned by the worker.</summary>
    private sealed record Chunk(byte[] Buffer, int Length) : Job;

    /// <summary>The object's id, and whether to keep it (false: it is already stored, take it back out).</summary>
    private sealed record End(ObjectId Id, bool Keep) : Job;

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
