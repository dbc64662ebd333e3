using OciPS.Core.Build;
using OciPS.Core.Build.Layers;
using OciPS.Core.Content;
using OciPS.Core.References;

namespace OciPS.Bench;

/// <summary>Dockerfile → image at a destination, as <c>New-OciImage</c> does it.</summary>
public sealed class BuildScenario : IBenchScenario
{
    public string Name => "build";

    public string Usage => "<context> <destination> [Docker|Oci] [Gzip|Zstd] [Dockerfile] [blob cache directory]";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var destination = ImageLocation.Parse(arguments[1], Path.GetFullPath);
        var staging = Path.Combine(destination.Path is { } path ? Path.GetDirectoryName(path)! : Path.GetTempPath(), ".ocips-bench-build-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var options = new ImageBuildOptions
            {
                ContextDirectory = Path.GetFullPath(arguments[0]),
                StagingDirectory = staging,
                ResolvePath = Path.GetFullPath,
                Format = arguments.Count > 2 ? Enum.Parse<BuildFormat>(arguments[2], ignoreCase: true) : BuildFormat.Oci,
                Compression = arguments.Count > 3 ? Enum.Parse<BuildCompression>(arguments[3], ignoreCase: true) : BuildCompression.Gzip,
                Warning = warning => Console.Error.WriteLine("warning: " + warning),
                DockerfilePath = arguments.Count > 4 ? Path.GetFullPath(arguments[4]) : null,
                SourceOptions = arguments.Count > 5 ? new ImageSourceOptions { CachePath = Path.GetFullPath(arguments[5]) } : ImageSourceOptions.Default,
            };
            var result = await ImageBuilder.BuildAsync(options, cancellationToken);
            var copy = await BuildOutput.WriteAsync(result.Source, destination, null, moveStagedBlobs: true, cancellationToken);
            var layers = result.Images.SelectMany(i => i.NewLayers).ToArray();
            Console.Error.WriteLine($"{result.Digest}: {layers.Length} new layer(s), {layers.Sum(l => l.Size)} compressed bytes written");
            if (copy is not null)
            {
                Console.Error.WriteLine($"registry: {copy.BlobsCopied} blobs uploaded ({copy.BytesCopied} bytes), {copy.BlobsMounted} mounted, {copy.BlobsSkipped} already there");
            }
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }
}
