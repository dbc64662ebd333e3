using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OciPS.TestSupport;

/// <summary>
/// A real proxy on a free 127.0.0.1 port: <c>tinyproxy</c> (HTTP forward proxy and CONNECT tunnels,
/// with a log of every request) or <c>microsocks</c> (SOCKS5, which logs nothing: tests show it is used
/// by stopping it).
/// </summary>
public sealed class PeerProxy : IDisposable
{
    private readonly TempDirectory _directory;
    private readonly Process _process;
    private readonly string? _logPath;
    private readonly StringBuilder _output = new();

    private PeerProxy(TempDirectory directory, Process process, int port, string scheme, string? logPath)
    {
        _directory = directory;
        _process = process;
        Port = port;
        Address = new Uri($"{scheme}://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        _logPath = logPath;
        process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

    /// <summary><c>http://127.0.0.1:port</c> or <c>socks5://127.0.0.1:port</c>.</summary>
    public Uri Address { get; }

    /// <summary>tinyproxy's request lines ("GET http://127.0.0.1:5000/v2/… HTTP/1.1", "CONNECT 127.0.0.1:5000 HTTP/1.1").</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            if (_logPath is null || !File.Exists(_logPath))
            {
                return [];
            }

            using var stream = new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            const string Marker = "]: Request (file descriptor ";
            return reader.ReadToEnd().Split('\n')
                .Where(line => line.Contains(Marker, StringComparison.Ordinal))
                .Select(line => line[(line.IndexOf("): ", line.IndexOf(Marker, StringComparison.Ordinal), StringComparison.Ordinal) + 3)..].Trim())
                .ToArray();
        }
    }

    /// <summary>Whether any request the proxy carried mentions the text (a host:port, a path).</summary>
    public bool Carried(string text) => Requests.Any(r => r.Contains(text, StringComparison.Ordinal));

    /// <summary>Starts tinyproxy: any port may be reached (no ConnectPort line), only from 127.0.0.1.</summary>
    public static PeerProxy StartTinyproxy()
    {
        return StartWithRetry(port =>
        {
            var directory = new TempDirectory("tinyproxy");
            var log = Path.Combine(directory.Path, "tinyproxy.log");
            var config = Path.Combine(directory.Path, "tinyproxy.conf");

            // No ConnectPort line: CONNECT may reach any port (the registries' ports are random).
            File.WriteAllText(config, $"""
                Port {port}
                Listen 127.0.0.1
                Timeout 60
                Allow 127.0.0.1
                LogFile "{log}"
                LogLevel Connect
                MaxClients 64
                DisableViaHeader Yes

                """);
            var start = new ProcessStartInfo(PeerTools.Resolve("tinyproxy"))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.ArgumentList.Add("-d");
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(config);
            return (directory, Process.Start(start)!, "http", log);
        });
    }

    /// <summary>Starts microsocks (SOCKS5, no authentication) on 127.0.0.1.</summary>
    public static PeerProxy StartMicrosocks()
    {
        return StartWithRetry(port =>
        {
            var directory = new TempDirectory("microsocks");
            var start = new ProcessStartInfo(PeerTools.Resolve("microsocks"))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var argument in new[] { "-i", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(argument);
            }

            return (directory, Process.Start(start)!, "socks5", (string?)null);
        });
    }

    /// <summary>Stops the proxy (connections through it fail from now on).</summary>
    public void Stop()
    {
        ListeningProcess.Stop(_process);
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
        _directory.Dispose();
    }

    private static PeerProxy StartWithRetry(Func<int, (TempDirectory Directory, Process Process, string Scheme, string? Log)> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = LocalRegistry.FreePort();
            var (directory, process, scheme, log) = start(port);
            var proxy = new PeerProxy(directory, process, port, scheme, log);
            if (ListeningProcess.WaitUntilListening(process, port, TimeSpan.FromSeconds(10)))
            {
                return proxy;
            }

            var output = proxy.Output;
            proxy.Dispose();
            if (attempt >= 4)
            {
                throw new InvalidOperationException($"{Path.GetFileName(process.StartInfo.FileName)} did not listen on 127.0.0.1:{port}: {output}");
            }
        }
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }
}
