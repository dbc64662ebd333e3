using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OciPS.Core.Content;

namespace OciPS.Core.Registry;

/// <summary>One request to a registry: everything needed to send it again (retries, auth, redirects).</summary>
internal sealed record RegistryRequest
{
    public required HttpMethod Method { get; init; }

    /// <summary>A path under the registry (<c>/v2/…</c>) or an absolute URL (an upload location).</summary>
    public required string Target { get; init; }

    /// <summary>The auth scopes the request needs (<c>repository:r:pull</c>).</summary>
    public IReadOnlyList<string> Scopes { get; init; } = [];

    public IReadOnlyList<string>? Accept { get; init; }

    /// <summary>The first byte wanted (a Range request), or null for the whole content.</summary>
    public long? RangeFrom { get; init; }

    /// <summary>Makes the body; called again for each attempt, so it must be repeatable.</summary>
    public Func<HttpContent>? Content { get; init; }

    /// <summary>Whether the request may be sent more than once (false for bodies streamed from a source).</summary>
    public bool Repeatable { get; init; } = true;
}

/// <summary>
/// The HTTP layer shared by every registry operation with the same options: one
/// <see cref="HttpClient"/> (connection pooling, proxy, TLS settings), authentication per registry,
/// retries with back-off on connection faults, 429 and 5xx (honouring Retry-After), and redirects
/// followed without the Authorization header (blob storage must not see registry credentials).
/// </summary>
internal sealed class RegistryTransport : IDisposable
{
    private const int MaxRedirects = 10;
    private static readonly ConditionalWeakTable<RegistryOptions, RegistryTransport> Shared = new();
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, RegistryAuthenticator> _authenticators = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, string> _schemes = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _schemeChecked = new(StringComparer.OrdinalIgnoreCase);

    private RegistryTransport(RegistryOptions options)
    {
        Options = options;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            MaxConnectionsPerServer = 32,
            ConnectTimeout = options.Timeout < TimeSpan.FromSeconds(30) ? options.Timeout : TimeSpan.FromSeconds(30),
        };

