using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Registry;

/// <summary>
/// Writes an image to a registry repository: blobs checked with HEAD and skipped when present, mounted
/// from another repository of the same registry when possible, else uploaded; manifests by digest and
/// the top-level one by the location's tag (or digest, for a pinned location).
/// </summary>
public sealed class RegistryDestination : IImageDestination
{
    private readonly RegistryClient _client;

    public RegistryDestination(ImageLocation location, RegistryOptions options)
    {
        Location = location;
        Reference = location.Reference ?? throw new ArgumentException("A registry location has a reference.", nameof(location));
        _client = new RegistryClient(Reference, options);
    }

    public ImageLocation Location { get; }

    public ImageReference Reference { get; }

    /// <summary>The distribution client of the repository written.</summary>
    public RegistryClient Client => _client;

    public string Name => Reference.ToString();

    public DestinationCapabilities Capabilities { get; } = new() { IsRegistry = true };

    public Task<bool> BlobExistsAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        _client.BlobExistsAsync(descriptor.Digest, cancellationToken, forPush: true);

    public Task PushBlobAsync(Descriptor descriptor, Stream content, IProgress<long>? progress, CancellationToken cancellationToken) =>
        _client.PushBlobAsync(descriptor, content, progress, cancellationToken);

    public Task<bool> TryMountBlobAsync(Descriptor descriptor, ImageReference from, CancellationToken cancellationToken) =>
        from.Registry == Reference.Registry && from.Repository != Reference.Repository
            ? _client.MountBlobAsync(descriptor.Digest, from.Repository, cancellationToken)
            : Task.FromResult(false);

    public Task PushManifestAsync(ManifestContent manifest, bool topLevel, CancellationToken cancellationToken)
    {
        if (topLevel && Reference.Digest is { } pinned && pinned != manifest.Digest)
        {
            throw new DigestMismatchException($"The image written to {Name}", pinned, manifest.Digest);
        }

        return _client.PushManifestAsync(manifest, topLevel && Reference.Digest is null ? Reference.Tag ?? ImageReference.DefaultTag : null, cancellationToken);
    }

    public Task CommitAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
