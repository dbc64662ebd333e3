using System.IO.Compression;
using OciPS.Core.Content;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;

namespace OciPS.Core.Artifacts;

/// <summary>
/// Turns pack items into blobs whose digests are known, without holding any content in memory: files
/// are hashed in place, directories are tarred and gzipped into a staging file, downloads are streamed
/// into one, hashing on the way. Staging files live in one directory deleted on dispose.
/// </summary>
public sealed class ArtifactStaging : IAsyncDisposable
{
    /// <summary>ORAS's media type for files pushed without one.</summary>
    public const string DefaultFileMediaType = MediaTypes.OciLayer;

    /// <summary>ORAS's media type for directories.</summary>
    public const string DefaultDirectoryMediaType = MediaTypes.OciLayerGzip;

    private const int BufferSize = 1 << 16;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly IProgress<OciProgress>? _progress;
    private readonly S3Settings? _s3;
    private int _next;

    public ArtifactStaging(string? parentDirectory, HttpClient? http, IProgress<OciProgress>? progress, S3Settings? s3 = null)
    {
        _s3 = s3;
        Directory = System.IO.Path.Combine(parentDirectory ?? System.IO.Path.GetTempPath(), "ocips-pack-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
        _ownsHttp = http is null;
        _http = http ?? new HttpClient();
        _progress = progress;
    }

    /// <summary>Where staging files are written.</summary>
    public string Directory { get; }

    /// <summary>
    /// A file as one blob, hashed where it is, once: pushing it opens a <see cref="HashedFileStream"/>,
    /// which destinations do not hash again.
    /// </summary>
    public static async Task<ArtifactBlob> FileAsync(string path, string mediaType, IReadOnlyDictionary<string, string> annotations, CancellationToken cancellationToken)
    {
        var (digest, size, lastWrite) = await HashedFileStream.HashAsync(path, cancellationToken).ConfigureAwait(false);
        return new ArtifactBlob(
            new Descriptor { MediaType = mediaType, Digest = digest, Size = size, Annotations = Sorted(annotations) },
            _ => Task.FromResult<Stream>(HashedFileStream.Open(path, digest, size, lastWrite)))
        { Origin = path };
    }

    /// <summary>
    /// A directory as one deterministic tar+gzip blob: entries sorted by name, under the directory's
    /// title, owned by root, times at the epoch, so the same tree always gives the same digest.
    /// </summary>
    public async Task<ArtifactBlob> DirectoryAsync(string path, string title, string mediaType, IReadOnlyDictionary<string, string> annotations, CancellationToken cancellationToken)
    {
        var staged = NextPath("dir");
        using var tarHasher = Digest.CreateHasher(Digest.Sha256);
        using var blobHasher = Digest.CreateHasher(Digest.Sha256);
        var file = new FileStream(staged, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            // Both digests as the bytes pass: the tar's (for ORAS) and the compressed blob's.
            var gzip = new GZipStream(new HashingWriteStream(file, blobHasher), CompressionLevel.Optimal, leaveOpen: true);
            await using (gzip.ConfigureAwait(false))
            {
                var hashing = new HashingWriteStream(gzip, tarHasher);
                var tar = new TarWriter(hashing, leaveOpen: true);
                await using (tar.ConfigureAwait(false))
                {
                    await WriteTreeAsync(tar, path, title, cancellationToken).ConfigureAwait(false);
                    await tar.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }

        var all = new Dictionary<string, string>(annotations, StringComparer.Ordinal)
        {
            [OrasAnnotations.Unpack] = "true",
            [OrasAnnotations.ContentDigest] = Digest.FromHash(Digest.Sha256, tarHasher.GetHashAndReset()).ToString(),
        };
        var digest = Digest.FromHash(Digest.Sha256, blobHasher.GetHashAndReset());
        var written = new FileInfo(staged);
        var (size, lastWrite) = (written.Length, written.LastWriteTimeUtc);
        return new ArtifactBlob(
            new Descriptor { MediaType = mediaType, Digest = digest, Size = size, Annotations = Sorted(all) },
            _ => Task.FromResult<Stream>(HashedFileStream.Open(staged, digest, size, lastWrite)))
        { Origin = path };
    }

    /// <summary>
    /// Downloads a URL, or an S3 object through the S3 HTTP API (a SigV4-signed GET), into a staging
    /// file, hashing on the way; a pinned digest must match.
    /// </summary>
    public async Task<ArtifactBlob> DownloadAsync(PackItem item, string mediaType, IReadOnlyDictionary<string, string> annotations, CancellationToken cancellationToken)
    {
        var url = item.From.Location;
        var s3 = item.From.Kind == PackSourceKind.S3;
        var staged = NextPath(s3 ? "s3" : "http");
        HttpResponseMessage response;
        try
        {
            using var request = s3 ? S3Request(item) : new HttpRequestMessage(HttpMethod.Get, url);
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new OciException("ArtifactDownloadFailed", OciErrorKind.Connection, $"Cannot download '{url}' (the item at {item.Position}): {ex.Message}", url, ex);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new OciException(
                    "ArtifactDownloadFailed",
                    response.StatusCode == System.Net.HttpStatusCode.NotFound ? OciErrorKind.NotFound : OciErrorKind.Connection,
                    $"Downloading '{url}' (the item at {item.Position}) failed: {await S3Errors.DescribeAsync(response, cancellationToken).ConfigureAwait(false)}.",
                    url);
            }

            var total = response.Content.Headers.ContentLength;
            var algorithm = item.From.Pin?.Algorithm ?? Digest.Sha256;
            using var hasher = Digest.CreateHasher(algorithm);
            long size = 0;
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                var output = new FileStream(staged, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
                await using (output.ConfigureAwait(false))
                {
                    var buffer = new byte[BufferSize];
                    int read;
                    while ((read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        hasher.AppendData(buffer, 0, read);
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                        size += read;
                        _progress?.Report(new OciProgress(url, null, "Downloading " + url, item.Title ?? url, size, total, IsBytes: true, Completed: false));
                    }
                }
            }

            _progress?.Report(new OciProgress(url, null, "Downloading " + url, item.Title ?? url, size, total, IsBytes: true, Completed: true));
            var digest = Digest.FromHash(algorithm, hasher.GetHashAndReset());
            if (item.From.Pin is { } pin && pin != digest)
            {
                File.Delete(staged);
                throw new DigestMismatchException($"The download of '{url}' (the item at {item.Position})", pin, digest);
            }

            if (total is { } expected && expected != size)
            {
                throw new CorruptContentException("ArtifactDownloadIncomplete", $"The download of '{url}' ended after {size} of {expected} bytes.", url);
            }

            var lastWrite = File.GetLastWriteTimeUtc(staged);
            return new ArtifactBlob(
                new Descriptor { MediaType = mediaType, Digest = digest, Size = size, Annotations = Sorted(annotations) },
                _ => Task.FromResult<Stream>(HashedFileStream.Open(staged, digest, size, lastWrite)))
            { Origin = url };
        }
    }

    private HttpRequestMessage S3Request(PackItem item)
    {
        // The pack file reader refuses s3:// items without credentials; this is for callers that skip it.
        var settings = _s3 ?? throw new OciException(
            "S3CredentialsMissing",
            OciErrorKind.InvalidArgument,
            $"'{item.From.Text}' (the item at {item.Position}) needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
            item.From.Text);
        var (bucket, key) = S3Location.Parse(item.From.Location);
        return settings.GetObjectRequest(bucket, key, DateTimeOffset.UtcNow);
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }

        await Task.Yield();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Annotations in key order, so the manifest JSON does not depend on how they were written.</summary>
    public static IReadOnlyDictionary<string, string>? Sorted(IReadOnlyDictionary<string, string>? annotations) =>
        annotations is null || annotations.Count == 0 ? null : new SortedDictionary<string, string>(annotations.ToDictionary(), StringComparer.Ordinal);

    /// <summary>The files of a directory (recursively, in ordinal order) with their paths relative to it, '/'-separated.</summary>
    public static IEnumerable<(string FullPath, string RelativePath)> FilesOf(string directory) =>
        System.IO.Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(f => (f, System.IO.Path.GetRelativePath(directory, f).Replace(System.IO.Path.DirectorySeparatorChar, '/')))
            .OrderBy(f => f.Item2, StringComparer.Ordinal);

    private static async Task WriteTreeAsync(TarWriter tar, string root, string title, CancellationToken cancellationToken)
    {
        await tar.WriteAsync(Header(title, TarEntryKind.Directory, ModeOf(root), 0), null, cancellationToken).ConfigureAwait(false);
        var entries = new DirectoryInfo(root)
            .EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(info => (Info: info, Name: title + "/" + System.IO.Path.GetRelativePath(root, info.FullName).Replace(System.IO.Path.DirectorySeparatorChar, '/')))
            .OrderBy(e => e.Name, StringComparer.Ordinal);
        foreach (var (info, name) in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (info.LinkTarget is { } target)
            {
                await tar.WriteAsync(Header(name, TarEntryKind.Symlink, 0x1FF, 0) with { LinkName = target }, null, cancellationToken).ConfigureAwait(false);
            }
            else if (info is DirectoryInfo)
            {
                await tar.WriteAsync(Header(name, TarEntryKind.Directory, ModeOf(info.FullName), 0), null, cancellationToken).ConfigureAwait(false);
            }
            else if (info is FileInfo file && (file.Attributes & FileAttributes.Device) == 0)
            {
                var content = OpenRead(file.FullName);
                await using (content.ConfigureAwait(false))
                {
                    if (!content.CanSeek)
                    {
                        throw new UnsupportedContentException("ArtifactFileTypeUnsupported", $"'{file.FullName}' is not a regular file, so it cannot be packed.", file.FullName);
                    }

                    await tar.WriteAsync(Header(name, TarEntryKind.File, ModeOf(file.FullName), content.Length), content, cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                throw new UnsupportedContentException("ArtifactFileTypeUnsupported", $"'{info.FullName}' is neither a file, a directory nor a symbolic link, so it cannot be packed.", info.FullName);
            }
        }
    }

    private static TarHeaderTemplate Header(string name, TarEntryKind kind, int mode, long size) => new(name, kind, mode, size);

    private static int ModeOf(string path) => OperatingSystem.IsWindows() ? 0x1ED : (int)File.GetUnixFileMode(path) & 0xFFF;

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private string NextPath(string kind) =>
        System.IO.Path.Combine(Directory, kind + "-" + Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The fixed parts of a packed entry: root-owned, epoch time, so packing is reproducible.</summary>
    private sealed record TarHeaderTemplate(string Name, TarEntryKind Kind, int Mode, long Size)
    {
        public string? LinkName { get; init; }

        public static implicit operator TarHeader(TarHeaderTemplate t) => new()
        {
            Name = t.Name,
            Kind = t.Kind,
            TypeFlag = t.Kind switch { TarEntryKind.Directory => (byte)'5', TarEntryKind.Symlink => (byte)'2', _ => (byte)'0' },
            LinkName = t.LinkName,
            Mode = t.Mode,
            Size = t.Size,
            ModifiedTime = UnixTime.Epoch,
        };
    }
}
