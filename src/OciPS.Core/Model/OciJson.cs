using System.Text.Json;
using System.Text.Json.Serialization;

namespace OciPS.Core.Model;

/// <summary>Source-generated (de)serialisation of every OCI document the engine reads or writes.</summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = false,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(ImageManifest))]
[JsonSerializable(typeof(ImageIndex))]
[JsonSerializable(typeof(ImageConfig))]
[JsonSerializable(typeof(Descriptor))]
[JsonSerializable(typeof(Platform))]
[JsonSerializable(typeof(ImageLayoutHeader))]
[JsonSerializable(typeof(List<DockerArchiveManifestEntry>))]
[JsonSerializable(typeof(Dictionary<string, Dictionary<string, string>>))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class OciJsonContext : JsonSerializerContext;

/// <summary>Helpers over <see cref="OciJsonContext"/>.</summary>
public static class OciJson
{
    /// <summary>Options for documents OciPS writes itself: compact, as registries and peers write them.</summary>
    public static OciJsonContext Compact { get; } = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Pretty-printed output for people (-Raw views, Markdown).</summary>
    public static OciJsonContext Indented { get; } = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    public static byte[] Serialize<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo) =>
        JsonSerializer.SerializeToUtf8Bytes(value, typeInfo);

    /// <summary>Parses a document, turning any JSON error into a <see cref="FormatException"/> that names what was parsed.</summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> utf8, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(utf8, typeInfo) ?? throw new FormatException($"{what} is the JSON value null.");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{what} is not valid: {ex.Message}", ex);
        }
    }
}
