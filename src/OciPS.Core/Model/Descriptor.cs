using System.Text.Json;
using System.Text.Json.Serialization;

namespace OciPS.Core.Model;

/// <summary>An OCI content descriptor: what a piece of content is, where to find it and how to verify it.</summary>
public sealed record Descriptor
{
    [JsonPropertyName("mediaType")]
    public string MediaType { get; init; } = string.Empty;

    [JsonPropertyName("digest")]
    public required Digest Digest { get; init; }

    [JsonPropertyName("size")]
    public long Size { get; init; }

    [JsonPropertyName("urls")]
    public IReadOnlyList<string>? Urls { get; init; }

    [JsonPropertyName("annotations")]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    [JsonPropertyName("data")]
    public byte[]? Data { get; init; }

    [JsonPropertyName("platform")]
    public Platform? Platform { get; init; }

    [JsonPropertyName("artifactType")]
    public string? ArtifactType { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }

    /// <summary>The value of an annotation, or null.</summary>
    public string? Annotation(string key) =>
        Annotations is not null && Annotations.TryGetValue(key, out var value) ? value : null;

    public override string ToString() => $"{MediaType} {Digest} ({Size} bytes)";
}

/// <summary>Well-known annotation keys.</summary>
public static class AnnotationKeys
{
    public const string RefName = "org.opencontainers.image.ref.name";
    public const string Title = "org.opencontainers.image.title";
    public const string Created = "org.opencontainers.image.created";
    public const string BaseName = "org.opencontainers.image.base.name";
    public const string BaseDigest = "org.opencontainers.image.base.digest";
    public const string ContainerdImageName = "io.containerd.image.name";
}
