using System.Text;
using OciPS.Core.Build;
using OciPS.Core.References;
using OciPS.TestSupport;
using Xunit;

namespace OciPS.Core.Tests.Build;

/// <summary>
/// Builds a Dockerfile with a context written by the test, writes the result with BuildOutput, and
/// reads it back with the peers: umoci raw unpack for the tree, skopeo for the config.
/// </summary>
internal sealed class BuildHarness : IDisposable
{
    private readonly TempDirectory _temp = new("build");
    private int _builds;

    public BuildHarness()
    {
        Directory.CreateDirectory(ContextDirectory);
    }

    public string ContextDirectory => _temp.Combine("context");

    public string Combine(params string[] parts) => _temp.Combine(parts);

    public void Dispose() => _temp.Dispose();

    public BuildHarness File(string path, string content, int? mode = null)
    {
        var full = Path.Combine(ContextDirectory, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllText(full, content);
        if (mode is { } unixMode)
        {
            System.IO.File.SetUnixFileMode(full, (UnixFileMode)unixMode);
        }

        return this;
    }

    public BuildHarness Bytes(string path, byte[] content)
    {
        var full = Path.Combine(ContextDirectory, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllBytes(full, content);
        return this;
    }

    public async Task<ImageBuildResult> BuildAsync(string dockerfile, string destination, Func<ImageBuildOptions, ImageBuildOptions>? configure = null)
    {
        System.IO.File.WriteAllText(Path.Combine(ContextDirectory, "Dockerfile"), dockerfile);
        var options = new ImageBuildOptions
        {
            ContextDirectory = ContextDirectory,
            StagingDirectory = _temp.Combine("staging-" + _builds++),
            SourceDateEpoch = 1700000000,
        };
        options = configure?.Invoke(options) ?? options;
        var result = await ImageBuilder.BuildAsync(options, CancellationToken.None);
        await BuildOutput.WriteAsync(result.Source, ImageLocation.Parse(destination), CancellationToken.None);
        return result;
    }

    /// <summary>Builds to an OCI layout and unpacks it with umoci; returns one line per entry.</summary>
    public async Task<(ImageBuildResult Result, string[] Tree)> BuildTreeAsync(string dockerfile, Func<ImageBuildOptions, ImageBuildOptions>? configure = null)
    {
        var layout = _temp.Combine("out-" + _builds);
        // umoci reads OCI manifests only; Docker-format output is checked through skopeo and podman.
        var result = await BuildAsync(dockerfile, "oci:" + layout + ":t", options => (configure?.Invoke(options) ?? options) with { Format = BuildFormat.Oci });
        return (result, Unpack(layout + ":t"));
    }

    public string[] Unpack(string image)
    {
        var rootfs = _temp.Combine("rootfs-" + _builds + "-" + Guid.NewGuid().ToString("N")[..6]);
        Umoci.Run("raw", "unpack", "--image", image, rootfs);
        return Lines(TreeSnapshot.Capture(rootfs), rootfs);
    }

    /// <summary>"path type mode uid:gid [content or link]" per entry, sorted: what a test writes as the expected tree.</summary>
    public static string[] Lines(IReadOnlyDictionary<string, TreeEntry> tree, string root) =>
        tree.Values.OrderBy(e => e.Path, StringComparer.Ordinal).Select(e =>
        {
            var kind = e.Type switch
            {
                "directory" => "dir",
                "symbolic link" => "link",
                _ => "file",
            };
            var line = new StringBuilder($"{e.Path} {kind} {e.Mode} {e.Uid}:{e.Gid}");
            if (kind == "link")
            {
                line.Append(" -> ").Append(e.LinkTarget);
            }
            else if (kind == "file")
            {
                var text = System.IO.File.ReadAllText(Path.Combine(root, e.Path));
                line.Append(" =").Append(text.Length > 60 ? $"({e.Size} bytes)" : text.Replace("\n", "\\n", StringComparison.Ordinal));
            }

            return line.ToString();
        }).ToArray();

    public static void AssertTree(string[] expected, string[] actual) =>
        Assert.Equal(string.Join('\n', expected), string.Join('\n', actual));
}
