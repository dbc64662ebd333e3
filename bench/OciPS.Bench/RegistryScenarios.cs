using OciPS.Core.Content;
using OciPS.Core.References;
using OciPS.Core.Registry;

namespace OciPS.Bench;

/// <summary>An image pushed to a registry, as <c>Copy-OciImage</c> does it (HEAD checks, parallel uploads).</summary>
public sealed class RegistryPushScenario : IBenchScenario
{
    public string Name => "registry-push";

    public string Usage => "<source location> <registry reference> [throttle]";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var throttle = arguments.Count > 2 ? int.Parse(arguments[2], System.Globalization.CultureInfo.InvariantCulture) : 4;
        var source = ImageSources.Open(arguments[0], Path.GetFullPath);
        await using var destination = ImageDestinations.Open(ImageLocation.Parse(arguments[1]));
        var result = await ImageCopy.CopyAsync(source, destination, new ImageCopyOptions { ThrottleLimit = throttle }, cancellationToken);
        Console.Error.WriteLine($"pushed {result.Digest}: {result.BlobsCopied} blobs sent ({result.BytesCopied} bytes), {result.BlobsSkipped} skipped");
    }
}

/// <summary>
/// An image pulled from a registry into an OCI layout through the blob cache, as <c>Save-OciImage</c>
/// does it; prints how many blobs were downloaded (none when the cache already holds the image).
/// </summary>
public sealed class RegistryPullScenario : IBenchScenario
{
    public string Name => "registry-pull";

    public string Usage => "<registry reference> <oci:destination> <cache directory> [throttle]";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var throttle = arguments.Count > 3 ? int.Parse(arguments[3], System.Globalization.CultureInfo.InvariantCulture) : 4;
        var downloaded = 0;
        var options = new ImageSourceOptions
        {
            CachePath = Path.GetFullPath(arguments[2]),
            ThrottleLimit = throttle,
            Progress = new Counter(() => Interlocked.Increment(ref downloaded)),
        };
        var source = ImageSources.Open(arguments[0], Path.GetFullPath, options);
        await using var destination = ImageDestinations.Open(ImageLocation.Parse(arguments[1], Path.GetFullPath));
        var result = await ImageCopy.CopyAsync(source, destination, new ImageCopyOptions { ThrottleLimit = throttle }, cancellationToken);
        Console.Error.WriteLine($"pulled {result.Digest}: {downloaded} blobs downloaded from the registry");
    }

    private sealed class Counter(Action completed) : IProgress<BlobTransfer>
    {
        public void Report(BlobTransfer value)
        {
            if (value.Completed)
            {
                completed();
            }
        }
    }
}
