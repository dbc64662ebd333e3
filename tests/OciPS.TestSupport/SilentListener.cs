using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace OciPS.TestSupport;

/// <summary>
/// A TCP listener on 127.0.0.1 that accepts connections and never answers: a registry (or proxy) that
/// hangs, for timeout and Ctrl+C tests.
/// </summary>
public sealed class SilentListener : IDisposable
{
    private readonly TcpListener _listener;
    private readonly ConcurrentBag<TcpClient> _clients = [];
    private readonly Task _loop;
    private int _accepted;

    private SilentListener(TcpListener listener)
    {
        _listener = listener;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary><c>127.0.0.1:port</c>.</summary>
    public string Host => "127.0.0.1:" + Port;

    /// <summary>How many connections were accepted.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    public static SilentListener Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new SilentListener(listener);
    }

    public void Dispose()
    {
        _listener.Stop();
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            try
            {
                // Kept open, never read from or written to.
                _clients.Add(await _listener.AcceptTcpClientAsync().ConfigureAwait(false));
                Interlocked.Increment(ref _accepted);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
        }
    }
}
