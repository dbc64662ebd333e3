using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Bench;

/// <summary>Opens the image a scenario works on, the way the cmdlets do.</summary>
internal static class BenchImages
{
    public static async Task<OciImage> LoadAsync(string location, CancellationToken cancellationToken)
    {
        var source = ImageSources.Open(location, Path.GetFullPath);
        var loaded = await ImageLoader.LoadAsync(source, Platform.Default, cancellationToken);
        return (OciImage)loaded;
    }
}
