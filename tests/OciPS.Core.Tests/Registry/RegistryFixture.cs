using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.Registry;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;

namespace OciPS.Core.Tests.Registry;

/// <summary>Shared helpers of the registry tests: fixture images in a layout, options with a private cache.</summary>
internal static class RegistryFixture
{
    /// <summary>Writes a two-layer image (one layer large enough to need several chunks when asked) into a layout.</summary>
    public static async Task<Descriptor> WriteImageAsync(string layout, string tag, int bigFileSize = 300_000, bool docker = false, string platform = "linux/amd64", string marker = "one")
    {
        var writer = OciLayoutWriter.Open(layout);
        var random = new Random(bigFileSize + marker.Length);
        var big = new byte[bigFileSize];
        random.NextBytes(big);
        return await new ImageBuilder { DockerMediaTypes = docker, Platform = Platform.Parse(platform) }
            .Layer(new LayerBuilder().Directory("etc").File("etc/marker", marker + "\n"))
            .Layer(new LayerBuilder().Directory("data").File("data/big.bin", big))
            .EmptyStep("CMD [\"/bin/sh\"]")
            .WriteAsync(writer, tag);
    }

    public static ImageSourceOptions Options(string cache, LocalRegistry registry, RegistryOptions? registryOptions = null) => new()
    {
        CachePath = cache,
        Registry = registryOptions ?? new RegistryOptions
        {
            Credential = registry.Auth == RegistryAuth.None ? null : new RegistryCredential(LocalRegistry.Username, LocalRegistry.Password),
            Credentials = new CredentialStore([]),
            RetryDelay = TimeSpan.FromMilliseconds(20),
        },
    };
}
