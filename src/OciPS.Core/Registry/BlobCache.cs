using System.Security.Cryptography;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Core.Registry;

/// <summary>
/// The on-disk cache of everything pulled: itself an OCI image layout (<c>blobs/&lt;alg&gt;/&lt;hex&gt;</c>,
/// <c>index.json</c> naming each pulled reference), so any OCI tool can read it. A blob is downloaded
/// into <c>&lt;hex&gt;.partial</c>, hashed as it arrives, and renamed into place only when its digest and
/// size are right; an interrupted download is resumed with a Range request. Several processes may
/// share the cache: a partial file is locked by the process writing it, and renames are atomic.
/// </summary>
public sealed class BlobCache
{
    private readonly Lazy<OciLayoutWriter> _layout;

    public BlobCache(string root)
    {
        Root = Path.GetFullPath(root);
        _layout = new Lazy<OciLayoutWriter>(() => OciLayoutWriter.Open(Root));
    }

    public string Root { get; }

    /// <summary>
    /// <c>OCIPS_CACHE</c> when set; else <c>$XDG_CACHE_HOME/ocips</c> (<c>~/.cache/ocips</c>) on Unix and
    /// <c>%LOCALAPPDATA%\OciPS</c> on Windows.
    /// </summary>
    public static string DefaultPath
    {
        get
        {
            if (Environment.GetEnvironmentVariable("OCIPS_CACHE") is { Length: > 0 } explicitPath)
            {
                return explicitPath;
            }

            if (OperatingSystem.IsWindows())
            {
                return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "OciPS");
            }

            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            return Path.Combine(
                xdg is { Length: > 0 } ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
                "ocips");
        }
    }

    private OciLayoutWriter Layout => _layout.Value;

    public string BlobPath(Digest digest) => Path.Combine(Root, "blobs", digest.Algorithm, digest.Encoded);

    public bool Contains(Digest digest) => File.Exists(BlobPath(digest));

    /// <summary>Opens a cached blob, verified as it is read.</summary>
    public Stream OpenBlob(Descriptor descriptor, string what)
    {
        var file = new FileStream(BlobPath(descriptor.Digest), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return new VerifyingStream(file, descriptor, what);
    }

    /// <summary>A cached manifest, or null when it is not cached (or the cached file is not what the descriptor says).</summary>
    public ManifestContent? TryReadManifest(Digest digest, long expectedSize, string? mediaType)
    {
        var path = BlobPath(digest);
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length > ImageSourceExtensions.MaxDocumentSize || (expectedSize > 0 && info.Length != expectedSize))
            {
                return null;
            }

            return ManifestContent.FromBytes(File.ReadAllBytes(path), string.IsNullOrEmpty(mediaType) ? null : mediaType, digest, $"The cached manifest {digest}");
        }
        catch (Exception ex) when (ex is IOException or DigestMismatchException or CorruptContentException)
        {
            return null;
        }
    }

    /// <summary>Stores a manifest; with <paramref name="refName"/> it is also listed in the cache's index.json by that name.</summary>
    public async Task StoreManifestAsync(ManifestContent manifest, string? refName, CancellationToken cancellationToken)
    {
        await Layout.WriteBlobAsync(manifest.Bytes, manifest.MediaType, cancellationToken).ConfigureAwait(false);
        if (refName is not null)
        {
            await Layout.AddToIndexAsync(manifest.ToDescriptor(), refName, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Makes sure the blob is in the cache: nothing happens when it is; else it is downloaded with
    /// <paramref name="fetch"/> (called with the offset to resume from), resumed after connection faults
    /// up to <paramref name="maxAttempts"/> times, and verified before it is renamed into place.
    /// </summary>
    public async Task EnsureBlobAsync(
        Descriptor descriptor,
        Func<long, CancellationToken, Task<BlobResponse>> fetch,
        IProgress<long>? progress,
        int maxAttempts,
        string what,
        CancellationToken cancellationToken)
    {
        var final = BlobPath(descriptor.Digest);
        if (File.Exists(final))
        {
            return;
        }

        _ = Layout;
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        var (file, partial) = OpenPartial(final);
        var renamed = false;
        try
        {
            using var hasher = descriptor.Digest.CreateHasher();
            var written = await HashExistingAsync(file, hasher, descriptor.Size, cancellationToken).ConfigureAwait(false);
            progress?.Report(written);
            var buffer = new byte[1 << 17];
            for (var attempt = 0; ; attempt++)
            {
                if (written < descriptor.Size || descriptor.Size < 0)
                {
                    try
                    {
                        written = await DownloadAsync(file, hasher, written, descriptor, fetch, buffer, progress, what, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested && attempt + 1 < maxAttempts && ex is IOException or HttpRequestException or TimeoutException or RegistryConnectionException)
                    {
                        await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    if (written < descriptor.Size && attempt + 1 < maxAttempts)
                    {
                        // The body ended early without an error: resume from where it stopped.
                        continue;
                    }
                }

                break;
            }

            if (written != descriptor.Size)
            {
                throw new DigestMismatchException(what, descriptor.Digest, descriptor.Size, written);
            }

            var actual = Digest.FromHash(descriptor.Digest.Algorithm, hasher.GetHashAndReset());
            if (actual != descriptor.Digest)
            {
                Truncate(file);
                throw new DigestMismatchException(what, descriptor.Digest, actual);
            }

            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (!OperatingSystem.IsWindows())
            {
                // Renamed while still locked, so no other process starts appending to a finished file.
                renamed = MoveIntoPlace(partial, final);
            }
        }
        finally
        {
            await file.DisposeAsync().ConfigureAwait(false);
        }

        if (!renamed && !File.Exists(final))
        {
            MoveIntoPlace(partial, final);
        }

        if (File.Exists(partial) && File.Exists(final))
        {
            // Leftover of a download another session finished first; a partial file another download
            // has started since (the name is free again after a rename) is locked, and stays.
            TryDeleteUnlocked(partial);
        }
    }

    private static async Task<long> DownloadAsync(
        FileStream file,
        IncrementalHash hasher,
        long written,
        Descriptor descriptor,
        Func<long, CancellationToken, Task<BlobResponse>> fetch,
        byte[] buffer,
        IProgress<long>? progress,
        string what,
        CancellationToken cancellationToken)
    {
        var response = await fetch(written, cancellationToken).ConfigureAwait(false);
        await using (response.Content.ConfigureAwait(false))
        {
            if (response.Offset != written)
            {
                if (response.Offset != 0)
                {
                    throw new CorruptContentException("BlobRangeInvalid", $"{what}: asked for bytes from {written}, the registry sent from {response.Offset}.", descriptor.Digest.ToString());
                }

                // The registry sent the whole blob, not the range asked for: start over.
                Truncate(file);
                hasher.GetHashAndReset();
                written = 0;
            }

            file.Seek(written, SeekOrigin.Begin);
            int read;
            while ((read = await response.Content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (descriptor.Size >= 0 && written + read > descriptor.Size)
                {
                    Truncate(file);
                    throw new DigestMismatchException(what, descriptor.Digest, descriptor.Size, written + read);
                }

                hasher.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                written += read;
                progress?.Report(written);
            }
        }

        return written;
    }

    /// <summary>
    /// The partial file for a blob, locked for this process. When another process holds it, a file
    /// of our own is used (no resume then, but no waiting on a download that may be stuck either).
    /// </summary>
    /// <summary>How a partial file is shared while it is written: not at all (see <see cref="OpenPartial"/>).</summary>
    internal static FileShare PartialShare => OperatingSystem.IsWindows() ? FileShare.Delete : FileShare.None;

    private static (FileStream File, string Path) OpenPartial(string final)
    {
        var partial = final + ".partial";

        // Exclusive: on Unix FileShare.None takes flock(LOCK_EX), which also keeps out a second download of
        // the same blob in this process (another session); any other share mode is a shared lock there.
        // Windows needs FileShare.Delete to rename the file while it is open, and locks by share mode anyway.
        try
        {
            return (new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, PartialShare, 1 << 16, FileOptions.Asynchronous), partial);
        }
        catch (IOException)
        {
            var own = final + ".partial-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8];
            return (new FileStream(own, FileMode.CreateNew, FileAccess.ReadWrite, PartialShare, 1 << 16, FileOptions.Asynchronous), own);
        }
    }

    private static async Task<long> HashExistingAsync(FileStream file, IncrementalHash hasher, long expectedSize, CancellationToken cancellationToken)
    {
        if (file.Length > expectedSize && expectedSize >= 0)
        {
            Truncate(file);
            return 0;
        }

        file.Seek(0, SeekOrigin.Begin);
        var buffer = new byte[1 << 17];
        long total = 0;
        int read;
        while ((read = await file.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            hasher.AppendData(buffer, 0, read);
            total += read;
        }

        return total;
    }

    private static void Truncate(FileStream file)
    {
        file.SetLength(0);
        file.Seek(0, SeekOrigin.Begin);
    }

    private static bool MoveIntoPlace(string partial, string final)
    {
        try
        {
            File.Move(partial, final, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(final))
        {
            // Another process finished the same blob first; its bytes are the same.
            return false;
        }
    }

    private static void TryDeleteUnlocked(string path)
    {
        try
        {
            using var unused = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, PartialShare);
            File.Delete(path);
        }
        catch (IOException)
        {
            // Locked by a download, or already gone.
        }
    }
}
