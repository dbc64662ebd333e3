namespace OciPS.Core.Registry;

/// <summary>
/// A user name and a secret (password or token) for one registry. <see cref="ToString"/> never shows
/// the secret, so a credential that ends up in a message or a log leaks nothing.
/// </summary>
public sealed class RegistryCredential
{
    public RegistryCredential(string username, string secret, bool isIdentityToken = false)
    {
        Username = username;
        Secret = secret;
        IsIdentityToken = isIdentityToken;
    }

    public string Username { get; }

    public string Secret { get; }

    /// <summary>
    /// Whether <see cref="Secret"/> is an OAuth2 refresh token (docker's <c>identitytoken</c>, a helper's
    /// <c>&lt;token&gt;</c> user) rather than a password.
    /// </summary>
    public bool IsIdentityToken { get; }

    public override string ToString() => IsIdentityToken ? "(identity token)" : Username;
}

/// <summary>How to reach registries: credentials, TLS, proxies, retries, upload sizes.</summary>
public sealed record RegistryOptions
{
    public static RegistryOptions Default { get; } = new();

    /// <summary>Used for every registry of the operation, before any stored credential.</summary>
    public RegistryCredential? Credential { get; init; }

    /// <summary>Where stored credentials are looked up (docker/podman files, helpers, the session store).</summary>
    public CredentialStore Credentials { get; init; } = CredentialStore.Default;

    /// <summary>Talk plain HTTP to any registry (loopback registries get plain HTTP anyway, as docker does).</summary>
    public bool AllowInsecure { get; init; }

    /// <summary>Accept any TLS certificate.</summary>
    public bool SkipTlsVerify { get; init; }

    /// <summary>A PEM file of CA certificates trusted (in addition to the system's) for registry TLS.</summary>
    public string? CaCertificateFile { get; init; }

    /// <summary>
    /// An HTTP or SOCKS5 proxy (<c>http://host:port</c>, <c>socks5://host:port</c>) for every request,
    /// loopback registries included; null uses HTTP(S)_PROXY/ALL_PROXY/NO_PROXY from the environment.
    /// </summary>
    public Uri? Proxy { get; init; }

    /// <summary>
    /// Where HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY (either case) are read when <see cref="Proxy"/>
    /// is null; null reads the process environment.
    /// </summary>
    public IReadOnlyDictionary<string, string>? ProxyEnvironment { get; init; }

    /// <summary>Blobs up to this size are uploaded with one PUT (buffered, so retried request by request).</summary>
    public long MonolithicUploadLimit { get; init; } = 8L * 1024 * 1024;

    /// <summary>
    /// Larger blobs: with a positive size, PATCH chunks of that size, each buffered and retried on its
    /// own (for registries or proxies that cap request bodies); with 0, one streamed PATCH holding
    /// nothing in memory (the fastest; a failed upload is started over).
    /// </summary>
    public long ChunkSize { get; init; }

    /// <summary>How many times a request is retried after a connection fault, a 429 or a 5xx.</summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>The first back-off delay; it doubles with each retry (Retry-After wins when the registry sends it).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long a request may wait for response headers, or between two reads of a body.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The longest a registry's Retry-After is honoured.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(1);
}
