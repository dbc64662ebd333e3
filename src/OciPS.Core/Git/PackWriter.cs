using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
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
/// <para>Three kinds of thread share the work. The caller's thread reads and hashes (the id is known
/// when the content has streamed by) and cuts each object into pieces of at most a mebibyte
/// (<see cref="ZlibPieces"/>); one compressor per processor compresses pieces in any order; one
/// writer thread appends them to the pack strictly in the order they were handed over, so the pack,
/// like the object ids, is the same on every run. Memory stays bounded by the pieces in flight.</para>
/// <para>An object that fits in one piece is hashed before it is compressed, so one the repository
/// already has costs no compression. Content that does not compress (judged on its first 64 KiB) is
/// stored in zlib's uncompressed blocks, which costs no compressor time and is no larger.</para>
/// <para>Git names objects and packs by SHA-1; that is the format, not a security choice.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "Git's object and pack format is defined with SHA-1.")]
internal sealed class PackWriter : IDisposable
{
    private const int BlobType = 3;
    private const int PieceSize = 1 << 20;

    /// <summary>Contents at least this large are judged for compressibility on their first bytes.</summary>
    private const int SampledSize = 1 << 16;

    /// <summary>A zlib stream of nothing (header, an empty final block, Adler-32 of nothing): the compressor writes nothing at all for no input.</summary>
    private static readonly byte[] EmptyZlib = [0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];

    private readonly Func<ObjectId, bool>? _stored;
    private readonly string _packDirectory;
    private readonly string _temporary;
    private readonly FileStream _file;
    private readonly List<PackEntry> _entries = [];
    private readonly HashSet<ObjectId> _written;
    private readonly MemoryStream _sample = new();

    /// <summary>Pieces in the order they go into the pack (bounded: it is what limits memory).</summary>
    private readonly BlockingCollection<Piece> _ordered;

    /// <summary>Pieces waiting for a compressor.</summary>
    private readonly BlockingCollection<Piece> _work = new();
    private readonly Thread[] _compressors;
    private readonly Thread _writer;
    private volatile bool _abandoned;
    private Exception? _failure;

    // The writer thread's state for the object it is writing.
    private long _start;
    // The CRC-32 a version 2 pack index keeps for each entry (System.IO.Hashing: vectorised).
    private readonly System.IO.Hashing.Crc32 _crc = new();
    private uint _adler;

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
        _file.Write("PACK\0\0\0\u0002\0\0\0\0"u8);
        // Past four compressors the reading thread (gunzip, two hashes) is the limit; the pieces in
        // flight, at most two mebibytes each, bound the memory at a few tens of mebibytes.
        var compressors = Math.Clamp(Environment.ProcessorCount, 1, 4);
        _ordered = new BlockingCollection<Piece>(boundedCapacity: (3 * compressors) + 2);
        _compressors = new Thread[compressors];
        for (var i = 0; i < compressors; i++)
        {
            _compressors[i] = new Thread(Compress) { IsBackground = true, Name = "OciPS git pack compressor" };
            _compressors[i].Start();
        }

