using System.Text.Json;
using System.Text.Json.Serialization;

namespace OciPS.Core.Model;

/// <summary>
/// An image manifest, OCI or Docker v2 schema 2 (the two share one shape). Parsed for reading only:
/// the bytes whose digest matters are kept by <see cref="ManifestContent"/> and never re-serialised.
/// </summary>
public sealed record ImageManifest
{
    [JsonPropertyName("schemaVersion")]
    public int SchemaVersion { get; init; }

    [JsonPropertyName("mediaType")]
    public string? MediaType { get; init; }

    [JsonPropertyName("artifactType")]
    public string? ArtifactType { get; init; }

    [JsonPropertyName("config")]
    public required Descriptor Config { get; init; }

    [JsonPropertyName("layers")]
    public IReadOnlyList<Descriptor> Layers { get; init; } = [];

    [JsonPropertyName("subject")]
    public Descriptor? Subject { get; init; }

    [JsonPropertyName("annotations")]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

/// <summary>An image index (OCI) or manifest list (Docker): one manifest per platform, or any set of manifests.</summary>
public sealed record ImageIndex
{
    [JsonPropertyName("schemaVersion")]
    public int SchemaVersion { get; init; }

    [JsonPropertyName("mediaType")]
    public string? MediaType { get; init; }

    [JsonPropertyName("artifactType")]
    public string? ArtifactType { get; init; }

    [JsonPropertyName("manifests")]
    public IReadOnlyList<Descriptor> Manifests { get; init; } = [];

    [JsonPropertyName("subject")]
    public Descriptor? Subject { get; init; }

    [JsonPropertyName("annotations")]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

/// <summary>The <c>oci-layout</c> file at the root of an image layout.</summary>
public sealed record ImageLayoutHeader
{
    [JsonPropertyName("imageLayoutVersion")]
    public string ImageLayoutVersion { get; init; } = "1.0.0";

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

/// <summary>One entry of a <c>docker save</c> archive's manifest.json.</summary>
public sealed record DockerArchiveManifestEntry
{
    [JsonPropertyName("Config")]
    public string Config { get; init; } = string.Empty;

    [JsonPropertyName("RepoTags")]
    public IReadOnlyList<string>? RepoTags { get; init; }

    [JsonPropertyName("Layers")]
    public IReadOnlyList<string> Layers { get; init; } = [];

    [JsonPropertyName("LayerSources")]
    public IReadOnlyDictionary<string, Descriptor>? LayerSources { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}
