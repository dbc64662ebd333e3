using OciPS.Core.Build.Layers;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>The manifest and config media types a build writes.</summary>
public enum BuildFormat
{
    /// <summary>Docker image manifest v2 schema 2 (what <c>docker build</c> writes).</summary>
    Docker,

    /// <summary>OCI image manifest and config.</summary>
    Oci,
}

/// <summary>What to build and how.</summary>
public sealed record ImageBuildOptions
{
    /// <summary>The build context directory.</summary>
    public required string ContextDirectory { get; init; }

    /// <summary>The Dockerfile; default <c>Dockerfile</c> in the context.</summary>
    public string? DockerfilePath { get; init; }

    /// <summary>Where new blobs, configs and manifests are written before they go to the destination.</summary>
    public required string StagingDirectory { get; init; }

    /// <summary>Values for ARG instructions (<c>--build-arg</c>).</summary>
    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>The stage to build; default the last one.</summary>
    public string? Target { get; init; }

    /// <summary>The platforms to build; several give an index. Empty: the base image's, else this machine's.</summary>
    public IReadOnlyList<Platform> Platforms { get; init; } = [];

    public BuildFormat Format { get; init; } = BuildFormat.Docker;

    public BuildCompression Compression { get; init; } = BuildCompression.Gzip;

    /// <summary>Fixes every time in the image (created, history, file times) for reproducible digests.</summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Manifest (and index) annotations.</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    /// <summary>Labels added to the image config after the Dockerfile's.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>How base images are read (credentials, proxies).</summary>
    public ImageSourceOptions? SourceOptions { get; init; }

    /// <summary>Resolves relative locations in FROM and COPY --from (the caller's current directory).</summary>
    public Func<string, string>? ResolvePath { get; init; }

    /// <summary>How many layers are compressed at once.</summary>
    public int MaxParallelism { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Used for ADD of remote URLs; default a new HttpClient.</summary>
    public HttpClient? HttpClient { get; init; }

    public IProgress<OciProgress>? Progress { get; init; }

    /// <summary>Receives warnings (deprecated syntax, ignored settings).</summary>
    public Action<string>? Warning { get; init; }
}

/// <summary>One platform's image of a build.</summary>
public sealed record BuiltPlatformImage(Platform Platform, ManifestContent Manifest, Descriptor Config, IReadOnlyList<Descriptor> NewLayers);

/// <summary>
/// The result of a build: a source serving the image (or index) from the staging directory and the
/// base sources, the root manifest, and each platform's image.
/// </summary>
public sealed record ImageBuildResult(BuiltImageSource Source, ManifestContent Root, IReadOnlyList<BuiltPlatformImage> Images)
{
    public Digest Digest => Root.Digest;
}
