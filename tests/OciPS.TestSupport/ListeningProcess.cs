using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OciPS.TestSupport;

/// <summary>Waiting for a peer a test started (docker-registry, s3rver, tinyproxy…) to accept connections.</summary>
public static class ListeningProcess
{
    /// <summary>
    /// Polls until 127.0.0.1:<paramref name="port"/> accepts a TCP connection. False when the process
    /// exits first or <paramref name="timeout"/> passes. Polling: these peers offer no readiness event.
    /// </summary>
    public static bool WaitUntilListening(Process process, int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }

        return false;
    }

    /// <summary>As <see cref="WaitUntilListening"/>, failing with what the peer printed.</summary>
    public static void EnsureListening(Process process, int port, string name, StringBuilder log, TimeSpan timeout)
    {
        if (WaitUntilListening(process, port, timeout))
        {
            return;
        }

        string output;
        lock (log)
        {
            output = log.ToString();
        }

        if (process.HasExited)
        {
            process.WaitForExit();
            throw new InvalidOperationException($"{name} exited with {process.ExitCode}: {output}");
        }

        throw new TimeoutException($"{name} did not listen on 127.0.0.1:{port} within {timeout.TotalSeconds:0} s: {output}");
    }
}
