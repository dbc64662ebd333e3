using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace OciPS.Core.Registry;

/// <summary>A parsed <c>WWW-Authenticate</c> challenge: the scheme and its parameters (realm, service, scope).</summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Parses the value of a <c>WWW-Authenticate</c> header (RFC 7235 auth-params: <c>name=token</c>
    /// or <c>name="quoted \" string"</c>, comma separated). Returns null when there is no scheme.
    /// </summary>
    public static AuthChallenge? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }

        var text = header.Trim();
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var scheme = space < 0 ? text : text[..space];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = space < 0 ? text.Length : space + 1;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ' ' || text[i] == ','))
            {
                i++;
            }

            var equals = text.IndexOf('=', i);
            if (equals < 0)
            {
                break;
            }

            var name = text[i..equals].Trim();
            i = equals + 1;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    value.Append(text[i++]);
                }

                i++;
            }
            else
            {
                while (i < text.Length && text[i] != ',')
                {
                    value.Append(text[i++]);
                }
            }

            if (name.Length > 0)
            {
                parameters[name] = value.ToString().Trim();
            }
        }

        return new AuthChallenge(scheme, parameters);
    }
}

/// <summary>
/// Authentication to one registry host: remembers the challenge the registry sent, and for Bearer
/// registries caches one token per set of scopes until it expires. Credentials are looked up once,
/// lazily, and never written into messages.
/// </summary>
internal sealed class RegistryAuthenticator(string registry, RegistryOptions options, Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send)
{
    private static readonly TimeSpan ExpiryMargin = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, Lazy<Task<Token>>> _tokens = new(StringComparer.Ordinal);
    private readonly Lazy<Task<RegistryCredential?>> _credential = new(() => options.Credential is { } given
        ? Task.FromResult<RegistryCredential?>(given)
        : options.Credentials.FindAsync(registry, CancellationToken.None));
    private AuthChallenge? _challenge;

    /// <summary>The challenge last seen (null before the registry asked for authentication).</summary>
    public AuthChallenge? Challenge => _challenge;

    /// <summary>The Authorization header for a request needing <paramref name="scopes"/>, or null to go anonymous.</summary>
    public async Task<AuthenticationHeaderValue?> HeaderForAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        var challenge = _challenge;
        if (challenge is null)
        {
            return null;
        }