        _writer = new Thread(WriteOut) { IsBackground = true, Name = "OciPS git pack writer" };
        _writer.Start();
    }

    /// <summary>Writes an object whose bytes are in memory (a tree, a commit, a small blob).</summary>
    public ObjectId Write(ObjectType type, byte[] content) => Write(TypeCode(type), new MemoryStream(content, writable: false), content.LongLength);

    /// <summary>Streams a blob of <paramref name="size"/> bytes: hashed and compressed as it streams by, never held in memory.</summary>
    public ObjectId WriteBlob(Stream content, long size) => Write(BlobType, content, size);

    /// <summary>Finishes the pack and makes it part of the repository; false (and nothing written) when it is empty.</summary>
    public bool Complete()
    {
        StopThreads();
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
        StopThreads();
        _file.Dispose();
        _sample.Dispose();
        _ordered.Dispose();
        _work.Dispose();
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

    private void StopThreads()
    {
        if (!_ordered.IsAddingCompleted)
        {
            _ordered.CompleteAdding();
            _work.CompleteAdding();
        }

        foreach (var compressor in _compressors)
        {
            compressor.Join();
        }

        _writer.Join();
    }

    /// <summary>Reads and hashes the content on the caller's thread, handing it over in pieces.</summary>
    private ObjectId Write(int type, Stream content, long size)
    {
        if (_failure is not null || _abandoned || _ordered.IsAddingCompleted)
        {
            throw new InvalidOperationException("The pack writer has stopped.", _failure);
        }

        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            hash.AppendData(Encoding.ASCII.GetBytes((type switch { 1 => "commit", 2 => "tree", _ => "blob" }) + " " + size.ToString(CultureInfo.InvariantCulture) + "\0"));
            if (size == 0)
            {
                var empty = new ObjectId(hash.GetHashAndReset());
                if (Claim(empty))
                {
                    Hand(new Piece(type, 0, first: true, last: true, stored: false, null, 0) { Id = empty });
                }

                return empty;
            }

            var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(PieceSize, size));
            var length = ReadFully(content, buffer, (int)Math.Min(PieceSize, size));
            hash.AppendData(buffer, 0, length);
            var stored = size >= SampledSize && Incompressible(buffer.AsSpan(0, length));
            if (length == size)
            {
                // Known before it is compressed: an object already stored costs nothing more.
                var id = new ObjectId(hash.GetHashAndReset());
                if (Claim(id))
                {
                    Hand(new Piece(type, size, first: true, last: true, stored, buffer, length) { Id = id });
                }
                else
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                return id;
            }

            Hand(new Piece(type, size, first: true, last: false, stored, buffer, length));
            for (var remaining = size - length; remaining > 0;)
            {
                buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(PieceSize, remaining));
                length = ReadFully(content, buffer, (int)Math.Min(PieceSize, remaining));
                hash.AppendData(buffer, 0, length);
                remaining -= length;
                if (remaining > 0)
                {
                    Hand(new Piece(type, size, first: false, last: false, stored, buffer, length));
                    continue;
                }

                var id = new ObjectId(hash.GetHashAndReset());

                // Already stored (in the repository, or earlier in this conversion): the writer takes the copy back out.
                Hand(new Piece(type, size, first: false, last: true, stored, buffer, length) { Id = id, Keep = Claim(id) });
                return id;
            }

            throw new UnreachableException();
        }
        catch
        {
            // A half-handed object cannot be finished: the pack is given up (the caller disposes it).
            _abandoned = true;
            throw;
        }
    }

    /// <summary>Whether the object is new to the repository and to this conversion (and, from now on, written).</summary>
    private bool Claim(ObjectId id) => _written.Add(id) && !(_stored?.Invoke(id) ?? false);

    private void Hand(Piece piece)
    {
        _ordered.Add(piece);
        if (piece.Length == 0)
        {
            piece.Done.Set();
        }
        else
        {
            _work.Add(piece);
        }
    }

    /// <summary>Whether a sample of the content gains (almost) nothing from compression.</summary>
    private bool Incompressible(ReadOnlySpan<byte> sample)
    {
        sample = sample[..Math.Min(sample.Length, SampledSize)];

        // Order-0 entropy first: below 7 bits a byte, Huffman coding alone gains over 12%, so the
        // content compresses and the trial compression below (most of a millisecond) is not needed.
        Span<int> counts = stackalloc int[256];
        foreach (var value in sample)
        {
            counts[value]++;
        }

        var bits = 0.0;
        foreach (var count in counts)
        {
            if (count > 0)
            {
                bits -= count * Math.Log2((double)count / sample.Length);
            }
        }

        if (bits < sample.Length * 7.0)
        {
            return false;
        }

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

    /// <summary>A compressor: compresses pieces as they come, in any order.</summary>
    private void Compress()
    {
        foreach (var piece in _work.GetConsumingEnumerable())
        {
            try
            {
                if (_failure is null && !_abandoned)
                {
                    piece.Output = new PieceBuffer(piece.Length + (piece.Length / 8) + 64);
                    (piece.Adler, piece.End) = ZlibPieces.Compress(piece.Input.AsSpan(0, piece.Length), piece.Stored, piece.Last, piece.Output);
                }
            }
#pragma warning disable CA1031 // The failure is kept and rethrown on the caller's thread.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                piece.Failure = ex;
            }
            finally
            {
                piece.ReturnInput();
                piece.Done.Set();
            }
        }
    }

    /// <summary>The writer: appends compressed pieces to the pack in the order they were handed over.</summary>
    private void WriteOut()
    {
        foreach (var piece in _ordered.GetConsumingEnumerable())
        {
            try
            {
                piece.Done.Wait();
                if (piece.Failure is not null)
                {
                    Interlocked.CompareExchange(ref _failure, piece.Failure, null);
                }

                if (_failure is null && !_abandoned)
                {
                    Append(piece);
                }
            }
#pragma warning disable CA1031 // The failure is kept and rethrown on the caller's thread by Complete.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Interlocked.CompareExchange(ref _failure, ex, null);
            }
            finally
            {
                piece.Release();
            }
        }
    }

    private void Append(Piece piece)
    {
        if (piece.First)
        {
            _start = _file.Position;
            _crc.Reset();
            _adler = 1;
            WriteHeader(piece.Type, piece.Size);
        }

        if (piece.Output is null)
        {
            Emit(EmptyZlib);
        }
        else
        {
            // The zlib header only before the first piece.
            Emit(piece.Output.Span[(piece.First ? 0 : ZlibPieces.HeaderLength)..piece.End]);
            _adler = ZlibPieces.CombineAdler(_adler, piece.Adler, piece.Length);
            if (piece.Last)
            {
                Span<byte> checksum = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(checksum, _adler);
                Emit(checksum);
            }
        }

        if (!piece.Last)
        {
            return;
        }

        if (piece.Keep)
        {
            _entries.Add(new PackEntry(piece.Id!, _start, _crc.GetCurrentHashAsUInt32()));
        }
        else
        {
            _file.SetLength(_start);
            _file.Position = _start;
        }
    }

    private void Emit(ReadOnlySpan<byte> bytes)
    {
        _crc.Append(bytes);
        _file.Write(bytes);
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
        Emit(header[..length]);
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

    /// <summary>Up to a mebibyte of one object, on its way from the reading thread through a compressor to the writer.</summary>
    private sealed class Piece(int type, long size, bool first, bool last, bool stored, byte[]? input, int length)
    {
        public int Type { get; } = type;

        /// <summary>The whole object's size (for the pack entry's header, written with the first piece).</summary>
        public long Size { get; } = size;

        public bool First { get; } = first;

        public bool Last { get; } = last;

        public bool Stored { get; } = stored;

        /// <summary>A pooled buffer, returned once compressed.</summary>
        public byte[]? Input { get; private set; } = input;

        public int Length { get; } = length;

        /// <summary>On the last piece: the object's id, and whether to keep it (false: it is already stored, take it back out).</summary>
        public ObjectId? Id { get; init; }

        public bool Keep { get; init; } = true;

        public ManualResetEventSlim Done { get; } = new(false);

        // Set by the compressor.
        public PieceBuffer? Output { get; set; }

        /// <summary>Where the piece's deflate data ends in <see cref="Output"/> (the Adler-32 after it is the piece's own).</summary>
        public int End { get; set; }

        public uint Adler { get; set; }

        public Exception? Failure { get; set; }

        public void ReturnInput()
        {
            if (Input is not null)
            {
                ArrayPool<byte>.Shared.Return(Input);
                Input = null;
            }
        }

        public void Release()
        {
            ReturnInput();
            Output?.Dispose();
            Output = null;
            Done.Dispose();
        }
    }
}
