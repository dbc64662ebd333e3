using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Registry;

/// <summary>
/// The OCI distribution API for one repository: manifests (HEAD, GET, PUT), blobs (HEAD, GET with
/// Range, uploads monolithic or chunked, cross-repository mounts) and the tag list. Everything
/// received is verified: manifests against <c>Docker-Content-Digest</c> and the digest asked for,
/// blobs as they stream.
/// </summary>
public sealed class RegistryClient
{
    private readonly RegistryTransport _transport;

    public RegistryClient(ImageReference repository, RegistryOptions? options = null)
    {
        Repository = repository;
        Options = options ?? RegistryOptions.Default;
        _transport = RegistryTransport.For(Options);
    }

    /// <summary>The repository (its tag or digest is ignored; operations name their own).</summary>
    public ImageReference Repository { get; }

    public RegistryOptions Options { get; }

    private string Registry => Repository.Registry;

    private string PullScope => $"repository:{Repository.Repository}:pull";

    private string PushScope => $"repository:{Repository.Repository}:pull,push";

    private string RepositoryPath => "/v2/" + Repository.Repository;

    /// <summary>
    /// Checks that the registry accepts the credentials (the <c>/v2/</c> endpoint, as <c>docker login</c>
    /// does): throws <see cref="RegistryAuthenticationException"/> when it refuses them.
    /// </summary>
    public async Task CheckLoginAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new RegistryRequest { Method = HttpMethod.Get, Target = "/v2/" }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new LocationNotFoundException(Registry, $"{Registry} does not serve the registry API (/v2/ answered 404)");
        }

        await EnsureSuccessAsync(response, Registry, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The descriptor of a manifest by tag or digest (a HEAD request), or null when there is none.</summary>
    public async Task<Descriptor?> HeadManifestAsync(string reference, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Head,
            Target = RepositoryPath + "/manifests/" + reference,
            Accept = MediaTypes.ManifestAccept,
            Scopes = [PullScope],
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, reference, cancellationToken).ConfigureAwait(false);
        var digest = ContentDigest(response) ?? (Digest.TryParse(reference, out var asked) ? asked : null);
        if (digest is null || response.Content.Headers.ContentLength is not { } size)
        {
            // Some registries omit the digest on HEAD; a GET then tells everything.
            return null;
        }

        return new Descriptor { MediaType = response.Content.Headers.ContentType?.MediaType ?? string.Empty, Digest = digest, Size = size };
    }

    /// <summary>
    /// A manifest or index by tag or digest, checked against the digest asked for, or for a tag
    /// against the registry's <c>Docker-Content-Digest</c>.
    /// </summary>
    public async Task<ManifestContent> GetManifestAsync(string reference, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Get,
            Target = RepositoryPath + "/manifests/" + reference,
            Accept = MediaTypes.ManifestAccept,
            Scopes = [PullScope],
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ManifestNotFoundException(Repository.Name, reference, []);
        }

        await EnsureSuccessAsync(response, reference, cancellationToken).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength > ImageSourceExtensions.MaxDocumentSize)
        {
            throw new CorruptContentException("ManifestTooLarge", $"The manifest {reference} of {Repository.Name} is {response.Content.Headers.ContentLength} bytes, more than the {ImageSourceExtensions.MaxDocumentSize} allowed.", reference);
        }

        var bytes = await ReadLimitedAsync(response, ImageSourceExtensions.MaxDocumentSize, cancellationToken).ConfigureAwait(false);
        var what = $"The manifest {reference} of {Repository.Name}";
        Digest? expected = Digest.TryParse(reference, out var asked) ? asked : null;
        if (ContentDigest(response) is { } header)
        {
            if (expected is not null && header != expected)
            {
                throw new DigestMismatchException(what + " (Docker-Content-Digest)", expected, header);
            }

            expected = header;
        }

        return ManifestContent.FromBytes(bytes, response.Content.Headers.ContentType?.MediaType, expected, what);
    }

    /// <summary>Whether the repository has the blob.</summary>
    public async Task<bool> BlobExistsAsync(Digest digest, CancellationToken cancellationToken, bool forPush = false)
    {
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Head,
            Target = RepositoryPath + "/blobs/" + digest,
            Scopes = [forPush ? PushScope : PullScope],
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureSuccessAsync(response, digest.ToString(), cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Opens a blob, from <paramref name="offset"/> on when it is not zero. <see cref="BlobResponse.Offset"/>
    /// says where the stream really starts: 0 when the registry ignored the Range. The stream is the raw
    /// body; the caller verifies it (the cache does, as it writes).
    /// </summary>
    public async Task<BlobResponse> OpenBlobAsync(Descriptor descriptor, long offset, CancellationToken cancellationToken)
    {
        var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Get,
            Target = RepositoryPath + "/blobs/" + descriptor.Digest,
            Scopes = [PullScope],
            RangeFrom = offset > 0 ? offset : null,
        }, cancellationToken).ConfigureAwait(false);
        try
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw new BlobNotFoundException(Repository.Name, descriptor);
            }

            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                response.Dispose();
                return await OpenBlobAsync(descriptor, 0, cancellationToken).ConfigureAwait(false);
            }

            await EnsureSuccessAsync(response, descriptor.Digest.ToString(), cancellationToken).ConfigureAwait(false);
            var start = response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From is { } from ? from : 0;
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return new BlobResponse(_transport.WrapBody(new OwningStream(body, response)), start);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Asks the registry to mount a blob from another repository. Returns true when mounted; false when
    /// the registry started an ordinary upload instead (it is cancelled) or refused.
    /// </summary>
    public async Task<bool> MountBlobAsync(Digest digest, string fromRepository, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Post,
            Target = $"{RepositoryPath}/blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(fromRepository)}",
            Scopes = [PushScope, $"repository:{fromRepository}:pull"],
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            return true;
        }

        if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } upload)
        {
            await CancelUploadAsync(upload, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    /// <summary>
    /// Uploads a blob: one PUT when it is at most <see cref="RegistryOptions.MonolithicUploadLimit"/>,
    /// else PATCH chunks of <see cref="RegistryOptions.ChunkSize"/> (each retried on its own) and a
    /// final PUT. The content is hashed as it is sent and must match the descriptor.
    /// </summary>
    public async Task PushBlobAsync(Descriptor descriptor, Stream content, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        // Sources hand out verifying streams already, and a file hashed for its digest is checked by the
        // registry on the final PUT: hashing the same bytes twice costs a core on big pushes.
        var verified = content is VerifyingStream or HashedFileStream
            ? content
            : new VerifyingStream(content, descriptor, $"The content pushed as {descriptor.Digest} to {Repository.Name}", leaveOpen: true);
        await using var _ = (verified == content ? Stream.Null : verified).ConfigureAwait(false);
        var location = await StartUploadAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (descriptor.Size <= Options.MonolithicUploadLimit)
            {
                var bytes = new byte[descriptor.Size];
                await verified.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
                await EnsureEndAsync(verified, cancellationToken).ConfigureAwait(false);
                await CompleteUploadAsync(location, descriptor.Digest, bytes, cancellationToken).ConfigureAwait(false);
                progress?.Report(descriptor.Size);
                return;
            }

            if (Options.ChunkSize <= 0)
            {
                location = await PatchStreamAsync(location, verified, descriptor.Size, progress, cancellationToken).ConfigureAwait(false);
                if (verified is not VerifyingStream { IsVerified: true })
                {
                    await EnsureEndAsync(verified, cancellationToken).ConfigureAwait(false);
                }

                await CompleteUploadAsync(location, descriptor.Digest, [], cancellationToken).ConfigureAwait(false);
                return;
            }

            var chunk = new byte[(int)Math.Min(Options.ChunkSize, Math.Max(descriptor.Size, 1))];
            long sent = 0;
            while (true)
            {
                var filled = await FillAsync(verified, chunk, cancellationToken).ConfigureAwait(false);
                if (filled == 0)
                {
                    break;
                }

                location = await PatchChunkAsync(location, chunk.AsMemory(0, filled), sent, cancellationToken).ConfigureAwait(false);
                sent += filled;
                progress?.Report(sent);
            }

            await CompleteUploadAsync(location, descriptor.Digest, [], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            await CancelUploadAsync(location, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stores a manifest or index under a tag, or by its digest when <paramref name="tag"/> is null.</summary>
    public async Task PushManifestAsync(ManifestContent manifest, string? tag, CancellationToken cancellationToken)
    {
        var reference = tag ?? manifest.Digest.ToString();
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Put,
            Target = RepositoryPath + "/manifests/" + reference,
            Scopes = [PushScope],
            Content = () =>
            {
                var body = new ByteArrayContent(manifest.Bytes);
                body.Headers.ContentType = new MediaTypeHeaderValue(manifest.MediaType);
                return body;
            },
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnsupportedMediaType &&
            manifest.MediaType.StartsWith("application/vnd.oci.", StringComparison.Ordinal))
        {
            var (code, message) = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            throw new RegistryRequestException(
                "ManifestRejected",
                Repository.Name,
                $"{Registry} refused the OCI manifest {manifest.Digest} for {Repository.Repository}:{reference} ({message}). If the registry does not accept OCI media types, copy with -Format Docker.",
                (int)response.StatusCode,
                code);
        }

        await EnsureSuccessAsync(response, reference, cancellationToken).ConfigureAwait(false);
        if (ContentDigest(response) is { } stored && stored != manifest.Digest && stored.Algorithm == manifest.Digest.Algorithm)
        {
            throw new DigestMismatchException($"The manifest stored as {Repository.Repository}:{reference} on {Registry}", manifest.Digest, stored);
        }
    }

    /// <summary>
    /// The referrers API (distribution spec 1.1): an index of the manifests whose <c>subject</c> is
    /// <paramref name="subject"/>, or null when the registry has no such API (it answers 404, which a
    /// registry that has it never does), so the caller uses the referrers tag schema instead.
    /// </summary>
    public async Task<ImageIndex?> GetReferrersAsync(Digest subject, string? artifactType, CancellationToken cancellationToken)
    {
        var target = RepositoryPath + "/referrers/" + subject + (artifactType is null ? string.Empty : "?artifactType=" + Uri.EscapeDataString(artifactType));
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Get,
            Target = target,
            Accept = [MediaTypes.OciIndex],
            Scopes = [PullScope],
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, subject.ToString(), cancellationToken).ConfigureAwait(false);
        var bytes = await ReadLimitedAsync(response, ImageSourceExtensions.MaxDocumentSize, cancellationToken).ConfigureAwait(false);
        return OciJson.Deserialize(bytes, OciJsonContext.Default.ImageIndex, $"The referrers of {subject} in {Repository.Name}");
    }

    /// <summary>The repository's tags, page by page as the registry's <c>Link</c> headers lead.</summary>
    public async IAsyncEnumerable<string> ListTagsAsync(int? pageSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? target = RepositoryPath + "/tags/list" + (pageSize is { } n ? "?n=" + n.ToString(CultureInfo.InvariantCulture) : string.Empty);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (target is not null)
        {
            using var response = await SendAsync(new RegistryRequest { Method = HttpMethod.Get, Target = target, Scopes = [PullScope] }, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw new LocationNotFoundException(Repository.Name, $"the registry {Registry} has no repository '{Repository.Repository}'");
            }

            await EnsureSuccessAsync(response, Repository.Name, cancellationToken).ConfigureAwait(false);
            var bytes = await ReadLimitedAsync(response, ImageSourceExtensions.MaxDocumentSize, cancellationToken).ConfigureAwait(false);
            List<string> tags = [];
            try
            {
                using var document = JsonDocument.Parse(bytes);
                if (document.RootElement.TryGetProperty("tags", out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    tags.AddRange(list.EnumerateArray().Select(t => t.GetString()).OfType<string>());
                }
            }
            catch (JsonException ex)
            {
                throw new CorruptContentException("TagListInvalid", $"The tag list of {Repository.Name} is not valid JSON: {ex.Message}", Repository.Name, ex);
            }

            foreach (var tag in tags)
            {
                if (seen.Add(tag))
                {
                    yield return tag;
                }
            }

            target = NextLink(response);
            if (tags.Count == 0)
            {
                break;
            }
        }
    }

    /// <summary>The <c>rel="next"</c> target of a <c>Link</c> header (RFC 8288), or null.</summary>
    internal static string? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var values))
        {
            return null;
        }

        foreach (var value in values.SelectMany(v => v.Split(',')))
        {
            var open = value.IndexOf('<', StringComparison.Ordinal);
            var close = value.IndexOf('>', StringComparison.Ordinal);
            if (open >= 0 && close > open && value[close..].Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase) ||
                open >= 0 && close > open && value[close..].Contains("rel=next", StringComparison.OrdinalIgnoreCase))
            {
                var link = value[(open + 1)..close].Trim();
                // On Unix "/v2/…" parses as an absolute file URI: only http(s) links are absolute here.
                return link.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || link.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
                    ? new Uri(link).PathAndQuery
                    : link;
            }
        }

        return null;
    }

    private async Task<Uri> StartUploadAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Post,
            Target = RepositoryPath + "/blobs/uploads/",
            Scopes = [PushScope],
        }, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, Repository.Name, cancellationToken).ConfigureAwait(false);
        return UploadLocation(response, null);
    }

    private async Task<Uri> PatchChunkAsync(Uri location, ReadOnlyMemory<byte> chunk, long offset, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Patch,
            Target = location.ToString(),
            Scopes = [PushScope],
            Content = () =>
            {
                var body = new ReadOnlyMemoryContent(chunk);
                body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                body.Headers.TryAddWithoutValidation("Content-Range", $"{offset}-{offset + chunk.Length - 1}");
                return body;
            },
        }, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, Repository.Name, cancellationToken).ConfigureAwait(false);
        return UploadLocation(response, location);
    }

    /// <summary>The whole blob in one streamed PATCH: nothing buffered, but not repeatable (a failed blob is started over by the copy).</summary>
    private async Task<Uri> PatchStreamAsync(Uri location, Stream content, long size, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Patch,
            Target = location.ToString(),
            Scopes = [PushScope],
            Repeatable = false,
            Content = () =>
            {
                var body = new StreamContent(new CountingStream(content, progress), 1 << 17);
                body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                body.Headers.ContentLength = size;
                return body;
            },
        }, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, Repository.Name, cancellationToken).ConfigureAwait(false);
        return UploadLocation(response, location);
    }

    private async Task CompleteUploadAsync(Uri location, Digest digest, byte[] body, CancellationToken cancellationToken)
    {
        var target = new UriBuilder(location);
        var digestQuery = "digest=" + Uri.EscapeDataString(digest.ToString());
        target.Query = string.IsNullOrEmpty(target.Query) ? digestQuery : target.Query.TrimStart('?') + "&" + digestQuery;
        using var response = await SendAsync(new RegistryRequest
        {
            Method = HttpMethod.Put,
            Target = target.Uri.ToString(),
            Scopes = [PushScope],
            Content = () =>
            {
                var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                return content;
            },
        }, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, digest.ToString(), cancellationToken).ConfigureAwait(false);
    }

    private async Task CancelUploadAsync(Uri location, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await SendAsync(new RegistryRequest { Method = HttpMethod.Delete, Target = location.ToString(), Scopes = [PushScope], Repeatable = false }, cancellationToken).ConfigureAwait(false);
        }
        catch (OciException)
        {
            // Cancelling is a courtesy: the registry expires abandoned uploads anyway.
        }
    }

    private Uri UploadLocation(HttpResponseMessage response, Uri? previous)
    {
        if (response.Headers.Location is not { } location)
        {
            return previous ?? throw new RegistryRequestException("BlobUploadInvalid", Repository.Name, $"{Registry} started an upload without saying where to send it (no Location header).", (int)response.StatusCode);
        }

        return location.IsAbsoluteUri ? location : new Uri(response.RequestMessage?.RequestUri ?? _transport.BaseUri(Repository.ApiHost), location);
    }

    private Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken) =>
        _transport.SendAsync(Registry, Repository.ApiHost, request, cancellationToken);

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string target, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var (code, message) = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
        var what = $"{response.RequestMessage?.Method} {Repository.Repository} ({target})";
        switch (response.StatusCode)
        {
            case HttpStatusCode.Unauthorized:
                var user = await _transport.CredentialUserAsync(Registry, cancellationToken).ConfigureAwait(false);
                throw new RegistryAuthenticationException(Registry, user is not null
                    ? $"{Registry} refused the credentials of '{user}' for {what}: {message}"
                    : $"{Registry} needs credentials for {what} ({message}); sign in with Connect-OciRegistry or pass -Credential.");
            case HttpStatusCode.Forbidden:
                throw new RegistryAuthenticationException(Registry, $"{Registry} denied {what}: {message}");
            case HttpStatusCode.NotFound:
                throw new LocationNotFoundException(Repository.Name, $"{Registry} answered 404 to {what}: {message}");
            default:
                if ((int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    throw new RegistryConnectionException(Registry, $"{Registry} kept failing {what} after {Options.MaxRetries} retries: {(int)response.StatusCode} {message}");
                }

                throw new RegistryRequestException("RegistryRequestFailed", target, $"{Registry} refused {what}: {(int)response.StatusCode} {message}", (int)response.StatusCode, code);
        }
    }

    /// <summary>The distribution error body (<c>{"errors":[{"code","message"}]}</c>) as text; never echoes request headers.</summary>
    private static async Task<(string? Code, string Message)> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            body = await ReadLimitedAsync(response, 64 * 1024, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or CorruptContentException)
        {
            return (null, response.ReasonPhrase ?? string.Empty);
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0)
            {
                var first = errors[0];
                var code = first.TryGetProperty("code", out var c) ? c.GetString() : null;
                var messages = errors.EnumerateArray().Select(e =>
                    (e.TryGetProperty("code", out var ec) ? ec.GetString() + ": " : string.Empty) +
                    (e.TryGetProperty("message", out var em) ? em.GetString() : string.Empty));
                return (code, string.Join("; ", messages));
            }
        }
        catch (JsonException)
        {
        }

        return (null, response.ReasonPhrase ?? ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, long limit, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > limit)
                {
                    throw new CorruptContentException("RegistryResponseTooLarge", $"{response.RequestMessage?.RequestUri?.GetLeftPart(UriPartial.Path)} answered more than {limit} bytes.", response.RequestMessage?.RequestUri?.Host);
                }
            }

            return buffer.ToArray();
        }
    }

    private static Digest? ContentDigest(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var digest) ? digest : null;

    private static async Task<int> FillAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return filled;
    }

    private static async Task EnsureEndAsync(Stream stream, CancellationToken cancellationToken)
    {
        // A read at the end makes the verifying stream check size and digest.
        if (await stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new InvalidOperationException("Unreachable: the verifying stream fails on excess bytes.");
        }
    }
}

/// <summary>A blob body and the offset it starts at (0 when the registry ignored a Range request).</summary>
public sealed record BlobResponse(Stream Content, long Offset);

/// <summary>A response body that disposes its response with it.</summary>
internal sealed class OwningStream(Stream inner, IDisposable owner) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            owner.Dispose();
        }

        base.Dispose(disposing);
    }
}
