using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>
/// Read access to the manifests and blobs behind one image location: an OCI layout, an archive, a
/// registry, a daemon. Every sink reads through this interface, so each source works with each sink.
/// Implementations are safe to call concurrently (several blobs open at once) and verify everything
/// they return against its descriptor.
/// </summary>
public interface IImageSource
{
    /// <summary>The location this source reads.</summary>
    ImageLocation Location { get; }

    /// <summary>The canonical name of the location, for messages and output objects.</summary>
    string Name { get; }

    /// <summary>The manifest or index the location names (its tag, digest or only entry).</summary>
    Task<ResolvedManifest> ResolveAsync(CancellationToken cancellationToken);

    /// <summary>A manifest or index by descriptor (an index entry), verified against the descriptor.</summary>
    Task<ManifestContent> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a blob for streaming. The stream checks size and digest as it is read and throws
    /// <see cref="DigestMismatchException"/> when it reaches the end of content that is not what the
    /// descriptor says; callers read to the end before trusting what they read.
    /// </summary>
    Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken);
}

/// <summary>
/// A source that can start fetching blobs before they are opened (a registry: downloads into the
/// cache, in parallel up to its limit). The merge asks for every layer, newest first, as it starts, so
/// lower layers download while the upper ones are merged.
/// </summary>
public interface IPrefetchingSource
{
    /// <summary>Starts fetching a blob (or joins the fetch under way); completes when it is ready to open.</summary>
    Task PrefetchAsync(Descriptor descriptor, CancellationToken cancellationToken);
}

/// <summary>
/// What a location resolved to: the manifest or index, and the image's name when the location knows
/// one (a registry reference, a layout's ref name, a docker archive's repo tag).
/// </summary>
public sealed record ResolvedManifest(ManifestContent Content, string? Name);

/// <summary>Helpers every source shares.</summary>
public static class ImageSourceExtensions
{
    /// <summary>The largest manifest or config the engine reads into memory (registries cap manifests at 4 MiB).</summary>
    public const long MaxDocumentSize = 64L * 1024 * 1024;

    /// <summary>Reads a small blob (a config, a manifest) completely, verified against its descriptor.</summary>
    public static async Task<byte[]> ReadBlobAsync(this IImageSource source, Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (descriptor.Size > MaxDocumentSize || descriptor.Size < 0)
        {
            throw new CorruptContentException(
                "BlobTooLarge",
                $"{descriptor.Digest} claims {descriptor.Size} bytes, more than the {MaxDocumentSize} a manifest or config may have.",
                descriptor.Digest.ToString());
        }

        if (descriptor.Data is { } embedded)
        {
            using var verified = new VerifyingStream(new MemoryStream(embedded, writable: false), descriptor, $"The data embedded in the descriptor of {descriptor.Digest}");
            using var copy = new MemoryStream(embedded.Length);
            await verified.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            return copy.ToArray();
        }

        var stream = await source.OpenBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[descriptor.Size];
            await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);

            // Reading once more reaches the end, where the verifying stream checks size and digest.
            var extra = new byte[1];
            if (await stream.ReadAsync(extra, cancellationToken).ConfigureAwait(false) != 0)
            {
                throw new DigestMismatchException($"The blob {descriptor.Digest} from {source.Name}", descriptor.Digest, descriptor.Size, descriptor.Size + 1);
            }

            return buffer;
        }
    }
}
