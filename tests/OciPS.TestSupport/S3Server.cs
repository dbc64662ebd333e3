using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OciPS.TestSupport;

/// <summary>
/// s3rver 3.7.1 (npm), an S3-compatible server, on a free 127.0.0.1 port with a filesystem store in
/// a temporary directory and one bucket, <see cref="Bucket"/>. It is installed with npm into
/// <c>$OCIPS_S3RVER_DIR</c> (CI's .ci/run does it) or a cache directory the first time. It knows one
/// account, <see cref="AccessKeyId"/>/<see cref="SecretAccessKey"/>: unknown access keys are refused,
/// but it does not check v4 signatures (the signer is tested against AWS's published examples).
/// </summary>
public sealed class S3Server : IDisposable
{
    public const string Version = "3.7.1";
    public const string AccessKeyId = "S3RVER";
    public const string SecretAccessKey = "S3RVER";
    public const string Bucket = "artifacts";
    private readonly TempDirectory _directory;
    private readonly Process _process;

    private S3Server(TempDirectory directory, Process process, int port)
    {
        _directory = directory;
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Endpoint => "http://127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The AWS variables that point OciPS at this server.</summary>
    public Dictionary<string, string> Environment => new()
    {
        ["AWS_ACCESS_KEY_ID"] = AccessKeyId,
        ["AWS_SECRET_ACCESS_KEY"] = SecretAccessKey,
        ["AWS_REGION"] = "us-east-1",
        ["AWS_ENDPOINT_URL"] = Endpoint,
    };

    public static S3Server Start()
    {
        var script = EnsureInstalled();
        var directory = new TempDirectory("s3rver");
        try
        {
            var port = LocalRegistry.FreePort();
            var start = new ProcessStartInfo(PeerTools.Resolve("node"))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var argument in new[] { script, "-d", directory.Path, "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "--no-vhost-buckets", "--configure-bucket", Bucket })
            {
                start.ArgumentList.Add(argument);
            }

            var log = new StringBuilder();
            var process = ListeningProcess.StartLogged(start, "s3rver", log);
            var server = new S3Server(directory, process, port);
            try
            {
                ListeningProcess.EnsureListening(process, port, "s3rver", log, TimeSpan.FromSeconds(30));
            }
            catch
            {
                server.Dispose();
                throw;
            }

            return server;
        }
        catch
        {
            directory.Dispose();
            throw;
        }
    }

    /// <summary>Stores an object (a signed PUT, as the AWS CLI would send it).</summary>
    public async Task PutObjectAsync(string key, byte[] content)
    {
        using var http = new HttpClient();
        var url = new Uri($"{Endpoint}/{Bucket}/{Uri.EscapeDataString(key).Replace("%2F", "/", StringComparison.Ordinal)}");
        var amzDate = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var payloadHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        var signed = Core.Artifacts.AwsSigV4.Authorization(
            AccessKeyId, SecretAccessKey, "us-east-1", "s3", amzDate, "PUT", url.AbsolutePath, string.Empty,
            [new("host", url.Host + ":" + url.Port.ToString(CultureInfo.InvariantCulture)), new("x-amz-content-sha256", payloadHash), new("x-amz-date", amzDate)],
            payloadHash);
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = new ByteArrayContent(content) };
        request.Headers.TryAddWithoutValidation("x-amz-content-sha256", payloadHash);
        request.Headers.TryAddWithoutValidation("x-amz-date", amzDate);
        request.Headers.TryAddWithoutValidation("Authorization", signed);
        using var response = await http.SendAsync(request);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"s3rver refused the PUT of {key}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    public void Dispose()
    {
        ListeningProcess.Stop(_process);

        _process.Dispose();
        _directory.Dispose();
    }

    private static string EnsureInstalled()
    {
        var root = System.Environment.GetEnvironmentVariable("OCIPS_S3RVER_DIR") is { Length: > 0 } configured
            ? configured
            : Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".cache", "ocips-test", "s3rver-" + Version);
        var script = Path.Combine(root, "node_modules", "s3rver", "bin", "s3rver.js");
        if (File.Exists(script))
        {
            return script;
        }

        Directory.CreateDirectory(root);
        // Test classes run in parallel: one npm install at a time.
        using var installLock = LockFile(Path.Combine(root, ".install.lock"));
        if (!File.Exists(script))
        {
            ProcessRunner.Run("npm", ["install", "--no-audit", "--no-fund", "--prefix", root, "s3rver@" + Version], timeout: TimeSpan.FromMinutes(5));
        }

        return script;
    }

    private static FileStream LockFile(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
        }
    }
}
