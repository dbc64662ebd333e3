using System.Buffers.Binary;

namespace OciPS.Core.Sinks.SquashFs;

/// <summary>
/// A squashfs metadata stream (inode table, directory table, lookup tables): records cut into 8 KiB
/// blocks, each compressed on its own behind a 16-bit length (bit 15: stored uncompressed). Kept in
/// memory until written: metadata is small next to the data.
/// </summary>
internal sealed class MetadataWriter(BlockCompressor compressor) : IDisposable
{
    public const int BlockSize = 8192;
    private readonly MemoryStream _stream = new();
    private readonly byte[] _block = new byte[BlockSize];
    private readonly byte[] _compressed = new byte[BlockCompressor.Bound(BlockSize)];
    private readonly List<long> _blockStarts = [];
    private int _used;

    /// <summary>Where the current block will start, relative to the table's start.</summary>
    public long BlockStart => _stream.Length;

    /// <summary>The offset in the current (uncompressed) block.</summary>
    public int Offset => _used;

    /// <summary>The position of what is written next as squashfs references it: block start &lt;&lt; 16 | offset.</summary>
    public long Reference => (BlockStart << 16) | (uint)_used;

    /// <summary>The uncompressed position of what is written next, counting every block before it.</summary>
    public long UncompressedPosition => ((long)_blockStarts.Count * BlockSize) + _used;

    /// <summary>The start of the block with the given number (the current block's included).</summary>
    public long StartOfBlock(long block) => block < _blockStarts.Count ? _blockStarts[(int)block] : BlockStart;

    /// <summary>The block starts, for lookup tables that list them.</summary>
    public IReadOnlyList<long> BlockStarts => _blockStarts;

    public void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            var take = Math.Min(data.Length, BlockSize - _used);
            data[..take].CopyTo(_block.AsSpan(_used));
            _used += take;
            data = data[take..];
            if (_used == BlockSize)
            {
                FlushBlock();
            }
        }
    }

    /// <summary>Ends the last block; returns the finished table.</summary>
    public MemoryStream Finish()
    {
        if (_used > 0)
        {
            FlushBlock();
        }

        _stream.Position = 0;
        return _stream;
    }

    public void Dispose() => _stream.Dispose();

    private void FlushBlock()
    {
        _blockStarts.Add(_stream.Length);
        var length = compressor.Compress(_block.AsSpan(0, _used), _compressed);
        Span<byte> header = stackalloc byte[2];
        if (length < _used)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)length);
            _stream.Write(header);
            _stream.Write(_compressed, 0, length);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(_used | 0x8000));
            _stream.Write(header);
            _stream.Write(_block, 0, _used);
        }

        _used = 0;
    }
}
