using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Artifacts;

/// <summary>
/// An OCI layout (<c>oci:DIR[:TAG]</c>) as an <see cref="IImageDestination"/>, over <see cref="OciLayoutWriter"/>.
/// Manifests pushed without a tag that no other pushed manifest refers to (a referrer pushed by digest)
/// are listed in index.json untagged on commit, so the layout keeps them reachable.
/// </summary>
public sealed class LayoutDestination : IImageDestination
{
    private readonly OciLayoutWriter _writer;
    private readonly List<ManifestContent> _untagged = [];
    private readonly HashSet<Digest> _referenced = [];
    private readonly object _sync = new();

    private LayoutDestination(ImageLocation location, OciLayoutWriter writer)
    {
        Location = location;
        _writer = writer;
    }

    public ImageLocation Location { get; }

    public string Name => Location.ToString();

    public DestinationCapabilities Capabilities => DestinationCapabilities.Any;

    /// <summary>Opens (creating when missing) the layout directory of an <c>oci:</c> location.</summary>
    public static LayoutDestination Open(ImageLocation location)
    {
        if (location.Transport != LocationTransport.OciLayout || location.Path is null)
        {
            throw new ArgumentException($"'{location.Original}' is not an oci: layout location.", nameof(location));
        }

        if (File.Exists(location.Path))
        {
            throw new InvalidLocationException(location.Original, $"'{location.Path}' is a file, not a layout directory");
        }

        return new LayoutDestination(location, OciLayoutWriter.Open(location.Path));
    }

    public Task<bool> BlobExistsAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        Task.FromResult(_writer.HasBlob(descriptor.Digest) && new FileInfo(_writer.BlobPath(descriptor.Digest)).Length == descriptor.Size);

    public async Task PushBlobAsync(Descriptor descriptor, Stream content, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var counting = progress is null ? content : new ProgressStream(content, progress);
        await _writer.WriteBlobAsync(counting, descriptor.MediaType, descriptor.Digest, descriptor.Size, cancellationToken).ConfigureAwait(false);
    }

    public Task<bool> TryMountBlobAsync(Descriptor descriptor, ImageReference from, CancellationToken cancellationToken) => Task.FromResult(false);

    public Task PushManifestAsync(ManifestContent manifest, bool topLevel, CancellationToken cancellationToken) =>
        PushManifestAsync(manifest, topLevel ? ArtifactDestinations.TagOf(Location) : null, cancellationToken);

    /// <summary>Stores a manifest, listed in index.json under <paramref name="tag"/> when one is given.</summary>
    public async Task PushManifestAsync(ManifestContent manifest, string? tag, CancellationToken cancellationToken)
    {
        var descriptor = await _writer.WriteBlobAsync(manifest.Bytes, manifest.MediaType, cancellationToken).ConfigureAwait(false);
        lock (_sync)
        {
            if (manifest.Kind == ManifestKind.Index)
            {
                _referenced.UnionWith(manifest.Index.Manifests.Select(m => m.Digest));
            }
        }

        if (tag is not null)
        {
            await _writer.AddToIndexAsync(descriptor with { ArtifactType = ArtifactTypeOf(manifest) }, tag, cancellationToken).ConfigureAwait(false);
            lock (_sync)
            {
                _referenced.Add(manifest.Digest);
            }
        }
        else
        {
            lock (_sync)
            {
                _untagged.Add(manifest);
            }
        }
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        List<ManifestContent> roots;
        lock (_sync)
        {
            roots = _untagged.Where(m => !_referenced.Contains(m.Digest)).ToList();
            _untagged.Clear();
        }

        foreach (var root in roots)
        {
            await _writer.AddToIndexAsync(root.ToDescriptor() with { ArtifactType = ArtifactTypeOf(root) }, null, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static string? ArtifactTypeOf(ManifestContent manifest) =>
        manifest.Kind == ManifestKind.Manifest ? manifest.Manifest.ArtifactType : manifest.Index.ArtifactType;

    /// <summary>Reports the bytes read so far.</summary>
    private sealed class ProgressStream(Stream inner, IProgress<long> progress) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            _read += read;
            progress.Report(_read);
            return read;
        }
    }
}
