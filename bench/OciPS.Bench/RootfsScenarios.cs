using OciPS.Core.Merge;
using OciPS.Core.Sinks;
using OciPS.Core.Sinks.Tar;

namespace OciPS.Bench;

/// <summary>Image → merged tree, as <c>Export-OciRootfs</c> does it, in any format.</summary>
public sealed class ExportRootfsScenario : IBenchScenario
{
    public string Name => "export-rootfs";

    public string Usage => "<location> <destination> <Directory|Tar|SquashFs|...> [None|Gzip|Zstd] [block size] [level]";

    public IReadOnlyList<string>? WarmUpArguments(IReadOnlyList<string> arguments) => [arguments[0], arguments[1] + ".warm", .. arguments.Skip(2)];

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var image = await BenchImages.LoadAsync(arguments[0], cancellationToken);
        var format = Enum.Parse<RootfsFormat>(arguments[2], ignoreCase: true);
        var options = new RootfsExportOptions
        {
            Force = true,
            Compression = arguments.Count > 3 ? Enum.Parse<TarCompression>(arguments[3], ignoreCase: true) : TarCompression.None,
            BlockSize = arguments.Count > 4 ? int.Parse(arguments[4], System.Globalization.CultureInfo.InvariantCulture) : null,
            CompressionLevel = arguments.Count > 5 ? int.Parse(arguments[5], System.Globalization.CultureInfo.InvariantCulture) : null,
        };
        await using var sink = RootfsExport.CreateSink(format, Path.GetFullPath(arguments[1]), options, warning => Console.Error.WriteLine("warning: " + warning));
        var merger = LayerMerger.For(image, issue => Console.Error.WriteLine("issue: " + issue.Message));
        var summary = await RootfsExport.RunAsync(merger.MergeAsync(cancellationToken), sink, cancellationToken);
        Console.Error.WriteLine($"{summary.Entries} entries, {summary.Files} files, {summary.Bytes} bytes");
    }
}
