using OciPS.Core.Model;

namespace OciPS.Core.Content;

/// <summary>
/// Writes an OCI image layout directory: blobs by digest, and index.json naming manifests by tag. Every
/// file is written under a temporary name and renamed into place, and index.json updates are
/// serialised by a lock file, so several writers (processes sharing a cache) never see half a file.
/// </summary>
public sealed class OciLayoutWriter
{
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(2);

    private OciLayoutWriter(string root)
    {
        Root = root;
    }

    public string Root { get; }

    /// <summary>Opens a layout for writing, creating the directory, <c>oci-layout</c> and an empty index.json when missing.</summary>
    public static OciLayoutWriter Open(string root)
    {
        Directory.CreateDirectory(root);
        var header = Path.Combine(root, "oci-layout");
        if (!File.Exists(header))
        {
            WriteAtomically(header, OciJson.Serialize(new ImageLayoutHeader(), OciJson.Compact.ImageLayoutHeader));
        }

        var index = Path.Combine(root, "index.json");
        if (!File.Exists(index))
        {
            WriteAtomically(index, OciJson.Serialize(new ImageIndex { SchemaVersion = 2, MediaType = MediaTypes.OciIndex }, OciJson.Compact.ImageIndex));
        }

        Directory.CreateDirectory(Path.Combine(root, "blobs", Digest.Sha256));
        return new OciLayoutWriter(root);
    }

    public string BlobPath(Digest digest) => Path.Combine(Root, "blobs", digest.Algorithm, digest.Encoded);

    public bool HasBlob(Digest digest) => File.Exists(BlobPath(digest));

    /// <summary>Writes small content (a manifest, a config) as a blob.</summary>
    public async Task<Descriptor> WriteBlobAsync(ReadOnlyMemory<byte> content, string mediaType, CancellationToken cancellationToken)
    {
        var digest = Digest.Compute(content.Span);
        var path = BlobPath(digest);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temporary = TemporaryName(path);
            try
            {
                await File.WriteAllBytesAsync(temporary, content.ToArray(), cancellationToken).ConfigureAwait(false);
                MoveIntoPlace(temporary, path);
            }
            finally
            {
                File.Delete(temporary);
            }
        }

        return new Descriptor { MediaType = mediaType, Digest = digest, Size = content.Length };
    }

    /// <summary>
    /// Streams content into a blob, hashing it on the way. When <paramref name="expected"/> is given
    /// the content must match it (size too, when <paramref name="expectedSize"/> is not negative);
    /// nothing is left behind when it does not.
    /// </summary>
    public async Task<Descriptor> WriteBlobAsync(Stream content, string mediaType, Digest? expected, long expectedSize, CancellationToken cancellationToken)
    {
        if (expected is not null && HasBlob(expected))
        {
            return new Descriptor { MediaType = mediaType, Digest = expected, Size = new FileInfo(BlobPath(expected)).Length };
        }

        var algorithm = expected?.Algorithm ?? Digest.Sha256;
        Directory.CreateDirectory(Path.Combine(Root, "blobs", algorithm));
        var temporary = TemporaryName(Path.Combine(Root, "blobs", algorithm, "upload"));
        try
        {
            Digest digest;
            long size = 0;
            using (var hasher = Digest.CreateHasher(algorithm))
            {
                var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                await using (output.ConfigureAwait(false))
                {
                    var buffer = new byte[1 << 16];
                    int read;
                    while ((read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        hasher.AppendData(buffer, 0, read);
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                        size += read;
                    }
                }

                digest = Digest.FromHash(algorithm, hasher.GetHashAndReset());
            }

            if (expected is not null && digest != expected)
            {
                throw new DigestMismatchException($"The content written for {expected}", expected, digest);
            }

            if (expectedSize >= 0 && size != expectedSize)
            {
                throw new DigestMismatchException($"The content written for {digest}", digest, expectedSize, size);
            }

            MoveIntoPlace(temporary, BlobPath(digest));
            return new Descriptor { MediaType = mediaType, Digest = digest, Size = size };
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Adds a blob from a file already verified to hold it (a cache entry): a kernel-side copy, no
    /// hashing. Nothing happens when the layout has the blob. <paramref name="beforeMove"/> runs between
    /// the copy and the move into place (it throws to leave nothing behind).
    /// </summary>
    public void CopyVerifiedBlobFile(string path, Digest digest, Action? beforeMove = null)
    {
        var target = BlobPath(digest);
        if (File.Exists(target))
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temporary = TemporaryName(target);
        try
        {
            File.Copy(path, temporary);
            beforeMove?.Invoke();
            MoveIntoPlace(temporary, target);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Lists a manifest or index in index.json. With a tag, the entry carries
    /// <c>org.opencontainers.image.ref.name</c> and replaces any entry that had the same tag.
    /// </summary>
    public async Task AddToIndexAsync(Descriptor manifest, string? tag, CancellationToken cancellationToken)
    {
        await using var _ = await AcquireLockAsync(cancellationToken).ConfigureAwait(false);
        var indexPath = Path.Combine(Root, "index.json");
        var index = OciJson.Deserialize(await File.ReadAllBytesAsync(indexPath, cancellationToken).ConfigureAwait(false), OciJsonContext.Default.ImageIndex, $"'{indexPath}'");
        var entry = manifest;
        if (tag is not null)
        {
            var annotations = new Dictionary<string, string>(manifest.Annotations ?? new Dictionary<string, string>(), StringComparer.Ordinal)
            {
                [AnnotationKeys.RefName] = tag,
            };
            entry = manifest with { Annotations = annotations };
        }

        var manifests = index.Manifests
            .Where(existing => tag is null
                ? !(existing.Digest == manifest.Digest && existing.Annotation(AnnotationKeys.RefName) is null)
                : existing.Annotation(AnnotationKeys.RefName) != tag)
            .Append(entry)
            .ToList();
        var updated = index with { SchemaVersion = 2, MediaType = index.MediaType ?? MediaTypes.OciIndex, Manifests = manifests };
        WriteAtomically(indexPath, OciJson.Serialize(updated, OciJson.Compact.ImageIndex));
    }

    private async Task<IAsyncDisposable> AcquireLockAsync(CancellationToken cancellationToken)
    {
        var lockPath = Path.Combine(Root, "index.json.lock");
        var deadline = DateTime.UtcNow + LockTimeout;
        var delay = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            try
            {
                // The lock file stays: deleting it on release would let two writers lock two different files.
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 200));
            }
        }
    }

    private static string TemporaryName(string path) =>
        path + ".tmp-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];

    private static void WriteAtomically(string path, byte[] content)
    {
        var temporary = TemporaryName(path);
        try
        {
            File.WriteAllBytes(temporary, content);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static void MoveIntoPlace(string temporary, string path)
    {
        // Blobs are content-addressed: another writer that got there first wrote the same bytes.
        if (File.Exists(path))
        {
            return;
        }

        try
        {
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
        }
    }
}
