using System.Text.Json;

namespace OciPS.TestSupport;

/// <summary>skopeo, the reference the engine's reading of images is checked against.</summary>
public static class Skopeo
{
    /// <summary><c>skopeo inspect</c>: Digest, Layers, Architecture, Os…</summary>
    public static JsonElement Inspect(string location, params string[] globalOptions) =>
        Json(ProcessRunner.Run("skopeo", [.. globalOptions, "inspect", location]).StandardOutput);

    /// <summary>The raw manifest bytes skopeo reads (their sha256 is the manifest digest).</summary>
    public static byte[] InspectRaw(string location, params string[] globalOptions) =>
        System.Text.Encoding.UTF8.GetBytes(ProcessRunner.Run("skopeo", [.. globalOptions, "inspect", "--raw", location]).StandardOutput);

    /// <summary>The raw config bytes skopeo reads.</summary>
    public static byte[] InspectConfigRaw(string location, params string[] globalOptions) =>
        System.Text.Encoding.UTF8.GetBytes(ProcessRunner.Run("skopeo", [.. globalOptions, "inspect", "--config", "--raw", location]).StandardOutput);

    /// <summary>The raw manifest bytes, with options of the inspect command itself (<c>--creds</c>, <c>--tls-verify</c>).</summary>
    public static byte[] InspectRawWith(string location, params string[] inspectOptions) =>
        System.Text.Encoding.UTF8.GetBytes(ProcessRunner.Run("skopeo", ["inspect", .. inspectOptions, "--raw", location]).StandardOutput);

    /// <summary><c>skopeo inspect</c> with options of the inspect command itself.</summary>
    public static JsonElement InspectWith(string location, params string[] inspectOptions) =>
        Json(ProcessRunner.Run("skopeo", ["inspect", .. inspectOptions, location]).StandardOutput);

    public static void Copy(string source, string destination, params string[] options) =>
        ProcessRunner.Run("skopeo", ["copy", "--quiet", .. options, source, destination]);

    private static JsonElement Json(string text)
    {
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}

/// <summary>umoci, which builds layouts with an independent implementation.</summary>
public static class Umoci
{
    public static void Run(params string[] arguments) => ProcessRunner.Run("umoci", arguments);
}
