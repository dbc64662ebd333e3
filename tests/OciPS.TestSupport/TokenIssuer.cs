using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace OciPS.TestSupport;

/// <summary>
/// A small Docker token service (the registry's <c>token</c> auth) on 127.0.0.1: checks basic
/// credentials, grants every scope asked for to the known user and nothing to anyone else, and signs
/// ES256 JWTs with a generated key whose self-signed certificate the registry trusts. Records the
/// scopes asked for so tests can check what a client requested.
/// </summary>
public sealed class TokenIssuer : IDisposable
{
    public const string Service = "ocips-test-registry";
    public const string IssuerName = "ocips-test-issuer";
    private readonly HttpListener _listener;
    private readonly ECDsa _key;
    private readonly string _keyId;
    private readonly string _username;
    private readonly string _password;
    private readonly Task _loop;

    private TokenIssuer(HttpListener listener, ECDsa key, string certificatePem, int port, string username, string password)
    {
        _listener = listener;
        _key = key;
        CertificatePem = certificatePem;
        Realm = $"http://127.0.0.1:{port}/token";
        _username = username;
        _password = password;
        _keyId = LibtrustKeyId(key);
        _loop = Task.Run(ServeAsync);
    }

    /// <summary>The certificate (PEM) the registry's rootcertbundle must hold.</summary>
    public string CertificatePem { get; }

    public string Realm { get; }

    /// <summary>How long tokens live (seconds).</summary>
    public int Lifetime { get; set; } = 300;

    /// <summary>Every token request: the scopes asked for and whether credentials came with it.</summary>
    public ConcurrentQueue<(string[] Scopes, bool Authenticated)> Requests { get; } = new();

    public static TokenIssuer Start(string username, string password)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ocips-test-token-signer", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        var pem = certificate.ExportCertificatePem();
        var (listener, port) = LoopbackHttpListener.Start();
        return new TokenIssuer(listener, key, pem, port, username, password);
    }

    public void Dispose()
    {
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _key.Dispose();
    }

    /// <summary>
    /// The key id libtrust computes (distribution matches a JWT's <c>kid</c> against it): the SHA-256 of
    /// the DER public key, first 240 bits, base32, in 12 groups of 4 joined by ':'.
    /// </summary>
    private static string LibtrustKeyId(ECDsa key)
    {
        var hash = SHA256.HashData(key.ExportSubjectPublicKeyInfo());
        var base32 = Base32(hash.AsSpan(0, 30));
        return string.Join(':', Enumerable.Range(0, 12).Select(i => base32.Substring(i * 4, 4)));
    }

    private static string Base32(ReadOnlySpan<byte> data)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var output = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                output.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        if (bits > 0)
        {
            output.Append(alphabet[(buffer << (5 - bits)) & 31]);
        }

        return output.ToString();
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
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

            try
            {
                Answer(context);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException)
            {
            }
        }
    }

    private void Answer(HttpListenerContext context)
    {
        var query = context.Request.QueryString;
        var scopes = query.GetValues("scope")?.SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray() ?? [];
        var authenticated = false;
        var header = context.Request.Headers["Authorization"];
        if (header is not null && header.StartsWith("Basic ", StringComparison.Ordinal))
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..]));
            if (decoded != _username + ":" + _password)
            {
                Requests.Enqueue((scopes, false));
                context.Response.StatusCode = 401;
                context.Response.Close();
                return;
            }

            authenticated = true;
        }

        Requests.Enqueue((scopes, authenticated));
        var access = authenticated ? scopes.Select(ParseScope).Where(s => s is not null).ToList() : [];
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = new Dictionary<string, object>
        {
            ["iss"] = IssuerName,
            ["sub"] = authenticated ? _username : string.Empty,
            ["aud"] = Service,
            ["exp"] = now + Lifetime,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        var headerJson = JsonSerializer.Serialize(new Dictionary<string, string> { ["typ"] = "JWT", ["alg"] = "ES256", ["kid"] = _keyId });
        var payload = Base64Url(Encoding.UTF8.GetBytes(headerJson)) + "." + Base64Url(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(claims)));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(payload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var token = payload + "." + Base64Url(signature);
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["token"] = token,
            ["expires_in"] = Lifetime,
            ["issued_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        });
        context.Response.ContentType = "application/json";
        context.Response.OutputStream.Write(body);
        context.Response.Close();
    }

    private static Dictionary<string, object>? ParseScope(string scope)
    {
        // type:name:actions, where the name may itself hold a colon (a registry port).
        var first = scope.IndexOf(':', StringComparison.Ordinal);
        var last = scope.LastIndexOf(':');
        if (first < 0 || last <= first)
        {
            return null;
        }

        return new Dictionary<string, object>
        {
            ["type"] = scope[..first],
            ["name"] = scope[(first + 1)..last],
            ["actions"] = scope[(last + 1)..].Split(','),
        };
    }

    private static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
