using System.Globalization;
using System.Net;

namespace OciPS.Core.Registry;

/// <summary>
/// The proxy named by <c>HTTP_PROXY</c>/<c>HTTPS_PROXY</c>/<c>ALL_PROXY</c> (either case) with the
/// exceptions of <c>NO_PROXY</c>, read when a transport is made. Ours rather than .NET's default proxy
/// because that one is read once per process (a later <c>$env:HTTPS_PROXY</c> would be ignored) and
/// because the variables can be handed in (<see cref="RegistryOptions.ProxyEnvironment"/>).
/// As curl does, loopback hosts are proxied too unless NO_PROXY names them.
/// </summary>
internal sealed class EnvironmentProxy : IWebProxy
{
    private readonly Uri? _http;
    private readonly Uri? _https;
    private readonly string[] _bypass;

    private EnvironmentProxy(Uri? http, Uri? https, string[] bypass)
    {
        _http = http;
        _https = https;
        _bypass = bypass;
    }

    public ICredentials? Credentials { get; set; }

    /// <summary>The proxy the variables name, or null when they name none.</summary>
    public static EnvironmentProxy? FromEnvironment(Func<string, string?> variable)
    {
        string? Read(string name) => NonEmpty(variable(name.ToLowerInvariant())) ?? NonEmpty(variable(name));
        var all = Parse(Read("ALL_PROXY"));
        var http = Parse(Read("HTTP_PROXY")) ?? all;
        var https = Parse(Read("HTTPS_PROXY")) ?? all;
        if (http is null && https is null)
        {
            return null;
        }

        var bypass = (Read("NO_PROXY") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new EnvironmentProxy(http, https, bypass);
    }

    public Uri? GetProxy(Uri destination) => IsBypassed(destination) ? null : destination.Scheme == Uri.UriSchemeHttps ? _https : _http;

    public bool IsBypassed(Uri host)
    {
        var proxy = host.Scheme == Uri.UriSchemeHttps ? _https : _http;
        return proxy is null || _bypass.Any(entry => Matches(entry, host));
    }

    /// <summary>
    /// One NO_PROXY entry: <c>*</c>; a host or domain (<c>example.com</c> and <c>.example.com</c> both
    /// match the domain and its subdomains), optionally with <c>:port</c>; an IP address or CIDR range.
    /// </summary>
    internal static bool Matches(string entry, Uri destination)
    {
        if (entry == "*")
        {
            return true;
        }

        var host = destination.IdnHost.Trim('[', ']');
        if (entry.Contains('/', StringComparison.Ordinal))
        {
            return IPNetwork.TryParse(entry, out var network) && IPAddress.TryParse(host, out var address) && network.Contains(address);
        }

        var entryHost = entry;
        if (entry.LastIndexOf(':') is var colon and > 0 && !entry.EndsWith(']') && entry.Count(c => c == ':') == 1)
        {
            if (!int.TryParse(entry[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port != destination.Port)
            {
                return false;
            }

            entryHost = entry[..colon];
        }

        entryHost = entryHost.Trim('[', ']').TrimStart('*').TrimStart('.');
        if (IPAddress.TryParse(entryHost, out var entryAddress))
        {
            return IPAddress.TryParse(host, out var hostAddress) && entryAddress.Equals(hostAddress);
        }

        return host.Equals(entryHost, StringComparison.OrdinalIgnoreCase) ||
            host.EndsWith("." + entryHost, StringComparison.OrdinalIgnoreCase);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>A proxy address; one without a scheme is an HTTP proxy (as curl reads <c>host:port</c>).</summary>
    private static Uri? Parse(string? value)
    {
        if (value is null)
        {
            return null;
        }

        var text = value.Contains("://", StringComparison.Ordinal) ? value : "http://" + value;
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "socks4" or "socks4a" or "socks5" or "socks5h" ? Normalise(uri) : null;
    }

    /// <summary>
    /// A proxy address .NET accepts: <c>socks5h://</c> (curl's "the proxy resolves names") becomes
    /// <c>socks5://</c>, which in .NET already sends host names to the proxy unresolved.
    /// </summary>
    public static Uri Normalise(Uri proxy) =>
        proxy.Scheme == "socks5h" ? new UriBuilder(proxy) { Scheme = "socks5" }.Uri : proxy;
}
