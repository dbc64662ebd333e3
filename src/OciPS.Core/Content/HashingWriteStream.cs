using System.Security.Cryptography;
using OciPS.Core.Model;

namespace OciPS.Core.Content;

/// <summary>
/// Passes writes through while hashing and counting them: a blob's digest and size (or a layer's
/// diffID) known the moment it is written, without reading it again.
/// </summary>
internal sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : WriteOnlyStream
{
    private long _length;

    /// <summary>A stream with its own SHA-256, read with <see cref="Finish"/>.</summary>
    public HashingWriteStream(Stream inner)
        : this(inner, IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
    {
    }

    /// <summary>The bytes written so far.</summary>
    public override long Length => _length;

    /// <summary>The SHA-256 digest of everything written (for the one-argument constructor).</summary>
    public Digest Finish()
    {
        var digest = Digest.FromHash(Digest.Sha256, hash.GetHashAndReset());
        hash.Dispose();
        return digest;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        hash.AppendData(buffer);
        _length += buffer.Length;
        inner.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        hash.AppendData(buffer.Span);
        _length += buffer.Length;
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
}
