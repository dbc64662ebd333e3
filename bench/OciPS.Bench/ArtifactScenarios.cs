using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.References;

namespace OciPS.Bench;

/// <summary>A pack file → an artifact in an OCI layout, as <c>Publish-OciArtifact</c> does it.</summary>
public sealed class PublishArtifactScenario : IBenchScenario
{
    public string Name => "publish-artifact";

    public string Usage => "<pack.yaml> <oci:DIR:TAG> [expand]";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var pack = await PackFileReader.ReadAsync(Path.GetFullPath(arguments[0]), null, cancellationToken);
        await using var plan = await ArtifactPublisher.PlanAsync(pack, new ArtifactPackOptions { Expand = arguments.Count > 2 && arguments[2] == "expand" }, cancellationToken);
        var location = ImageLocation.Parse(arguments[1], Path.GetFullPath);
        await using var destination = ArtifactDestinations.Open(location);
        var published = await ArtifactPublisher.PushAsync(plan, destination, null, cancellationToken);
        Console.Error.WriteLine($"{published.Digest}: {published.Layers.Count} layers, {published.Layers.Sum(l => l.Size)} bytes");
    }
}

/// <summary>An artifact → files, as <c>Save-OciArtifact</c> does it.</summary>
public sealed class SaveArtifactScenario : IBenchScenario
{
    public string Name => "save-artifact";

    public string Usage => "<oci:DIR:TAG> <directory>";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var saved = await ArtifactPuller.SaveAsync(ImageSources.Open(arguments[0], Path.GetFullPath), arguments[1], new ArtifactSaveOptions { Force = true }, cancellationToken);
        Console.Error.WriteLine($"{saved.Count} entries saved");
    }
}

/// <summary>Serves a layout with the registry proxy until killed (the script runs skopeo against it).</summary>
public sealed class RegistryProxyScenario : IBenchScenario
{
    public string Name => "registry-proxy";

    public string Usage => "<layout> <name> <port>";

    public async Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        await using var server = RegistryProxyServer.Start(arguments[0], arguments[1], int.Parse(arguments[2], System.Globalization.CultureInfo.InvariantCulture));
        Console.Error.WriteLine($"serving on {server.Host}");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
