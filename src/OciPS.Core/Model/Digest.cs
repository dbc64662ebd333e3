using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace OciPS.Core.Model;

/// <summary>
/// A content digest as the OCI image-spec defines it: <c>algorithm:encoded</c>. sha256 and sha512 are
/// validated strictly (lower-case hex of the right length) and can be computed and verified; other
/// well-formed algorithms parse but cannot be verified.
/// </summary>
[JsonConverter(typeof(DigestJsonConverter))]
public sealed partial class Digest : IEquatable<Digest>
{
    public const string Sha256 = "sha256";
    public const string Sha512 = "sha512";

    private Digest(string algorithm, string encoded)
    {
        Algorithm = algorithm;
        Encoded = encoded;
    }

    /// <summary>The algorithm name, e.g. <c>sha256</c>.</summary>
    public string Algorithm { get; }

    /// <summary>The encoded hash, e.g. 64 lower-case hex digits for sha256.</summary>
    public string Encoded { get; }

    /// <summary>The first 12 characters of the encoded hash, as docker shows image ids.</summary>
    public string Short => Encoded.Length > 12 ? Encoded[..12] : Encoded;

    /// <summary>Whether this engine can compute the algorithm (and so verify content against it).</summary>
    public bool IsVerifiable => Algorithm is Sha256 or Sha512;

    public static Digest Parse(string value)
    {
        if (!TryParse(value, out var digest, out var reason))
        {
            throw new FormatException($"'{value}' is not a valid digest: {reason}");
        }

        return digest;
    }

    public static bool TryParse(string? value, out Digest digest) => TryParse(value, out digest, out _);

    public static bool TryParse(string? value, out Digest digest, out string reason)
    {
        digest = null!;
        if (string.IsNullOrEmpty(value))
        {
            reason = "it is empty";
            return false;
        }

        var colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == value.Length - 1)
        {
            reason = "expected <algorithm>:<encoded>";
            return false;
        }

        var algorithm = value[..colon];
        var encoded = value[(colon + 1)..];
        if (!AlgorithmPattern().IsMatch(algorithm))
        {
            reason = $"'{algorithm}' is not a valid algorithm name";
            return false;
        }

        var expectedLength = algorithm switch
        {
            Sha256 => 64,
            Sha512 => 128,
            _ => 0,
        };
        if (expectedLength > 0)
        {
            if (encoded.Length != expectedLength || !LowerHexPattern().IsMatch(encoded))
            {
                reason = $"{algorithm} needs {expectedLength} lower-case hex digits";
                return false;
            }
        }
        else if (!EncodedPattern().IsMatch(encoded))
        {
            reason = "the encoded part has characters outside [a-zA-Z0-9=_-]";
            return false;
        }

        digest = new Digest(algorithm, encoded);
        reason = string.Empty;
        return true;
    }

    /// <summary>The digest of <paramref name="content"/> with the given algorithm.</summary>
    public static Digest Compute(ReadOnlySpan<byte> content, string algorithm = Sha256)
    {
        var hash = algorithm switch
        {
            Sha256 => SHA256.HashData(content),
            Sha512 => SHA512.HashData(content),
            _ => throw new NotSupportedException($"The digest algorithm '{algorithm}' is not supported."),
        };
        return FromHash(algorithm, hash);
    }

    /// <summary>The digest of everything read from <paramref name="content"/>, without holding it in memory.</summary>
    public static async Task<Digest> ComputeAsync(Stream content, string algorithm = Sha256, CancellationToken cancellationToken = default)
    {
        using var hasher = CreateHasher(algorithm);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hasher.AppendData(buffer, 0, read);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        return FromHash(algorithm, hasher.GetHashAndReset());
    }

    /// <summary>An incremental hasher for this digest's algorithm.</summary>
    public IncrementalHash CreateHasher() => CreateHasher(Algorithm);

    public static IncrementalHash CreateHasher(string algorithm) => algorithm switch
    {
        Sha256 => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
        Sha512 => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
        _ => throw new NotSupportedException($"The digest algorithm '{algorithm}' is not supported."),
    };

    public static Digest FromHash(string algorithm, ReadOnlySpan<byte> hash) =>
        new(algorithm, Convert.ToHexString(hash).ToLowerInvariant());

    public bool Equals(Digest? other) =>
        other is not null && Algorithm == other.Algorithm && Encoded == other.Encoded;

    public override bool Equals(object? obj) => obj is Digest other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Algorithm, Encoded);

    public override string ToString() => Algorithm + ":" + Encoded;

    public static bool operator ==(Digest? left, Digest? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(Digest? left, Digest? right) => !(left == right);

    [GeneratedRegex("^[a-z0-9]+(?:[+._-][a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex AlgorithmPattern();

    [GeneratedRegex("^[a-f0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex LowerHexPattern();

    [GeneratedRegex("^[a-zA-Z0-9=_-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex EncodedPattern();
}

internal sealed class DigestJsonConverter : JsonConverter<Digest>
{
    public override Digest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        if (!Digest.TryParse(text, out var digest, out var reason))
        {
            throw new JsonException($"'{text}' is not a valid digest: {reason}");
        }

        return digest;
    }

    public override void Write(Utf8JsonWriter writer, Digest value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
