using System.Security.Cryptography;
using OciPS.Core.Model;

namespace OciPS.Core.Content;

/// <summary>
/// A read-only stream that hashes what passes through it and, at the end of the inner stream, checks
/// the byte count and the digest against a descriptor. More bytes than the descriptor allows fail at
/// once, so a hostile source cannot make a reader consume unbounded data.
/// </summary>
public sealed class VerifyingStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly Digest _expected;
    private readonly long _expectedSize;
    private readonly string _what;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _hasher;
    private long _position;
    private bool _verified;

    /// <param name="inner">The raw content.</param>
    /// <param name="descriptor">What the content must be; a negative size skips the size check.</param>
    /// <param name="what">Names the content in error messages (e.g. "layer 3 of oci:/x:1").</param>
    /// <param name="leaveOpen">Whether disposing this stream leaves <paramref name="inner"/> open.</param>
    public VerifyingStream(Stream inner, Descriptor descriptor, string what, bool leaveOpen = false)
        : this(inner, descriptor.Digest, descriptor.Size, what, leaveOpen)
    {
    }

    public VerifyingStream(Stream inner, Digest expected, long expectedSize, string what, bool leaveOpen = false)
    {
        _inner = inner;
        _expected = expected;
        _expectedSize = expectedSize;
        _what = what;
        _leaveOpen = leaveOpen;
        _hasher = expected.IsVerifiable
            ? expected.CreateHasher()
            : throw new UnsupportedContentException("DigestAlgorithmUnsupported", $"{what}: cannot verify {expected}: the algorithm '{expected.Algorithm}' is not supported.", expected.ToString());
    }

    /// <summary>Whether the end was reached and the content matched.</summary>
    public bool IsVerified => _verified;

    public override long Length => _expectedSize >= 0 ? _expectedSize : throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(Span<byte> buffer)
    {
        var read = _inner.Read(buffer);
        return Account(buffer[..read], buffer.Length);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..read], buffer.Length);
    }

    private int Account(ReadOnlySpan<byte> data, int requested)
    {
        if (data.Length == 0)
        {
            // A zero-byte read of a non-empty buffer is the end of the content.
            if (!_verified && requested > 0)
            {
                Verify();
            }

            return 0;
        }

        _position += data.Length;
        if (_expectedSize >= 0 && _position > _expectedSize)
        {
            throw new DigestMismatchException(_what, _expected, _expectedSize, _position);
        }

        _hasher.AppendData(data);
        return data.Length;
    }

    private void Verify()
    {
        if (_expectedSize >= 0 && _position != _expectedSize)
        {
            throw new DigestMismatchException(_what, _expected, _expectedSize, _position);
        }

        var actual = Digest.FromHash(_expected.Algorithm, _hasher.GetHashAndReset());
        if (actual != _expected)
        {
            throw new DigestMismatchException(_what, _expected, actual);
        }

        _verified = true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hasher.Dispose();
            if (!_leaveOpen)
            {
                _inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _hasher.Dispose();
        if (!_leaveOpen)
        {
            await _inner.DisposeAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
