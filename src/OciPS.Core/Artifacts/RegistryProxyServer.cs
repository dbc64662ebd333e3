using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using OciPS.Core.Model;

namespace OciPS.Core.Artifacts;

/// <summary>
/// Serves an OCI layout read-only over the OCI distribution API on 127.0.0.1 (oci-packer's proxy mode):
/// <c>/v2/</c>, manifests by tag or digest, blobs with ranges, tag lists, the referrers API and a catalog.
/// Writes answer 405 UNSUPPORTED. index.json is read on every request, so what the layout holds now is
/// what is served. Digests are parsed before any path is built from them, so no request reaches a file
/// outside <c>blobs/</c>.
/// </summary>
public sealed partial class RegistryProxyServer : IAsyncDisposable
{
    private const int MaxManifestSize = 4 << 20;
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _serving;
    private long _requests;

    private RegistryProxyServer(string layout, string name, HttpListener listener, int port)
    {
        LayoutPath = layout;
        Name = name;
        _listener = listener;
        Port = port;
        _serving = Task.Run(ServeAsync);
    }

    public string LayoutPath { get; }

    /// <summary>The repository name the layout is served as.</summary>
    public string Name { get; }

    public int Port { get; }

    /// <summary>The registry host a client uses: <c>127.0.0.1:PORT</c>.</summary>
    public string Host => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public long RequestCount => Interlocked.Read(ref _requests);

    /// <summary>Told about each request and each failure (for the job's verbose and error streams).</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Starts serving <paramref name="layout"/> as repository <paramref name="name"/>; port 0 picks a free one.</summary>
    public static RegistryProxyServer Start(string layout, string name, int port)
    {
        if (!File.Exists(Path.Combine(layout, "index.json")))
        {
            throw new LocationNotFoundException(layout, $"'{layout}' is not an OCI image layout: it has no index.json");
        }

        if (!RepositoryNamePattern().IsMatch(name))
        {
            throw new OciException("ProxyNameInvalid", OciErrorKind.InvalidArgument, $"'{name}' is not a valid repository name (lower-case letters, digits and . _ - / separators).", name);
        }

        for (var attempt = 0; ; attempt++)
        {
            var chosen = port != 0 ? port : FreePort();
            var listener = new HttpListener { IgnoreWriteExceptions = true };
            listener.Prefixes.Add($"http://127.0.0.1:{chosen.ToString(CultureInfo.InvariantCulture)}/");
            try
            {
                listener.Start();
                return new RegistryProxyServer(Path.GetFullPath(layout), name, listener, chosen);
            }
            catch (HttpListenerException ex)
            {
                listener.Close();
                if (port != 0 || attempt >= 5)
                {
                    throw new OciException("ProxyPortUnavailable", OciErrorKind.ResourceExists, $"Cannot listen on 127.0.0.1:{chosen}: {ex.Message}", chosen, ex);
                }
            }
        }
    }

    /// <summary>Stops listening (the port closes) and waits for the serving loop to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Close();
        try
        {
            await _serving.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        Interlocked.Increment(ref _requests);
        var request = context.Request;
        var response = context.Response;
        response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        try
        {
            Log?.Invoke($"{request.HttpMethod} {request.Url?.PathAndQuery}");
            await RouteAsync(request, response, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpListenerException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away, or the proxy is stopping.
        }
        catch (Exception ex)
        {
            Log?.Invoke($"Error serving {request.HttpMethod} {request.Url?.PathAndQuery}: {ex.Message}");
            try
            {
                await ErrorAsync(response, 500, "UNKNOWN", ex.Message, request.HttpMethod == "HEAD").ConfigureAwait(false);
            }
            catch (Exception inner) when (inner is IOException or HttpListenerException or InvalidOperationException or ObjectDisposedException)
            {
            }
        }
        finally
        {
            try
            {
                response.Close();
            }
            catch (Exception ex) when (ex is IOException or HttpListenerException or ObjectDisposedException)
            {
            }
        }
    }

    private async Task RouteAsync(HttpListenerRequest request, HttpListenerResponse response, CancellationToken cancellationToken)
    {
        var path = request.Url!.AbsolutePath;
        var head = request.HttpMethod == "HEAD";
        if (request.HttpMethod is not ("GET" or "HEAD"))
        {
            response.Headers["Allow"] = "GET, HEAD";
            await ErrorAsync(response, 405, "UNSUPPORTED", "This registry is a read-only view of an OCI layout.", false).ConfigureAwait(false);
            return;
        }

        if (path is "/v2" or "/v2/")
        {
            await JsonAsync(response, "{}"u8.ToArray(), "application/json", head).ConfigureAwait(false);
            return;
        }

        if (path == "/v2/_catalog")
        {
            await JsonAsync(response, JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string[]> { ["repositories"] = [Name] }, ProxyJsonContext.Default.DictionaryStringStringArray), "application/json", head).ConfigureAwait(false);
            return;
        }

        var match = RoutePattern().Match(path);
        if (!match.Success)
        {
            await ErrorAsync(response, 404, "NOT_FOUND", $"'{path}' is not a distribution API path.", head).ConfigureAwait(false);
            return;
        }

        if (match.Groups["name"].Value != Name)
        {
            await ErrorAsync(response, 404, "NAME_UNKNOWN", $"This proxy serves the repository '{Name}' only.", head).ConfigureAwait(false);
            return;
        }

        var reference = match.Groups["reference"].Value;
        switch (match.Groups["kind"].Value)
        {
            case "manifests":
                await ManifestAsync(response, reference, head, cancellationToken).ConfigureAwait(false);
                break;
            case "blobs":
                await BlobAsync(request, response, reference, head, cancellationToken).ConfigureAwait(false);
                break;
            case "tags" when reference == "list":
                await TagsAsync(request, response, head).ConfigureAwait(false);
                break;
            case "referrers":
                await ReferrersAsync(request, response, reference, head, cancellationToken).ConfigureAwait(false);
                break;
            default:
                await ErrorAsync(response, 404, "NOT_FOUND", $"'{path}' is not a distribution API path.", head).ConfigureAwait(false);
                break;
        }
    }

