using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OciPS.TestSupport;

/// <summary>How a test registry authenticates.</summary>
public enum RegistryAuth
{
    /// <summary>No authentication (plain HTTP, anonymous push and pull).</summary>
    None,

    /// <summary>htpasswd basic authentication.</summary>
    Basic,

    /// <summary>The registry's <c>token</c> auth, with a <see cref="TokenIssuer"/> running in the test process.</summary>
    Bearer,
}

/// <summary>
/// A real <c>docker-registry</c> (distribution) on a free 127.0.0.1 port, with a generated config:
/// filesystem storage in a temporary directory, plain HTTP, and optionally htpasswd or token auth.
/// </summary>
public sealed class LocalRegistry : IDisposable
{
    public const string Username = "tester";
    public const string Password = "s3cret-Pa55";
    private readonly TempDirectory _directory;
    private readonly Process _process;

    private LocalRegistry(TempDirectory directory, Process process, int port, RegistryAuth auth, TokenIssuer? issuer, TestCertificates? tls)
    {
        _directory = directory;
        _process = process;
        Port = port;
        Auth = auth;
        Issuer = issuer;
        Tls = tls;
    }

    /// <summary>The certificates of a TLS registry (its CA is what clients must trust), or null for plain HTTP.</summary>
    public TestCertificates? Tls { get; }

    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>, as a reference's registry part.</summary>
    public string Host => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public RegistryAuth Auth { get; }

    /// <summary>The token issuer of a Bearer registry.</summary>
    public TokenIssuer? Issuer { get; }

    /// <summary>Where the registry stores its data.</summary>
    public string StorageDirectory => Path.Combine(_directory.Path, "storage");

    /// <summary>skopeo options for this registry (no TLS, credentials when needed).</summary>
    public string[] SkopeoOptions(bool destination = false) => Auth == RegistryAuth.None
        ? [destination ? "--dest-tls-verify=false" : "--src-tls-verify=false"]
        : [destination ? "--dest-tls-verify=false" : "--src-tls-verify=false", destination ? "--dest-creds" : "--src-creds", Username + ":" + Password];

    /// <summary>skopeo inspect options for this registry.</summary>
    public string[] SkopeoInspectOptions() => Auth == RegistryAuth.None
        ? ["--tls-verify=false"]
        : ["--tls-verify=false", "--creds", Username + ":" + Password];

    /// <summary>Starts a registry; with <paramref name="tls"/> it speaks only HTTPS, with a certificate from a CA of its own.</summary>
    public static LocalRegistry Start(RegistryAuth auth = RegistryAuth.None, bool tls = false)
    {
        // A free port can be taken by a parallel test between probing and binding: try again then.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return StartOnce(auth, tls);
            }
            catch (InvalidOperationException) when (attempt < 4)
            {
            }
        }
    }

    private static LocalRegistry StartOnce(RegistryAuth auth, bool tls)
    {
        var directory = new TempDirectory();
        TokenIssuer? issuer = null;
        try
        {
            var port = FreePort();
            var storage = Path.Combine(directory.Path, "storage");
            Directory.CreateDirectory(storage);
            var config = new StringBuilder();
            config.Append(CultureInfo.InvariantCulture, $"""
                version: 0.1
                log:
                  level: error
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {storage}
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:{port}
                  secret: ocips-test-secret

                """);
            var certificates = tls ? TestCertificates.Create(Path.Combine(directory.Path, "tls")) : null;
            if (certificates is not null)
            {
                config.Append(CultureInfo.InvariantCulture, $"""
                      tls:
                        certificate: {certificates.CertificatePath}
                        key: {certificates.KeyPath}

                    """);
            }

            switch (auth)
            {
                case RegistryAuth.Basic:
                    var htpasswd = Path.Combine(directory.Path, "htpasswd");
                    var line = ProcessRunner.Run("htpasswd", ["-Bbn", Username, Password]).StandardOutput.Trim();
                    File.WriteAllText(htpasswd, line + "\n");
                    config.Append(CultureInfo.InvariantCulture, $"""
                        auth:
                          htpasswd:
                            realm: ocips-test
                            path: {htpasswd}

                        """);
                    break;
                case RegistryAuth.Bearer:
                    issuer = TokenIssuer.Start(Username, Password);
                    var bundle = Path.Combine(directory.Path, "token-ca.pem");
                    File.WriteAllText(bundle, issuer.CertificatePem);
                    config.Append(CultureInfo.InvariantCulture, $"""
                        auth:
                          token:
                            realm: {issuer.Realm}
                            service: {TokenIssuer.Service}
                            issuer: {TokenIssuer.IssuerName}
                            rootcertbundle: {bundle}

                        """);
                    break;
            }

            var configPath = Path.Combine(directory.Path, "config.yml");
            File.WriteAllText(configPath, config.ToString());
            var start = new ProcessStartInfo(PeerTools.Resolve("docker-registry"))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.ArgumentList.Add("serve");
            start.ArgumentList.Add(configPath);
            var log = new StringBuilder();
            var process = ListeningProcess.StartLogged(start, "docker-registry", log);
            var registry = new LocalRegistry(directory, process, port, auth, issuer, certificates);
            try
            {
                ListeningProcess.EnsureListening(process, port, "docker-registry", log, TimeSpan.FromSeconds(20));
            }
            catch
            {
                registry.Dispose();
                throw;
            }

            return registry;
        }
        catch
        {
            issuer?.Dispose();
            directory.Dispose();
            throw;
        }
    }

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        ListeningProcess.Stop(_process);

        _process.Dispose();
        Issuer?.Dispose();
        _directory.Dispose();
    }
}