        if (challenge.IsBasic)
        {
            var credential = await CredentialAsync(cancellationToken).ConfigureAwait(false);
            return credential is null || credential.IsIdentityToken
                ? null
                : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credential.Username + ":" + credential.Secret)));
        }

        if (challenge.IsBearer)
        {
            var token = await TokenAsync(challenge, scopes, cancellationToken).ConfigureAwait(false);
            return new AuthenticationHeaderValue("Bearer", token.Value);
        }

        return null;
    }

    /// <summary>
    /// Handles a 401: records the registry's challenge and drops the token that was refused, so the
    /// next attempt authenticates afresh. Returns false when nothing can be done differently.
    /// </summary>
    public bool OnUnauthorized(HttpResponseMessage response, IReadOnlyList<string> scopes, bool sentAuthorization)
    {
        var challenge = response.Headers.WwwAuthenticate
            .Select(h => AuthChallenge.Parse(h.ToString()))
            .FirstOrDefault(c => c is not null && (c.IsBearer || c.IsBasic));
        if (challenge is null)
        {
            return false;
        }

        var previous = _challenge;
        _challenge = challenge;
        _tokens.TryRemove(ScopeKey(scopes), out _);
        if (!sentAuthorization || previous is null || previous.Scheme != challenge.Scheme || previous.Realm != challenge.Realm)
        {
            // Sent anonymously (other requests may have learnt the challenge meanwhile) or the challenge changed.
            return true;
        }

        // The same challenge again: only a refused token (expired early, revoked) is worth a retry.
        return challenge.IsBearer;
    }

    /// <summary>The credential's user as messages may show it (never the secret), or null when there is none.</summary>
    public async Task<string?> CredentialUserAsync(CancellationToken cancellationToken) =>
        (await CredentialAsync(cancellationToken).ConfigureAwait(false))?.ToString();

    private Task<RegistryCredential?> CredentialAsync(CancellationToken cancellationToken) => _credential.Value.WaitAsync(cancellationToken);

    private async Task<Token> TokenAsync(AuthChallenge challenge, IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        var key = ScopeKey(scopes);
        while (true)
        {
            var lazy = _tokens.GetOrAdd(key, _ => new Lazy<Task<Token>>(() => FetchTokenAsync(challenge, scopes, CancellationToken.None)));
            Token token;
            try
            {
                token = await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch when (!cancellationToken.IsCancellationRequested)
            {
                _tokens.TryRemove(new KeyValuePair<string, Lazy<Task<Token>>>(key, lazy));
                throw;
            }

            if (token.Expires > DateTimeOffset.UtcNow + ExpiryMargin)
            {
                return token;
            }

            // Expired: refresh, unless another request already did.
            _tokens.TryRemove(new KeyValuePair<string, Lazy<Task<Token>>>(key, lazy));
        }
    }

    private async Task<Token> FetchTokenAsync(AuthChallenge challenge, IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        if (challenge.Realm is not { Length: > 0 } realm || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri))
        {
            throw new RegistryAuthenticationException(registry, $"The registry {registry} asked for a Bearer token without a valid realm.");
        }

        var credential = await CredentialAsync(cancellationToken).ConfigureAwait(false);
        var allScopes = scopes.ToList();
        if (challenge.Scope is { Length: > 0 } asked)
        {
            allScopes.AddRange(asked.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(s => !allScopes.Contains(s)));
        }

        HttpRequestMessage request;
        if (credential is { IsIdentityToken: true })
        {
            // An identity token is an OAuth2 refresh token: exchanged with a POST, as docker does.
            var form = new List<KeyValuePair<string, string>>
            {
                new("grant_type", "refresh_token"),
                new("refresh_token", credential.Secret),
                new("client_id", "ocips"),
            };
            if (challenge.Service is { } service)
            {
                form.Add(new("service", service));
            }

            form.Add(new("scope", string.Join(' ', allScopes)));
            request = new HttpRequestMessage(HttpMethod.Post, realmUri) { Content = new FormUrlEncodedContent(form) };
        }
        else
        {
            var query = new StringBuilder();
            if (challenge.Service is { } service)
            {
                query.Append("service=").Append(Uri.EscapeDataString(service));
            }

            foreach (var scope in allScopes)
            {
                query.Append(query.Length > 0 ? "&" : string.Empty).Append("scope=").Append(Uri.EscapeDataString(scope));
            }

            var builder = new UriBuilder(realmUri);
            builder.Query = string.IsNullOrEmpty(builder.Query) ? query.ToString() : builder.Query.TrimStart('?') + "&" + query;
            request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
            if (credential is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credential.Username + ":" + credential.Secret)));
            }
        }

        using var response = await send(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            throw new RegistryAuthenticationException(registry, credential is null
                ? $"The token service of {registry} refused anonymous access; sign in with Connect-OciRegistry or pass -Credential."
                : $"The token service of {registry} refused the credentials of '{credential}'.");
        }

        if (!response.IsSuccessStatusCode)
        {
            throw new RegistryAuthenticationException(registry, $"The token service of {registry} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
        }

        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var value = root.TryGetProperty("token", out var t) && t.GetString() is { Length: > 0 } tokenText ? tokenText
                : root.TryGetProperty("access_token", out var a) && a.GetString() is { Length: > 0 } accessText ? accessText
                : throw new RegistryAuthenticationException(registry, $"The token service of {registry} answered without a token.");
            var lifetime = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0 ? seconds : 60;
            var issued = root.TryGetProperty("issued_at", out var i) && i.GetString() is { } issuedText &&
                DateTimeOffset.TryParse(issuedText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var issuedAt) && issuedAt <= DateTimeOffset.UtcNow
                ? issuedAt
                : DateTimeOffset.UtcNow;
            return new Token(value, issued + TimeSpan.FromSeconds(lifetime));
        }
        catch (JsonException)
        {
            throw new RegistryAuthenticationException(registry, $"The token service of {registry} answered with something that is not JSON.");
        }
    }

    private static string ScopeKey(IReadOnlyList<string> scopes) => string.Join(' ', scopes.Order(StringComparer.Ordinal));

    private sealed record Token(string Value, DateTimeOffset Expires);
}
