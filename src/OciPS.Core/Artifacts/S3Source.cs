using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace OciPS.Core.Artifacts;

/// <summary>
/// Where and as whom <c>s3://bucket/key</c> sources are read, from the variables the AWS CLI reads:
/// <c>AWS_ACCESS_KEY_ID</c>, <c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_SESSION_TOKEN</c>, <c>AWS_REGION</c>
/// (or <c>AWS_DEFAULT_REGION</c>) and, for S3-compatible servers (MinIO, Ceph, s3rver),
/// <c>AWS_ENDPOINT_URL_S3</c> or <c>AWS_ENDPOINT_URL</c>, which are addressed path-style.
/// </summary>
public sealed record S3Settings
{
    public const string DefaultRegion = "us-east-1";

    public required string AccessKeyId { get; init; }

    public required string SecretAccessKey { get; init; }

    public string? SessionToken { get; init; }

    public string Region { get; init; } = DefaultRegion;

    /// <summary>An S3-compatible endpoint (path-style requests); null for AWS itself.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The settings the environment gives, or null when it has no credentials.</summary>
    public static S3Settings? FromEnvironment(Func<string, string?> environment)
    {
        string? Get(string name) => environment(name) is { Length: > 0 } value ? value : null;
        if (Get("AWS_ACCESS_KEY_ID") is not { } key || Get("AWS_SECRET_ACCESS_KEY") is not { } secret)
        {
            return null;
        }

        var endpoint = Get("AWS_ENDPOINT_URL_S3") ?? Get("AWS_ENDPOINT_URL");
        return new S3Settings
        {
            AccessKeyId = key,
            SecretAccessKey = secret,
            SessionToken = Get("AWS_SESSION_TOKEN"),
            Region = Get("AWS_REGION") ?? Get("AWS_DEFAULT_REGION") ?? DefaultRegion,
            Endpoint = endpoint is null ? null : Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                ? uri
                : throw new OciException("S3EndpointInvalid", OciErrorKind.InvalidArgument, $"AWS_ENDPOINT_URL '{endpoint}' is not an http(s) URL.", endpoint),
        };
    }

    /// <summary>
    /// The URL of an object: path-style on a configured endpoint (and for bucket names with dots, which
    /// do not fit a TLS wildcard), virtual-hosted on AWS.
    /// </summary>
    public Uri ObjectUrl(string bucket, string key)
    {
        var path = AwsSigV4.EncodePath(key);
        if (Endpoint is { } endpoint)
        {
            return new Uri(endpoint.GetLeftPart(UriPartial.Authority) + endpoint.AbsolutePath.TrimEnd('/') + "/" + AwsSigV4.EncodePath(bucket) + "/" + path);
        }

        return bucket.Contains('.', StringComparison.Ordinal)
            ? new Uri($"https://s3.{Region}.amazonaws.com/{AwsSigV4.EncodePath(bucket)}/{path}")
            : new Uri($"https://{bucket}.s3.{Region}.amazonaws.com/{path}");
    }

    /// <summary>A signed GET of an object (the payload of a GET is empty, so its hash is known).</summary>
    public HttpRequestMessage GetObjectRequest(string bucket, string key, DateTimeOffset now)
    {
        var url = ObjectUrl(bucket, key);
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        var amzDate = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var headers = new List<KeyValuePair<string, string>>
        {
            new("host", url.IsDefaultPort ? url.Host : url.Host + ":" + url.Port.ToString(CultureInfo.InvariantCulture)),
            new("x-amz-content-sha256", AwsSigV4.EmptyPayloadHash),
            new("x-amz-date", amzDate),
        };
        if (SessionToken is not null)
        {
            headers.Add(new("x-amz-security-token", SessionToken));
        }

        var authorization = AwsSigV4.Authorization(AccessKeyId, SecretAccessKey, Region, "s3", amzDate, "GET", url.AbsolutePath, string.Empty, headers, AwsSigV4.EmptyPayloadHash);
        foreach (var (name, value) in headers.Where(h => h.Key != "host"))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }
}

