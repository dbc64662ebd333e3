using System.Diagnostics;
using OciPS.Core.Build;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Bench;

/// <summary>
/// The file index New-OciImage builds of a base image (one streaming pass of the merge): how many
/// paths it holds, the managed memory it keeps while the build runs, and how long it takes.
/// </summary>
public sealed class BaseIndexScenario : IBenchScenario
{
    public string Name => "build-base-index";

    public string Usage => "<image location>";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var loaded = await ImageLoader.LoadAsync(ImageSources.Open(arguments[0], Path.GetFullPath), null, cancellationToken);
        var image = loaded as OciImage ?? await ImageLoader.SelectAsync((OciIndex)loaded, Platform.Default, cancellationToken);
        // A first pass warms up what any merge allocates once (code, pools), so the second measures the index alone.
        await WarmUpAsync(image, cancellationToken);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        var accounts = new Dictionary<string, string>(StringComparer.Ordinal);
        var index = await StageTree.IndexAsync(image, accounts, cancellationToken);
        clock.Stop();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var held = after - before;
        Console.Error.WriteLine($"managed heap: {before / 1048576.0:F1} MiB before, {after / 1048576.0:F1} MiB with the index");
        Console.Error.WriteLine($"base index: {index.Count} paths from {image.Layers.Count} layers in {clock.Elapsed.TotalSeconds:F2} s; {held / 1048576.0:F1} MiB held ({(double)held / index.Count:F0} bytes a path)");
        GC.KeepAlive(index);
    }

    private static async Task WarmUpAsync(OciImage image, CancellationToken cancellationToken) =>
        (await StageTree.IndexAsync(image, null, cancellationToken)).Clear();
}
