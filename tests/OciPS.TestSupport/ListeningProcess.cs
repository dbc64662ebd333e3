using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OciPS.TestSupport;

/// <summary>Peers a test starts (docker-registry, s3rver, tinyproxy…): started with their output kept, waited on until they accept connections, stopped.</summary>
public static class ListeningProcess
{
    /// <summary>Starts <paramref name="start"/> (which must redirect both outputs) and collects what it prints into <paramref name="log"/>.</summary>
    public static Process StartLogged(ProcessStartInfo start, string name, StringBuilder log)
    {
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{name} did not start.");
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Kills the peer and what it started, if it still runs.</summary>
    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
    }

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
