using System.Net;
using System.Net.Sockets;

namespace OciPS.TestSupport;

/// <summary>
/// A TCP relay in front of a registry that reads what clients send slowly (a slow link or proxy for
/// uploads) and relays answers at full speed. Its receive buffer is fixed small, so the client feels
/// the pace instead of the kernel absorbing the upload. Clients talk to <see cref="Host"/> as if it
/// were the registry.
/// </summary>
public sealed class ThrottledTcpProxy : IDisposable
{
    private readonly TcpListener _listener;
    private readonly int _upstreamPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private ThrottledTcpProxy(TcpListener listener, int upstreamPort, long bytesPerSecond)
    {
        _listener = listener;
        _upstreamPort = upstreamPort;
        BytesPerSecond = bytesPerSecond;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Host => "127.0.0.1:" + Port;

    /// <summary>How fast request bytes are read from clients.</summary>
    public long BytesPerSecond { get; }

    public static ThrottledTcpProxy Start(int upstreamPort, long bytesPerSecond)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Server.ReceiveBufferSize = 32 * 1024;
        listener.Start();
        return new ThrottledTcpProxy(listener, upstreamPort, bytesPerSecond);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
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
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                return;
            }

            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var _ = client;
        client.ReceiveBufferSize = 32 * 1024;
        using var upstream = new TcpClient();
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort, _stop.Token).ConfigureAwait(false);
            var up = ThrottledCopyAsync(client.GetStream(), upstream.GetStream());
            var down = client.GetStream();
            var answers = upstream.GetStream().CopyToAsync(down, _stop.Token);
            await Task.WhenAny(up, answers).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task ThrottledCopyAsync(Stream from, Stream to)
    {
        var chunk = new byte[16 * 1024];
        var started = DateTime.UtcNow;
        long total = 0;
        int read;
        while ((read = await from.ReadAsync(chunk, _stop.Token).ConfigureAwait(false)) > 0)
        {
            await to.WriteAsync(chunk.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
            if (started + TimeSpan.FromSeconds((double)total / BytesPerSecond) < DateTime.UtcNow - TimeSpan.FromMilliseconds(100))
            {
                // The connection was idle (keep-alive between requests): no burst to make up for it.
                started = DateTime.UtcNow;
                total = 0;
            }

            total += read;
            var due = started + TimeSpan.FromSeconds((double)total / BytesPerSecond);
            if (due > DateTime.UtcNow)
            {
                await Task.Delay(due - DateTime.UtcNow, _stop.Token).ConfigureAwait(false);
            }
        }
    }
}