    private async Task ManifestAsync(HttpListenerResponse response, string reference, bool head, CancellationToken cancellationToken)
    {
        var index = ReadIndex();
        Descriptor? descriptor;
        if (reference.Contains(':', StringComparison.Ordinal))
        {
            if (!Digest.TryParse(reference, out var digest))
            {
                await ErrorAsync(response, 400, "DIGEST_INVALID", $"'{reference}' is not a valid digest.", head).ConfigureAwait(false);
                return;
            }

            descriptor = index.Manifests.FirstOrDefault(m => m.Digest == digest) ?? (File.Exists(BlobPath(digest)) ? new Descriptor { Digest = digest } : null);
        }
        else
        {
            descriptor = index.Manifests.LastOrDefault(m => m.Annotation(AnnotationKeys.RefName) == reference);
        }

        if (descriptor is null || !File.Exists(BlobPath(descriptor.Digest)) || new FileInfo(BlobPath(descriptor.Digest)).Length > MaxManifestSize)
        {
            await ErrorAsync(response, 404, "MANIFEST_UNKNOWN", $"The repository '{Name}' has no manifest '{reference}'.", head).ConfigureAwait(false);
            return;
        }

        var bytes = await File.ReadAllBytesAsync(BlobPath(descriptor.Digest), cancellationToken).ConfigureAwait(false);
        ManifestContent content;
        try
        {
            content = ManifestContent.FromBytes(bytes, string.IsNullOrEmpty(descriptor.MediaType) ? null : descriptor.MediaType, descriptor.Digest, $"The manifest {descriptor.Digest}");
        }
        catch (OciException)
        {
            await ErrorAsync(response, 404, "MANIFEST_UNKNOWN", $"{descriptor.Digest} is not a manifest.", head).ConfigureAwait(false);
            return;
        }

        response.Headers["Docker-Content-Digest"] = content.Digest.ToString();
        await JsonAsync(response, bytes, content.MediaType, head).ConfigureAwait(false);
    }

