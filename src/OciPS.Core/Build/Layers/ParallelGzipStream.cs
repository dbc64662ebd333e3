using System.IO.Compression;
using OciPS.Core.Content;

namespace OciPS.Core.Build.Layers;

/// <summary>
/// A write-only gzip compressor that uses several cores: the input is cut into 1 MiB chunks, each
/// compressed as its own gzip member on the thread pool, and the members are written in order. A
/// multi-member gzip is one gzip file (RFC 1952, as pigz writes); every layer reader (Go's, .NET's,
/// zlib's) reads it whole. The chunk size is fixed, so the output depends only on the input, never
/// on how many cores compressed it. At most <c>parallelism</c> chunks are in flight (bounded memory).
/// </summary>
internal sealed class ParallelGzipStream : WriteOnlyStream
{
    private const int ChunkSize = 1 << 20;

    private readonly Stream _inner;
    private readonly int _parallelism;
    private readonly CompressionLevel _level;
    private readonly Queue<Task<byte[]>> _pending = new();
    private byte[] _chunk = new byte[ChunkSize];
    private int _filled;
    private bool _wroteMember;
    private bool _finished;

    public ParallelGzipStream(Stream inner, int parallelism, CompressionLevel level = CompressionLevel.Optimal)
    {
        _inner = inner;
        _parallelism = Math.Max(1, parallelism);
        _level = level;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (buffer.Length > 0)
        {
            var count = Math.Min(buffer.Length, ChunkSize - _filled);
            buffer.Span[..count].CopyTo(_chunk.AsSpan(_filled));
            _filled += count;
            buffer = buffer[count..];
            if (_filled == ChunkSize)
            {
                await SubmitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // Stream's synchronous write: the engine always writes asynchronously.
    public override void Write(ReadOnlySpan<byte> buffer) =>
        WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();

    /// <summary>Compresses what is left and writes every member; the stream takes no more input.</summary>
    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        if (_finished)
        {
            return;
        }

        if (_filled > 0 || !_wroteMember)
        {
            await SubmitAsync(cancellationToken).ConfigureAwait(false);
        }

        while (_pending.Count > 0)
        {
            await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        }

        _finished = true;
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override async ValueTask DisposeAsync()
    {
        await FinishAsync(CancellationToken.None).ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task SubmitAsync(CancellationToken cancellationToken)
    {
        var data = _chunk;
        var length = _filled;
        var level = _level;
        _pending.Enqueue(Task.Run(() => Compress(data, length, level), cancellationToken));
        _wroteMember = true;
        _chunk = new byte[ChunkSize];
        _filled = 0;
        if (_pending.Count >= _parallelism)
        {
            await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WriteOldestAsync(CancellationToken cancellationToken)
    {
        var member = await _pending.Dequeue().ConfigureAwait(false);
        await _inner.WriteAsync(member, cancellationToken).ConfigureAwait(false);
    }

    private static byte[] Compress(byte[] data, int length, CompressionLevel level)
    {
        if (length == 0)
        {
            // GZipStream writes nothing at all for no input; an empty member is header, empty block, trailer.
            return [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0xFF, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        }

        using var output = new MemoryStream(length / 2 + 64);
        using (var gzip = new GZipStream(output, level, leaveOpen: true))
        {
            gzip.Write(data, 0, length);
        }

        var member = output.ToArray();

        // The OS byte of the header is the compressing platform's (3 on Unix, 10 on Windows): made
        // "unknown" (255, as Go writes it) so the same input gives the same bytes on every machine.
        member[9] = 0xFF;
        return member;
    }
}
