using OciPS.Core.Merge;

namespace OciPS.Bench;

/// <summary>The merge alone, every file's content read and dropped: the floor under every sink.</summary>
public sealed class MergeScenario : IBenchScenario
{
    public string Name => "merge";

    public string Usage => "<location>";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var image = await BenchImages.LoadAsync(arguments[0], cancellationToken);
        long entries = 0, bytes = 0;
        var buffer = new byte[1 << 16];
        await foreach (var merged in LayerMerger.For(image).MergeAsync(cancellationToken))
        {
            entries++;
            if (merged.Content is { } content)
            {
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    bytes += read;
                }
            }
        }

        Console.Error.WriteLine($"{entries} entries, {bytes} bytes");
    }
}
