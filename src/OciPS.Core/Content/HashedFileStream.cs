using OciPS.Core.Model;

namespace OciPS.Core.Content;

/// <summary>
/// A local file whose digest was computed in an earlier pass (to name it in a manifest and to ask a
/// registry whether it already has it). Reading it again to push it need not hash it a second time:
/// destinations that see this stream skip their own hashing (a layout copies the file, a registry
/// checks the digest itself on the final PUT). What guards against the file changing in between is
/// the check at the end of the read, and before a layout moves its copy into place: the file's size
/// and modification time must still be those seen when it was hashed.
/// </summary>
public sealed class HashedFileStream : Stream
{
    private readonly FileStream _inner;
    private long _position;

    private HashedFileStream(string path, Digest digest, long length, DateTime lastWriteUtc)
    {
        Path = path;
        Digest = digest;
        HashedLength = length;
        HashedLastWriteUtc = lastWriteUtc;
        _inner = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The digest computed when the file was hashed.</summary>
    public Digest Digest { get; }

    public long HashedLength { get; }

    public DateTime HashedLastWriteUtc { get; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => HashedLength;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Hashes a file once, returning its digest, size and modification time (read before the hashing starts).</summary>
    public static async Task<(Digest Digest, long Size, DateTime LastWriteUtc)> HashAsync(string path, CancellationToken cancellationToken)
    {
        var before = new FileInfo(path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (stream.ConfigureAwait(false))
        {
            var digest = await Digest.ComputeAsync(stream, Digest.Sha256, cancellationToken).ConfigureAwait(false);
            return (digest, stream.Length, before.LastWriteTimeUtc);
        }
    }

    /// <summary>Opens a file hashed earlier by <see cref="HashAsync"/>.</summary>
    public static HashedFileStream Open(string path, Digest digest, long length, DateTime lastWriteUtc) => new(path, digest, length, lastWriteUtc);

    /// <summary>Throws <see cref="DigestMismatchException"/> when the file is no longer what was hashed.</summary>
    public void EnsureUnchanged()
    {
        var now = new FileInfo(Path);
        now.Refresh();
        if (!now.Exists || now.Length != HashedLength || now.LastWriteTimeUtc != HashedLastWriteUtc)
        {
            throw new DigestMismatchException($"'{Path}' changed while it was being published (it was hashed as {Digest}, {HashedLength} bytes)", Digest, HashedLength, now.Exists ? now.Length : 0);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Account(_inner.Read(buffer, offset, count), count);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Account(await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false), buffer.Length);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Account(int read, int requested)
    {
        _position += read;
        if (_position > HashedLength || (read == 0 && requested > 0 && _position != HashedLength))
        {
            throw new DigestMismatchException($"'{Path}' changed while it was being published", Digest, HashedLength, _position);
        }

        if (read == 0 && requested > 0)
        {
            EnsureUnchanged();
        }

        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
