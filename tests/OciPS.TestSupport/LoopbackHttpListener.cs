using System.Net;

namespace OciPS.TestSupport;

/// <summary>
/// An <see cref="HttpListener"/> on a free 127.0.0.1 port. The port is found free and then bound, so
/// another process can take it in between on a busy machine: binding is retried on a new port.
/// </summary>
public static class LoopbackHttpListener
{
    public static (HttpListener Listener, int Port) Start()
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = LocalRegistry.FreePort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, port);
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Close();
            }
        }
    }
}