        // Never .NET's default proxy: it is read once per process and would miss a later $env:HTTPS_PROXY.
        // WebProxy bypasses loopback hosts only with BypassProxyOnLocal, so an explicit proxy carries them too.
        // Without proxy variables, Windows and macOS still get the system's proxy settings (.NET reads those).
        Proxy = options.Proxy is { } proxy
            ? new WebProxy(EnvironmentProxy.Normalise(proxy)) { BypassProxyOnLocal = false }
            : EnvironmentProxy.FromEnvironment(name => options.ProxyEnvironment is { } variables
                ? variables.GetValueOrDefault(name)
                : Environment.GetEnvironmentVariable(name)) ??
              (options.ProxyEnvironment is null && !OperatingSystem.IsLinux() ? HttpClient.DefaultProxy : null);
        handler.UseProxy = Proxy is not null;
        handler.Proxy = Proxy;
        if (options.SkipTlsVerify || options.CaCertificateFile is not null)
        {
            handler.SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ValidateCertificate(options) };
        }

        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("OciPS", typeof(RegistryTransport).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    public RegistryOptions Options { get; }

    /// <summary>The proxy requests go through (explicit or from the environment), or null for direct connections.</summary>
    internal IWebProxy? Proxy { get; }

    /// <summary>The transport for a set of options (one per options instance, so connections are reused).</summary>
    public static RegistryTransport For(RegistryOptions options) => Shared.GetValue(options, o => new RegistryTransport(o));

    /// <summary>The base URL of a registry's API host: plain HTTP for loopback hosts and with AllowInsecure.</summary>
    public Uri BaseUri(string apiHost)
    {
        var scheme = _schemes.GetOrAdd(apiHost, host => Options.AllowInsecure || IsLoopback(host) ? "http" : "https");
        return new Uri(scheme + "://" + apiHost);
    }

    /// <summary>Sends a request: authenticated, retried, redirects followed. The caller disposes the response.</summary>
    public async Task<HttpResponseMessage> SendAsync(string registry, string apiHost, RegistryRequest request, CancellationToken cancellationToken)
    {
        var authenticator = _authenticators.GetOrAdd(registry, r => new RegistryAuthenticator(r, Options, (message, ct) => SendTokenRequestAsync(r, message, ct)));
        var authRetried = false;
        var attempt = 0;
        while (true)
        {
            var target = new Uri(BaseUri(apiHost), request.Target);
            var authorization = await authenticator.HeaderForAsync(request.Scopes, cancellationToken).ConfigureAwait(false);
            HttpResponseMessage response;
            try
            {
                response = await SendFollowingRedirectsAsync(request, target, authorization, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (ex.InnerException is OciException content)
            {
                // A streamed body that failed its own verification: the content's fault, not the network's.
                throw content;
            }
            catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException tls)
            {
                // Not transient: the same certificate comes back on every retry.
                throw new RegistryCertificateException(registry, $"The TLS certificate of {registry} is not trusted ({tls.Message}). Trust the CA that signed it with -CaCertificate <PEM file> (RegistryOptions.CaCertificateFile), or, for a test registry, skip the check with -SkipCertificateCheck.", ex);
            }
            catch (Exception ex) when (IsTransient(ex, cancellationToken))
            {
                if (!request.Repeatable || attempt >= Options.MaxRetries)
                {
                    throw new RegistryConnectionException(registry, $"Could not reach {registry} ({request.Method} {Describe(target)}{Via(target)}{Tries(attempt)}): {ex.Message}", ex);
                }

                await Task.Delay(Backoff(attempt++, null), cancellationToken).ConfigureAwait(false);
                continue;
            }

            // Checked on the first error answer only: a HEAD answer has no body to tell, and an HTTP proxy may
            // turn the TLS server's 400 into a 503 of its own.
            if (target.Scheme == "http" && (response.StatusCode == HttpStatusCode.BadRequest || (int)response.StatusCode >= 500) &&
                !_schemeChecked.ContainsKey(apiHost) && await IsTlsOnlyAsync(response, target, cancellationToken).ConfigureAwait(false))
            {
                // A loopback registry that speaks only TLS: use HTTPS from now on.
                response.Dispose();
                _schemes[apiHost] = "https";
                continue;
            }

            _schemeChecked.TryAdd(apiHost, true);

            if (response.StatusCode == HttpStatusCode.Unauthorized && !authRetried && authenticator.OnUnauthorized(response, request.Scopes, authorization is not null))
            {
                authRetried = true;
                response.Dispose();
                continue;
            }

            if (IsRetryableStatus(response.StatusCode) && request.Repeatable && attempt < Options.MaxRetries)
            {
                var delay = Backoff(attempt++, RetryAfter(response));
                response.Dispose();
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                continue;
            }

            return response;
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>The user name of the credential used for the registry (to explain a refusal), or null when anonymous.</summary>
    public Task<string?> CredentialUserAsync(string registry, CancellationToken cancellationToken) =>
        _authenticators.TryGetValue(registry, out var authenticator) ? authenticator.CredentialUserAsync(cancellationToken) : Task.FromResult<string?>(null);

    /// <summary>Reads a response body with the options' timeout between reads.</summary>
    public Stream WrapBody(Stream body) => new IdleTimeoutStream(body, Options.Timeout);

    internal static bool IsLoopback(string apiHost)
    {
        var host = apiHost;
        if (host.StartsWith('['))
        {
            host = host[..(host.IndexOf(']', StringComparison.Ordinal) + 1)];
        }
        else if (host.LastIndexOf(':') is var colon and > 0)
        {
            host = host[..colon];
        }

        return host is "localhost" or "[::1]" || host.StartsWith("127.", StringComparison.Ordinal) ||
            host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);
    }

    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(RegistryRequest request, Uri target, AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        var current = target;
        for (var redirects = 0; ; redirects++)
        {
            using var message = new HttpRequestMessage(request.Method, current);
            if (redirects == 0 || current.Authority == target.Authority)
            {
                message.Headers.Authorization = authorization;
            }

            if (request.Accept is not null)
            {
                foreach (var type in request.Accept)
                {
                    message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
                }
            }

            if (request.RangeFrom is { } from)
            {
                message.Headers.Range = new RangeHeaderValue(from, null);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.Timeout);

            // The timeout is between two writes of the body, then for the answer: a large upload over a
            // slow link or proxy may take far longer than the timeout as a whole (skopeo#2101).
            message.Content = request.Content?.Invoke() is { } body ? new WatchdogContent(body, () => timeout.CancelAfter(Options.Timeout)) : null;
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no answer within {Seconds(Options.Timeout)} (-Timeout){(message.Content is null ? string.Empty : ", or the upload stalled as long")}", ex);
            }

            var isRedirect = (int)response.StatusCode is 301 or 302 or 303 or 307 or 308;
            if (!isRedirect || response.Headers.Location is null || (request.Method != HttpMethod.Get && request.Method != HttpMethod.Head))
            {
                return response;
            }

            if (redirects >= MaxRedirects)
            {
                response.Dispose();
                throw new RegistryConnectionException(target.Authority, $"{Describe(target)} redirected more than {MaxRedirects} times.");
            }

            var location = response.Headers.Location;
            response.Dispose();
            current = location.IsAbsoluteUri ? location : new Uri(current, location);
        }
    }

    /// <summary>Sends a token request; a GET is retried like any registry request, a POST (it carries a secret form) is not.</summary>
    private async Task<HttpResponseMessage> SendTokenRequestAsync(string registry, HttpRequestMessage message, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var canRetry = message.Content is null && attempt < Options.MaxRetries;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(Options.Timeout);
                var response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
                if (IsRetryableStatus(response.StatusCode) && canRetry)
                {
                    var delay = Backoff(attempt, RetryAfter(response));
                    response.Dispose();
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    message = Clone(message);
                    continue;
                }

                return response;
            }
            catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException tls)
            {
                throw new RegistryCertificateException(registry, $"The TLS certificate of the token service of {registry} ({message.RequestUri?.Authority}) is not trusted ({tls.Message}). Trust the CA that signed it with -CaCertificate <PEM file>, or skip the check with -SkipCertificateCheck.", ex);
            }
            catch (Exception ex) when (IsTransient(ex, cancellationToken) || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                if (!canRetry)
                {
                    throw new RegistryConnectionException(registry, $"Could not reach the token service of {registry} ({message.RequestUri?.GetLeftPart(UriPartial.Path)}): {ex.Message}", ex);
                }

                await Task.Delay(Backoff(attempt, null), cancellationToken).ConfigureAwait(false);
                message = Clone(message);
            }
        }
    }

    private static HttpRequestMessage Clone(HttpRequestMessage message)
    {
        var copy = new HttpRequestMessage(message.Method, message.RequestUri);
        foreach (var header in message.Headers)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return copy;
    }

    /// <summary>
    /// Whether an error answer over plain HTTP comes from a TLS-only server ("HTTP request to an HTTPS
    /// server"). When the body does not say (a HEAD has none; a proxy may cut or replace it), a TLS
    /// handshake is started with the API root through the same proxy: a server that presents a
    /// certificate speaks TLS. The probe refuses every certificate, so it sends nothing; whether the
    /// certificate is trusted is the real client's check, reported by the next request.
    /// </summary>
    private async Task<bool> IsTlsOnlyAsync(HttpResponseMessage response, Uri target, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (body.Contains("HTTP request to an HTTPS server", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var presented = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.Timeout);
        using var probe = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = Proxy is not null,
            Proxy = Proxy,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    presented = certificate is not null;
                    return false;
                },
            },
        });
        try
        {
            using var answer = await probe.GetAsync(new UriBuilder(target) { Scheme = "https", Path = "/v2/", Query = string.Empty }.Uri, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // Expected: the handshake is refused once the certificate is seen.
        }

        return presented;
    }

    private static bool IsRetryableStatus(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or
            HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout or HttpStatusCode.RequestTimeout;

    private static bool IsTransient(Exception exception, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && exception is HttpRequestException or IOException or TimeoutException;

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is not { } retryAfter)
        {
            return null;
        }

        if (retryAfter.Delta is { } delta)
        {
            return delta;
        }

        return retryAfter.Date is { } date ? date - DateTimeOffset.UtcNow : null;
    }

    private TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
        if (retryAfter is { } asked)
        {
            return asked < TimeSpan.Zero ? TimeSpan.Zero : asked > Options.MaxRetryAfter ? Options.MaxRetryAfter : asked;
        }

        var delay = Options.RetryDelay.TotalMilliseconds * Math.Pow(2, attempt);
        return TimeSpan.FromMilliseconds(delay * (0.75 + (Random.Shared.NextDouble() / 2)));
    }

    /// <summary>A timeout as people read it: "2 s", "0.5 s".</summary>
    internal static string Seconds(TimeSpan timeout) => timeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + " s";

    /// <summary>" through proxy X" when the request went through a proxy (a proxy that is down looks like a registry that is).</summary>
    private string Via(Uri target) =>
        Proxy?.GetProxy(target) is { } proxy && !Proxy.IsBypassed(target) ? " through the proxy " + proxy.GetLeftPart(UriPartial.Authority) : string.Empty;

    private static string Tries(int retries) => retries == 0 ? string.Empty : $", {retries + 1} attempts";

    /// <summary>A URL without its query (upload URLs carry state tokens, pre-signed URLs carry signatures).</summary>
    internal static string Describe(Uri uri) => uri.GetLeftPart(UriPartial.Path);

    private static RemoteCertificateValidationCallback ValidateCertificate(RegistryOptions options)
    {
        X509Certificate2Collection? authorities = null;
        if (options.CaCertificateFile is { } file)
        {
            authorities = [];
            try
            {
                authorities.ImportFromPemFile(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new RegistryOptionsException("CaCertificateInvalid", $"The CA certificate file '{file}' cannot be read: {ex.Message}", file, ex);
            }

            if (authorities.Count == 0)
            {
                throw new RegistryOptionsException("CaCertificateInvalid", $"The CA certificate file '{file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).", file);
            }
        }

        return (_, certificate, chain, errors) =>
        {
            if (options.SkipTlsVerify || errors == SslPolicyErrors.None)
            {
                return true;
            }

            if (authorities is null || certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            {
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(authorities);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                custom.ChainPolicy.ExtraStore.AddRange(chain.ChainElements.Select(e => e.Certificate).ToArray());
            }

            return custom.Build(new X509Certificate2(certificate));
        };
    }
}

/// <summary>A read stream that fails with a <see cref="TimeoutException"/> when one read waits longer than the timeout.</summary>
internal sealed class IdleTimeoutStream(Stream inner, TimeSpan timeout) : ReadOnlyStream
{
    public override int Read(Span<byte> buffer) => inner.Read(buffer);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(timeout);
        try
        {
            return await inner.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no data for {RegistryTransport.Seconds(timeout)} (-Timeout)", ex);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>A request body that calls <c>progress</c> before each write to the network (to restart a timeout).</summary>
internal sealed class WatchdogContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly Action _progress;

    public WatchdogContent(HttpContent inner, Action progress)
    {
        _inner = inner;
        _progress = progress;
        foreach (var header in inner.Headers)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        _inner.CopyToAsync(new WatchedStream(stream, _progress), context);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        _inner.CopyToAsync(new WatchedStream(stream, _progress), context, cancellationToken);

    protected override bool TryComputeLength(out long length)
    {
        length = _inner.Headers.ContentLength ?? -1;
        return length >= 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private sealed class WatchedStream(Stream inner, Action progress) : WriteOnlyStream
    {
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            progress();
            inner.Write(buffer);
        }

        /// <summary>Written in slices, so one large buffer (a monolithic upload) restarts the timeout as it goes.</summary>
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            const int Slice = 64 * 1024;
            for (var offset = 0; offset < buffer.Length; offset += Slice)
            {
                progress();
                await inner.WriteAsync(buffer.Slice(offset, Math.Min(Slice, buffer.Length - offset)), cancellationToken).ConfigureAwait(false);
            }
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    }
}
