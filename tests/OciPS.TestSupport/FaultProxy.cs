using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OciPS.TestSupport;

/// <summary>
/// A loopback reverse proxy in front of a test registry that records every request and can inject
/// faults: answer 500 to the first N matching requests, or cut a blob download after some bytes.
/// Clients talk to <see cref="Host"/> as if it were the registry.
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private readonly HttpListener _listener;
    private readonly HttpClient _client;
    private readonly Uri _upstream;
    private readonly Task _loop;

    private FaultProxy(HttpListener listener, int port, string upstreamHost)
    {
        _listener = listener;
        Port = port;
        _upstream = new Uri("http://" + upstreamHost);
        _client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseProxy = false });
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Host => "127.0.0.1:" + Port;

    /// <summary>"METHOD /path" of every request received, in order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Requests whose "METHOD /path" contains this text get a 500 while <see cref="FailuresLeft"/> is positive.</summary>
    public string? FailMatching { get; set; }

    private int _failuresLeft;
    private int _cutsLeft;

    /// <summary>How many more matching requests fail.</summary>
    public int FailuresLeft
    {
        get => Volatile.Read(ref _failuresLeft);
        set => Volatile.Write(ref _failuresLeft, value);
    }

    /// <summary>How many more blob downloads are cut.</summary>
    public int CutsLeft
    {
        get => Volatile.Read(ref _cutsLeft);
        set => Volatile.Write(ref _cutsLeft, value);
    }

    /// <summary>Blob GETs are cut after this many body bytes while <see cref="CutsLeft"/> is positive.</summary>
    public long CutAfterBytes { get; set; }

    /// <summary>When positive, blob GETs send this many body bytes and then hang until the proxy is disposed.</summary>
    public long StallAfterBytes { get; set; }

    /// <summary>Completes when a blob download first hangs (see <see cref="StallAfterBytes"/>).</summary>
    public Task Stalled => _stalled.Task;

    private readonly TaskCompletionSource _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _disposed = new();

    public static FaultProxy Start(string upstreamHost)
    {
        var (listener, port) = LoopbackHttpListener.Start();
        return new FaultProxy(listener, port, upstreamHost);
    }

    /// <summary>
    /// Pages tag lists as the distribution spec allows (<c>n</c>, <c>last</c>, a <c>Link</c> to the next
    /// page): the docker-registry 2.8 in the test machines answers every tag at once.
    /// </summary>
    public bool PaginateTags { get; set; }

    public int Count(string contains) => Requests.Count(r => r.Contains(contains, StringComparison.Ordinal));

    public void Dispose()
    {
        _disposed.Cancel();
        _listener.Close();
        _client.Dispose();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
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

            _ = Task.Run(async () =>
            {
                try
                {
                    await ForwardAsync(context).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpListenerException or IOException or HttpRequestException or ObjectDisposedException)
                {
                    context.Response.Abort();
                }
            });
        }
    }

    private async Task ForwardAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var line = request.HttpMethod + " " + request.Url!.PathAndQuery;
        Requests.Enqueue(line);
        if (FailMatching is { } match && line.Contains(match, StringComparison.Ordinal) && Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            context.Response.StatusCode = 500;
            var body = Encoding.UTF8.GetBytes("""{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}""");
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(body).ConfigureAwait(false);
            context.Response.Close();
            return;
        }

        var paginate = PaginateTags && request.Url.AbsolutePath.EndsWith("/tags/list", StringComparison.Ordinal);
        var upstreamPath = paginate ? request.Url.AbsolutePath : request.Url.PathAndQuery;
        using var forward = new HttpRequestMessage(new HttpMethod(request.HttpMethod), new Uri(_upstream, upstreamPath));
        if (request.HasEntityBody)
        {
            var buffer = new MemoryStream();
            await request.InputStream.CopyToAsync(buffer).ConfigureAwait(false);
            forward.Content = new ByteArrayContent(buffer.ToArray());
        }

        foreach (var key in request.Headers.AllKeys.OfType<string>())
        {
            if (key is "Host" or "Connection" or "Content-Length" or "Transfer-Encoding")
            {
                continue;
            }

            var values = request.Headers.GetValues(key) ?? [];
            if (!forward.Headers.TryAddWithoutValidation(key, values))
            {
                forward.Content?.Headers.TryAddWithoutValidation(key, values);
            }
        }

        using var response = await _client.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        if (paginate && response.IsSuccessStatusCode)
        {
            await WritePageAsync(context, request, await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false)).ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            if (header.Key is "Transfer-Encoding" or "Connection" or "Content-Length")
            {
                continue;
            }

            var value = string.Join(", ", header.Value);
            if (header.Key == "Location")
            {
                value = value.Replace(_upstream.Authority, Host, StringComparison.Ordinal);
            }

            context.Response.Headers[header.Key] = value;
        }

        if (response.Content.Headers.ContentLength is { } length)
        {
            context.Response.ContentLength64 = length;
        }

        var isBlob = request.HttpMethod == "GET" && request.Url.AbsolutePath.Contains("/blobs/sha256:", StringComparison.Ordinal);
        var cut = isBlob && CutAfterBytes > 0 && Interlocked.Decrement(ref _cutsLeft) >= 0;
        var stream = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
        if (request.HttpMethod == "HEAD")
        {
            context.Response.Close();
            return;
        }

        var chunk = new byte[16384];
        long sent = 0;
        int read;
        while ((read = await stream.ReadAsync(chunk).ConfigureAwait(false)) > 0)
        {
            if (isBlob && StallAfterBytes > 0 && sent + read > StallAfterBytes)
            {
                await context.Response.OutputStream.WriteAsync(chunk.AsMemory(0, (int)(StallAfterBytes - sent))).ConfigureAwait(false);
                await context.Response.OutputStream.FlushAsync().ConfigureAwait(false);
                _stalled.TrySetResult();
                await Task.Delay(Timeout.Infinite, _disposed.Token).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                context.Response.Abort();
                return;
            }

            if (cut && sent + read > CutAfterBytes)
            {
                await context.Response.OutputStream.WriteAsync(chunk.AsMemory(0, (int)(CutAfterBytes - sent))).ConfigureAwait(false);
                await context.Response.OutputStream.FlushAsync().ConfigureAwait(false);
                context.Response.Abort();
                return;
            }

            await context.Response.OutputStream.WriteAsync(chunk.AsMemory(0, read)).ConfigureAwait(false);
            sent += read;
        }

        context.Response.Close();
    }

    private static async Task WritePageAsync(HttpListenerContext context, HttpListenerRequest request, byte[] full)
    {
        using var document = System.Text.Json.JsonDocument.Parse(full);
        var name = document.RootElement.GetProperty("name").GetString()!;
        var tags = document.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).Order(StringComparer.Ordinal).ToList();
        var n = int.TryParse(request.QueryString["n"], out var size) ? size : tags.Count;
        var last = request.QueryString["last"];
        var page = tags.Where(t => last is null || string.CompareOrdinal(t, last) > 0).Take(n).ToList();
        if (page.Count > 0 && page[^1] != tags[^1])
        {
            context.Response.Headers["Link"] = $"</v2/{name}/tags/list?n={n}&last={Uri.EscapeDataString(page[^1])}>; rel=\"next\"";
        }

        var body = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["name"] = name, ["tags"] = page });
        context.Response.ContentType = "application/json";
        context.Response.ContentLength64 = body.Length;
        await context.Response.OutputStream.WriteAsync(body).ConfigureAwait(false);
        context.Response.Close();
    }
}

