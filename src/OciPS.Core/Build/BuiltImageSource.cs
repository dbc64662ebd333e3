using System.Collections.Concurrent;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Build;

/// <summary>
/// A built image as a source: manifests, configs and new layers live in the staging directory (an
/// OCI layout), the base images' layers stay where they are and are read through their own sources
/// (never copied, never recompressed). Copying this source to a destination pushes only what the
/// destination lacks.
/// </summary>
public sealed class BuiltImageSource : IImageSource
{
    private readonly OciLayoutWriter _staging;
    private readonly ConcurrentDictionary<Digest, IImageSource> _external;
    private readonly ManifestContent _root;

    internal BuiltImageSource(OciLayoutWriter staging, ConcurrentDictionary<Digest, IImageSource> external, ManifestContent root, string name)
    {
        _staging = staging;
        _external = external;
        _root = root;
        Name = name;
        Location = ImageLocation.Parse("oci:" + staging.Root);
    }

    public ImageLocation Location { get; }

    public string Name { get; }

    /// <summary>The staging directory holding the new blobs.</summary>
    public string StagingDirectory => _staging.Root;

    /// <summary>The digests whose bytes are in another source (the base images' layers).</summary>
    public IReadOnlyCollection<Digest> ExternalBlobs => _external.Keys.ToArray();

    public Task<ResolvedManifest> ResolveAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new ResolvedManifest(_root, Name));

    public async Task<ManifestContent> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (_staging.HasBlob(descriptor.Digest))
        {
            var bytes = await File.ReadAllBytesAsync(_staging.BlobPath(descriptor.Digest), cancellationToken).ConfigureAwait(false);
            return ManifestContent.FromBytes(bytes, descriptor.MediaType, descriptor.Digest, $"The manifest {descriptor.Digest} of the build");
        }

        return _external.TryGetValue(descriptor.Digest, out var source)
            ? await source.GetManifestAsync(descriptor, cancellationToken).ConfigureAwait(false)
            : throw new BlobNotFoundException(Name, descriptor);
    }

    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (_staging.HasBlob(descriptor.Digest))
        {
            var file = new FileStream(_staging.BlobPath(descriptor.Digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return Task.FromResult<Stream>(new VerifyingStream(file, descriptor, $"The staged blob {descriptor.Digest}"));
        }

        return _external.TryGetValue(descriptor.Digest, out var source)
            ? source.OpenBlobAsync(descriptor, cancellationToken)
            : throw new BlobNotFoundException(Name, descriptor);
    }

    /// <summary>Whether the blob's bytes are in the staging directory (new in this build).</summary>
    public bool IsStaged(Digest digest) => _staging.HasBlob(digest);

    /// <summary>Moves a staged blob to <paramref name="path"/> when both are on one file system; false when it must be copied.</summary>
    internal bool TryMoveStaged(Digest digest, string path)
    {
        if (!_staging.HasBlob(digest))
        {
            return false;
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.Move(_staging.BlobPath(digest), path, overwrite: false);
            return true;
        }
        catch (IOException)
        {
            // Another file system (copy instead), or another writer put the same content there first.
            return File.Exists(path);
        }
    }

    /// <summary>The source that holds a base blob, or null when the blob is staged.</summary>
    public IImageSource? SourceOf(Digest digest) => _external.TryGetValue(digest, out var source) ? source : null;
}