/// <summary>
/// AWS Signature Version 4 (header-based, AWS4-HMAC-SHA256): the canonical request, the string to
/// sign, the derived signing key and the Authorization header, as the AWS documentation defines them.
/// </summary>
public static class AwsSigV4
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The SHA-256 of an empty payload.</summary>
    public const string EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// <summary>
    /// The canonical request: method, URI, query, the headers (names lower-cased, values trimmed with
    /// inner runs of spaces folded, sorted by name), the signed header list and the payload hash.
    /// </summary>
    public static (string CanonicalRequest, string SignedHeaders) CanonicalRequest(string method, string canonicalUri, string canonicalQuery, IEnumerable<KeyValuePair<string, string>> headers, string payloadHash)
    {
        var sorted = headers
            .GroupBy(h => h.Key.Trim().ToLowerInvariant())
            .Select(g => (Name: g.Key, Value: string.Join(",", g.Select(h => FoldSpaces(h.Value)))))
            .OrderBy(h => h.Name, StringComparer.Ordinal)
            .ToList();
        var signedHeaders = string.Join(";", sorted.Select(h => h.Name));
        var text = new StringBuilder()
            .Append(method).Append('\n')
            .Append(canonicalUri.Length == 0 ? "/" : canonicalUri).Append('\n')
            .Append(canonicalQuery).Append('\n');
        foreach (var (name, value) in sorted)
        {
            text.Append(name).Append(':').Append(value).Append('\n');
        }

        text.Append('\n').Append(signedHeaders).Append('\n').Append(payloadHash);
        return (text.ToString(), signedHeaders);
    }

    /// <summary>The credential scope: <c>date/region/service/aws4_request</c>.</summary>
    public static string Scope(string amzDate, string region, string service) => $"{amzDate[..8]}/{region}/{service}/aws4_request";

    public static string StringToSign(string amzDate, string scope, string canonicalRequest) =>
        $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";

    /// <summary>The signing key: HMACs of the date, region, service and "aws4_request", keyed from "AWS4" + secret.</summary>
    public static byte[] SigningKey(string secretAccessKey, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    /// <summary>The value of the Authorization header for a request.</summary>
    public static string Authorization(string accessKeyId, string secretAccessKey, string region, string service, string amzDate, string method, string canonicalUri, string canonicalQuery, IEnumerable<KeyValuePair<string, string>> headers, string payloadHash)
    {
        var (canonical, signedHeaders) = CanonicalRequest(method, canonicalUri, canonicalQuery, headers, payloadHash);
        var scope = Scope(amzDate, region, service);
        var signature = Hex(HMACSHA256.HashData(SigningKey(secretAccessKey, amzDate[..8], region, service), Encoding.UTF8.GetBytes(StringToSign(amzDate, scope, canonical))));
        return $"{Algorithm} Credential={accessKeyId}/{scope},SignedHeaders={signedHeaders},Signature={signature}";
    }

    /// <summary>URI-encodes a path as S3 wants it: every byte but the unreserved characters and '/' as %XX (upper case).</summary>
    public static string EncodePath(string path)
    {
        var text = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(path))
        {
            var c = (char)b;
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '~' or '/')
            {
                text.Append(c);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }

    public static string Hex(byte[] bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    private static string FoldSpaces(string value) => string.Join(' ', value.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries));
}

/// <summary>Parses <c>s3://bucket/key</c>.</summary>
public static class S3Location
{
    public static (string Bucket, string Key) Parse(string url)
    {
        var rest = url["s3://".Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return (rest[..slash], rest[(slash + 1)..]);
    }
}

/// <summary>Reads the error an S3 server answered with (its XML <c>Code</c> and <c>Message</c>).</summary>
internal static class S3Errors
{
    public static async Task<string> DescribeAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        if (response.Content.Headers.ContentType is not MediaTypeHeaderValue { MediaType: "application/xml" or "text/xml" })
        {
            return status;
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (body.Length > 64 * 1024)
        {
            return status;
        }

        try
        {
            var xml = System.Xml.Linq.XDocument.Parse(body);
            var code = xml.Root?.Elements().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value;
            var message = xml.Root?.Elements().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value;
            return code is null ? status : $"{status}: {code}{(message is null ? string.Empty : " (" + message + ")")}";
        }
        catch (System.Xml.XmlException)
        {
            return status;
        }
    }
}