/// <summary>
/// A loopback forward HTTP proxy: reads the first request line of each connection (absolute-form URI,
/// or CONNECT), records it, and then pipes bytes both ways to the target.
/// </summary>
public sealed class ForwardProxy : IDisposable
{
    private readonly TcpListener _listener;
    private readonly Task _loop;

    private ForwardProxy(TcpListener listener)
    {
        _listener = listener;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public Uri Address => new("http://127.0.0.1:" + Port);

    /// <summary>The first request line of every connection made through the proxy.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static ForwardProxy Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new ForwardProxy(listener);
    }

    public void Dispose()
    {
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
        while (true)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var head = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(head))
        {
            if (await stream.ReadAsync(one).ConfigureAwait(false) == 0)
            {
                return;
            }

            head.Add(one[0]);
        }

        var text = Encoding.ASCII.GetString(head.ToArray());
        var requestLine = text[..text.IndexOf("\r\n", StringComparison.Ordinal)];
        Requests.Enqueue(requestLine);
        var parts = requestLine.Split(' ');
        var isConnect = parts[0] == "CONNECT";
        var target = isConnect ? new Uri("tcp://" + parts[1]) : new Uri(parts[1]);
        using var upstream = new TcpClient();
        await upstream.ConnectAsync(target.Host, target.Port).ConfigureAwait(false);
        var upstreamStream = upstream.GetStream();
        if (isConnect)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 Connection established\r\n\r\n")).ConfigureAwait(false);
        }
        else
        {
            // Origin servers accept absolute-form request targets, so the request goes on unchanged.
            await upstreamStream.WriteAsync(head.ToArray()).ConfigureAwait(false);
        }

        var up = stream.CopyToAsync(upstreamStream);
        var down = upstreamStream.CopyToAsync(stream);
        try
        {
            await Task.WhenAny(up, down).ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
    }

    private static bool EndsWithBlankLine(List<byte> head) =>
        head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n';
}
