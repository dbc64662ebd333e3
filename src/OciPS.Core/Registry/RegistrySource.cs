using System.Collections.Concurrent;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Registry;

/// <summary>
/// Reads an image from a registry through the blob cache: a tag is resolved with a HEAD request, and
/// a manifest or blob already in the cache is never fetched again. Blobs are downloaded whole into
/// the cache (verified, resumable) before they are opened; at most
/// <see cref="ImageSourceOptions.ThrottleLimit"/> downloads run at once, and two requests for the same
/// blob share one download.
/// </summary>
public sealed class RegistrySource : IImageSource, IPrefetchingSource, IDisposable
{
    private readonly ImageSourceOptions _options;
    private readonly RegistryClient _client;
    private readonly SemaphoreSlim _downloads;
    private readonly ConcurrentDictionary<Digest, Lazy<Task>> _inFlight = new();

    public RegistrySource(ImageLocation location, ImageSourceOptions options)
    {
        Location = location;
        Reference = location.Reference ?? throw new ArgumentException("A registry location has a reference.", nameof(location));
        _options = options;
        _client = new RegistryClient(Reference, options.Registry);
        Cache = new BlobCache(options.CachePath ?? BlobCache.DefaultPath);
        _downloads = new SemaphoreSlim(Math.Max(1, options.ThrottleLimit));
    }

    public ImageLocation Location { get; }

    public ImageReference Reference { get; }

    public string Name => Reference.ToString();

    public BlobCache Cache { get; }

    /// <summary>The distribution client of the repository read.</summary>
    public RegistryClient Client => _client;

    public async Task<ResolvedManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        ManifestContent? content = null;
        if (Reference.Digest is { } pinned)
        {
            content = Cache.TryReadManifest(pinned, -1, null);
        }
        else if (await _client.HeadManifestAsync(Reference.Identifier, cancellationToken).ConfigureAwait(false) is { } head)
        {
            content = Cache.TryReadManifest(head.Digest, head.Size, head.MediaType);
        }

        content ??= await _client.GetManifestAsync(Reference.Identifier, cancellationToken).ConfigureAwait(false);
        await Cache.StoreManifestAsync(content, Reference.WithDigest(content.Digest).ToString(), cancellationToken).ConfigureAwait(false);
        if (Reference.Tag is not null)
        {
            await Cache.StoreManifestAsync(content, Reference.WithTag(Reference.Tag).ToString(), cancellationToken).ConfigureAwait(false);
        }

        return new ResolvedManifest(content, Reference.FamiliarName);
    }

    public async Task<ManifestContent> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var content = Cache.TryReadManifest(descriptor.Digest, descriptor.Size, descriptor.MediaType);
        if (content is null)
        {
            content = await _client.GetManifestAsync(descriptor.Digest.ToString(), cancellationToken).ConfigureAwait(false);
            if (descriptor.Size > 0 && content.Size != descriptor.Size)
            {
                throw new DigestMismatchException($"The manifest {descriptor.Digest} of {Name}", descriptor.Digest, descriptor.Size, content.Size);
            }

            await Cache.StoreManifestAsync(content, null, cancellationToken).ConfigureAwait(false);
        }

        return content;
    }

    public async Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        await EnsureCachedAsync(descriptor, cancellationToken).ConfigureAwait(false);
        return Cache.OpenBlob(descriptor, $"The cached blob {descriptor.Digest} of {Name}");
    }

    /// <summary>The merge's early start on a layer: the same download <see cref="OpenBlobAsync"/> would wait for.</summary>
    public Task PrefetchAsync(Descriptor descriptor, CancellationToken cancellationToken) => EnsureCachedAsync(descriptor, cancellationToken);

    /// <summary>Downloads a blob into the cache unless it is there already.</summary>
    public Task EnsureCachedAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (Cache.Contains(descriptor.Digest))
        {
            return Task.CompletedTask;
        }

        var download = _inFlight.GetOrAdd(descriptor.Digest, _ => new Lazy<Task>(() => DownloadAsync(descriptor, cancellationToken)));
        return WaitAsync(download.Value, cancellationToken);
    }

    /// <summary>
    /// Waits for a download; when stopped, lets it close its partial file first (briefly): a caller that
    /// returns at once would leave the file open and locked, and the next pull could not resume it.
    /// </summary>
    private static async Task WaitAsync(Task download, CancellationToken cancellationToken)
    {
        try
        {
            await download.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await Task.WhenAny(download, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            throw;
        }
    }

    public void Dispose() => _downloads.Dispose();

    private async Task DownloadAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        try
        {
            await _downloads.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var progress = _options.Progress is { } sink ? new Progress(descriptor, sink) : null;
                await Cache.EnsureBlobAsync(
                    descriptor,
                    (offset, ct) => _client.OpenBlobAsync(descriptor, offset, ct),
                    progress,
                    _options.Registry.MaxRetries + 1,
                    $"The blob {descriptor.Digest} of {Name}",
                    cancellationToken).ConfigureAwait(false);
                _options.Progress?.Report(new BlobTransfer(descriptor, descriptor.Size, true));
            }
            finally
            {
                _downloads.Release();
            }
        }
        finally
        {
            // A failed or cancelled download must not be remembered: the next request tries again.
            _inFlight.TryRemove(descriptor.Digest, out _);
        }
    }

    private sealed class Progress(Descriptor blob, IProgress<BlobTransfer> sink) : IProgress<long>
    {
        public void Report(long value) => sink.Report(new BlobTransfer(blob, value, false));
    }
}
