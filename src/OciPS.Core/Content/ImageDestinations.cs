using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;
using OciPS.Core.Sinks;

namespace OciPS.Core.Content;

/// <summary>Settings a destination may need.</summary>
public sealed record ImageDestinationOptions
{
    public static ImageDestinationOptions Default { get; } = new();

    /// <summary>Credentials, TLS, proxy, retry and upload settings for registry destinations.</summary>
    public RegistryOptions Registry { get; init; } = RegistryOptions.Default;

    /// <summary>Whether an existing archive file is replaced (layouts and registries are added to, never replaced).</summary>
    public bool Force { get; init; }
}

/// <summary>Opens the destination for a location: the one place that knows which class writes which transport.</summary>
public static class ImageDestinations
{
    public static IImageDestination Open(ImageLocation location, ImageDestinationOptions? options = null)
    {
        options ??= ImageDestinationOptions.Default;
        return location.Transport switch
        {
            LocationTransport.Registry => new RegistryDestination(location, options.Registry),
            LocationTransport.OciLayout => new OciLayoutDestination(location, location.Path!, location.Tag, archive: null),
            LocationTransport.OciArchive => OciLayoutDestination.ForArchive(location, options.Force),
            LocationTransport.DockerArchive => new DockerArchiveDestination(location, options.Force),
            _ => throw new UnsupportedContentException(
                "DestinationTransportUnsupported",
                $"OciPS cannot write to {location.Transport} locations ('{location.Original}'); write to a registry, oci:, oci-archive: or docker-archive:.",
                location.Original),
        };
    }
}

/// <summary>
/// Writes into an OCI image layout directory (<c>oci:</c>), or into a temporary layout that becomes
/// an <c>oci-archive:</c> tar at commit. Blobs already in the layout are not written again.
/// Manifests pushed by digest that no pushed index lists (an artifact attached to an image through
/// its <c>subject</c>) are listed in index.json untagged at commit, so the layout keeps them reachable;
/// index.json entries carry the manifest's <c>artifactType</c>.
/// </summary>
public sealed class OciLayoutDestination : IImageDestination
{
    private readonly OciLayoutWriter _writer;
    private readonly List<ManifestContent> _byDigest = [];
    private readonly HashSet<Digest> _listed = [];
    private readonly object _sync = new();
    private readonly string? _defaultTag;
    private readonly string? _archive;
    private readonly bool _force;
    private bool _committed;

    internal OciLayoutDestination(ImageLocation location, string directory, string? defaultTag, string? archive, bool force = false)
    {
        Location = location;
        _defaultTag = defaultTag;
        _archive = archive;
        _force = force;
        _writer = OciLayoutWriter.Open(directory);
    }

    public ImageLocation Location { get; }

    public string Name => Location.ToString();

    public DestinationCapabilities Capabilities => DestinationCapabilities.Any;

    internal static OciLayoutDestination ForArchive(ImageLocation location, bool force)
    {
        OutputPlacement.CheckDestination(location.Path!, force);
        var temporary = OutputPlacement.TemporarySibling(location.Path!);
        return new OciLayoutDestination(location, temporary + ".layout", location.Tag, location.Path, force);
    }

    public Task<bool> BlobExistsAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        Task.FromResult(_writer.HasBlob(descriptor.Digest));

    public async Task PushBlobAsync(Descriptor descriptor, Stream content, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (content is HashedFileStream hashed && hashed.Digest == descriptor.Digest && hashed.HashedLength == descriptor.Size)
        {
            // Hashed once already: a kernel-side copy, checked unchanged before it is moved into place.
            _writer.CopyVerifiedBlobFile(hashed.Path, descriptor.Digest, hashed.EnsureUnchanged);
            progress?.Report(descriptor.Size);
            return;
        }

        var counted = new CountingStream(content, progress);
        await _writer.WriteBlobAsync(counted, descriptor.MediaType, descriptor.Digest, descriptor.Size, cancellationToken).ConfigureAwait(false);
    }

    public Task<bool> TryMountBlobAsync(Descriptor descriptor, ImageReference from, CancellationToken cancellationToken) => Task.FromResult(false);

    /// <summary>Adds a blob from a verified file (a cache entry) without reading it through a stream.</summary>
    internal void AddVerifiedBlobFile(Descriptor descriptor, string path) => _writer.CopyVerifiedBlobFile(path, descriptor.Digest);

    public async Task PushManifestAsync(ManifestContent manifest, bool topLevel, CancellationToken cancellationToken)
    {
        await _writer.WriteBlobAsync(manifest.Bytes, manifest.MediaType, cancellationToken).ConfigureAwait(false);
        lock (_sync)
        {
            if (manifest.Kind == ManifestKind.Index)
            {
                _listed.UnionWith(manifest.Index.Manifests.Select(m => m.Digest));
            }

            if (topLevel)
            {
                _listed.Add(manifest.Digest);
            }
            else
            {
                _byDigest.Add(manifest);
            }
        }

        if (topLevel)
        {
            await _writer.AddToIndexAsync(EntryOf(manifest), _defaultTag, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        List<ManifestContent> unlisted;
        lock (_sync)
        {
            unlisted = _byDigest.Where(m => !_listed.Contains(m.Digest)).DistinctBy(m => m.Digest).ToList();
            _byDigest.Clear();
        }

        foreach (var manifest in unlisted)
        {
            await _writer.AddToIndexAsync(EntryOf(manifest), null, cancellationToken).ConfigureAwait(false);
        }

        if (_archive is not null)
        {
            var temporary = _writer.Root[..^".layout".Length];
            await LayoutArchiver.TarDirectoryAsync(_writer.Root, temporary, cancellationToken).ConfigureAwait(false);
            OutputPlacement.MoveIntoPlace(temporary, _archive, _force);
        }

        _committed = true;
    }

    private static Descriptor EntryOf(ManifestContent manifest) => manifest.ToDescriptor() with
    {
        ArtifactType = manifest.Kind == ManifestKind.Manifest ? manifest.Manifest.ArtifactType : manifest.Index.ArtifactType,
    };

    public ValueTask DisposeAsync()
    {
        if (_archive is not null)
        {
            OutputPlacement.DeleteTree(_writer.Root);
            if (!_committed)
            {
                var temporary = _writer.Root[..^".layout".Length];
                if (File.Exists(temporary))
                {
                    File.Delete(temporary);
                }
            }
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>A read-through stream that reports how many bytes have passed.</summary>
internal sealed class CountingStream(Stream inner, IProgress<long>? progress) : Stream
{
    private long _count;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _count;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Count(int read)
    {
        _count += read;
        if (read > 0)
        {
            progress?.Report(_count);
        }

        return read;
    }
}