    private async Task BlobAsync(HttpListenerRequest request, HttpListenerResponse response, string reference, bool head, CancellationToken cancellationToken)
    {
        if (!Digest.TryParse(reference, out var digest))
        {
            await ErrorAsync(response, 400, "DIGEST_INVALID", $"'{reference}' is not a valid digest.", head).ConfigureAwait(false);
            return;
        }

        var path = BlobPath(digest);
        if (!File.Exists(path))
        {
            await ErrorAsync(response, 404, "BLOB_UNKNOWN", $"The repository '{Name}' has no blob {digest}.", head).ConfigureAwait(false);
            return;
        }

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (stream.ConfigureAwait(false))
        {
            var length = stream.Length;
            long start = 0, end = length - 1;
            response.Headers["Docker-Content-Digest"] = digest.ToString();
            response.Headers["Accept-Ranges"] = "bytes";
            response.ContentType = "application/octet-stream";
            if (request.Headers["Range"] is { } range)
            {
                if (!TryParseRange(range, length, out start, out end))
                {
                    response.Headers["Content-Range"] = "bytes */" + length.ToString(CultureInfo.InvariantCulture);
                    await ErrorAsync(response, 416, "BLOB_UNKNOWN", $"The range '{range}' is not satisfiable for {length} bytes.", head).ConfigureAwait(false);
                    return;
                }

                response.StatusCode = 206;
                response.Headers["Content-Range"] = FormattableString.Invariant($"bytes {start}-{end}/{length}");
            }

            response.ContentLength64 = end - start + 1;
            if (head)
            {
                return;
            }

            stream.Position = start;
            var remaining = end - start + 1;
            var buffer = new byte[1 << 16];
            while (remaining > 0)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                await response.OutputStream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                remaining -= read;
            }
        }
    }

    private async Task TagsAsync(HttpListenerRequest request, HttpListenerResponse response, bool head)
    {
        IEnumerable<string> tags = ReadIndex().Manifests
            .Select(m => m.Annotation(AnnotationKeys.RefName))
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal);
        if (request.QueryString["last"] is { } last)
        {
            tags = tags.Where(t => string.CompareOrdinal(t, last) > 0);
        }

        if (int.TryParse(request.QueryString["n"], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            tags = tags.Take(n);
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(new TagList(Name, tags.ToArray()), ProxyJsonContext.Default.TagList);
        await JsonAsync(response, body, "application/json", head).ConfigureAwait(false);
    }

    /// <summary>
    /// The referrers API: an index of the manifests (listed in index.json, or children of listed indexes)
    /// whose <c>subject</c> is the digest, filtered by <c>artifactType</c> when asked.
    /// </summary>
    private async Task ReferrersAsync(HttpListenerRequest request, HttpListenerResponse response, string reference, bool head, CancellationToken cancellationToken)
    {
        if (!Digest.TryParse(reference, out var subject))
        {
            await ErrorAsync(response, 400, "DIGEST_INVALID", $"'{reference}' is not a valid digest.", head).ConfigureAwait(false);
            return;
        }

        var filter = request.QueryString["artifactType"];
        var referrers = await ArtifactReferrers.InLayoutAsync(LayoutPath, subject, filter, Log, cancellationToken).ConfigureAwait(false);
        if (filter is not null)
        {
            response.Headers["OCI-Filters-Applied"] = "artifactType";
        }

        var index = new ImageIndex { SchemaVersion = 2, MediaType = MediaTypes.OciIndex, Manifests = referrers };
        await JsonAsync(response, OciJson.Serialize(index, OciJson.Compact.ImageIndex), MediaTypes.OciIndex, head).ConfigureAwait(false);
    }

    private ImageIndex ReadIndex()
    {
        var path = Path.Combine(LayoutPath, "index.json");
        return OciJson.Deserialize(File.ReadAllBytes(path), OciJsonContext.Default.ImageIndex, $"'{path}'");
    }

    private string BlobPath(Digest digest) => Path.Combine(LayoutPath, "blobs", digest.Algorithm, digest.Encoded);


    private static bool TryParseRange(string header, long length, out long start, out long end)
    {
        start = 0;
        end = length - 1;
        var match = RangePattern().Match(header);
        if (!match.Success || length == 0)
        {
            return false;
        }

        var first = match.Groups["start"].Value;
        var last = match.Groups["end"].Value;
        if (first.Length == 0)
        {
            if (last.Length == 0)
            {
                return false;
            }

            var suffix = long.Parse(last, CultureInfo.InvariantCulture);
            start = Math.Max(0, length - suffix);
            return suffix > 0;
        }

        start = long.Parse(first, CultureInfo.InvariantCulture);
        end = last.Length == 0 ? length - 1 : Math.Min(long.Parse(last, CultureInfo.InvariantCulture), length - 1);
        return start < length && start <= end;
    }

    private static async Task JsonAsync(HttpListenerResponse response, byte[] body, string contentType, bool head)
    {
        response.ContentType = contentType;
        response.ContentLength64 = body.Length;
        if (!head)
        {
            await response.OutputStream.WriteAsync(body).ConfigureAwait(false);
        }
    }

    private static async Task ErrorAsync(HttpListenerResponse response, int status, string code, string message, bool head)
    {
        response.StatusCode = status;
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new ErrorList([new ErrorEntry(code, message)]), ProxyJsonContext.Default.ErrorList));
        await JsonAsync(response, body, "application/json", head).ConfigureAwait(false);
    }

    [GeneratedRegex(@"^/v2/(?<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)/(?<kind>manifests|blobs|tags|referrers)/(?<reference>[^/]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex RoutePattern();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$", RegexOptions.CultureInvariant)]
    private static partial Regex RepositoryNamePattern();

    [GeneratedRegex(@"^\s*bytes=(?<start>\d*)-(?<end>\d*)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex RangePattern();
}

internal sealed record TagList(
    [property: System.Text.Json.Serialization.JsonPropertyName("name")] string Name,
    [property: System.Text.Json.Serialization.JsonPropertyName("tags")] string[] Tags);

internal sealed record ErrorEntry(
    [property: System.Text.Json.Serialization.JsonPropertyName("code")] string Code,
    [property: System.Text.Json.Serialization.JsonPropertyName("message")] string Message);

internal sealed record ErrorList([property: System.Text.Json.Serialization.JsonPropertyName("errors")] ErrorEntry[] Errors);

[System.Text.Json.Serialization.JsonSerializable(typeof(TagList))]
[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorList))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string[]>))]
internal sealed partial class ProxyJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
