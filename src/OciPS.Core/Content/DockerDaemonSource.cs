using System.Net;
using System.Net.Sockets;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>
/// Reads an image from a Docker-compatible engine (<c>docker-daemon:NAME:TAG</c>) over its API
/// socket: <c>GET /images/{name}/get</c> streams a <c>docker save</c> tarball, which is spooled to a
/// temporary file (streamed, never held in memory) and read as a <c>docker-archive:</c>. Docker,
/// Podman's Docker API service and nerdctl-compatible daemons all answer it.
/// </summary>
public sealed class DockerDaemonSource : IImageSource
{
    private static readonly string SpoolDirectory = Path.Combine(Path.GetTempPath(), "ocips-daemon-" + Environment.ProcessId);
    private readonly string _socket;
    private readonly Lazy<Task<DockerArchiveSource>> _archive;

    private DockerDaemonSource(ImageLocation location, string socket)
    {
        Location = location;
        _socket = socket;
        _archive = new Lazy<Task<DockerArchiveSource>>(() => ExportAsync(CancellationToken.None));
    }

    public ImageLocation Location { get; }

    public string Name => Location.ToString();

    /// <summary>The unix socket the engine's API listens on.</summary>
    public string Socket => _socket;

    /// <param name="dockerHost">A <c>unix://</c> address; else DOCKER_HOST, else the usual Docker and Podman sockets.</param>
    /// <param name="preferPodman">Look for Podman's socket before Docker's.</param>
    public static DockerDaemonSource Open(ImageLocation location, string? dockerHost = null, bool preferPodman = false)
    {
        if (location.Reference is null)
        {
            throw new InvalidLocationException(location.Original, "docker-daemon: needs an image name, as in docker-daemon:alpine:3.20");
        }

        return new DockerDaemonSource(location, FindSocket(location.Original, dockerHost ?? Environment.GetEnvironmentVariable("DOCKER_HOST"), preferPodman));
    }

    public async Task<ResolvedManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        var archive = await _archive.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        var resolved = await archive.ResolveAsync(cancellationToken).ConfigureAwait(false);
        return resolved with { Name = resolved.Name ?? Location.Reference!.FamiliarName };
    }

    public async Task<ManifestContent> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        await (await _archive.Value.WaitAsync(cancellationToken).ConfigureAwait(false)).GetManifestAsync(descriptor, cancellationToken).ConfigureAwait(false);

    public async Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        await (await _archive.Value.WaitAsync(cancellationToken).ConfigureAwait(false)).OpenBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);

    /// <summary>The candidate sockets, in the order they are tried.</summary>
    internal static string FindSocket(string location, string? dockerHost, bool preferPodman)
    {
        if (!string.IsNullOrEmpty(dockerHost))
        {
            return dockerHost.StartsWith("unix://", StringComparison.Ordinal)
                ? dockerHost["unix://".Length..]
                : throw new UnsupportedContentException("DaemonHostUnsupported", $"DOCKER_HOST '{dockerHost}' is not a unix:// socket; only local engines over a unix socket are supported.", location);
        }

        var docker = new[] { "/var/run/docker.sock", "/run/docker.sock" };
        var podman = new List<string>();
        if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime)
        {
            podman.Add(Path.Combine(runtime, "podman", "podman.sock"));
        }

        podman.Add("/run/podman/podman.sock");
        var candidates = preferPodman ? podman.Concat(docker) : docker.Concat(podman);
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new OciException(
                "DaemonUnavailable",
                OciErrorKind.Connection,
                $"No Docker-compatible engine socket found for '{location}' (looked for {string.Join(", ", candidates)}). Start the engine (for Podman: podman system service), or set DOCKER_HOST=unix:///path/to.sock.",
                location);
    }

    private async Task<DockerArchiveSource> ExportAsync(CancellationToken cancellationToken)
    {
        var name = Location.Reference!.FamiliarName;
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(_socket), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        using var client = new HttpClient(handler) { BaseAddress = new Uri("http://docker/"), Timeout = Timeout.InfiniteTimeSpan };
        var path = "images/" + string.Join('/', name.Split('/').Select(Uri.EscapeDataString)) + "/get";
        HttpResponseMessage response;
        try
        {
            response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new OciException("DaemonUnavailable", OciErrorKind.Connection, $"The engine at unix://{_socket} does not answer: {ex.Message}", Location.Original, ex);
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw new LocationNotFoundException(Location.Original, $"the engine at unix://{_socket} has no image '{name}'");
            }

            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                throw new OciException("DaemonRequestFailed", OciErrorKind.Connection, $"The engine at unix://{_socket} refused to export '{name}': {(int)response.StatusCode} {body.Trim()}", Location.Original);
            }

            Directory.CreateDirectory(SpoolDirectory);
            var file = Path.Combine(SpoolDirectory, Guid.NewGuid().ToString("N") + ".tar");
            try
            {
                var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                await using (output.ConfigureAwait(false))
                {
                    await response.Content.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                }

                // The spooled archive is read in place until the process ends; it goes away with it.
                AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(file);
                return DockerArchiveSource.Open(ImageLocation.Parse("docker-archive:" + file));
            }
            catch
            {
                TryDelete(file);
                throw;
            }
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
