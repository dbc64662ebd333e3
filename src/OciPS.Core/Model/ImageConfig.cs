using System.Text.Json;
using System.Text.Json.Serialization;

namespace OciPS.Core.Model;

/// <summary>The image configuration (OCI image config or Docker's container image v1): platform, runtime defaults, rootfs, history.</summary>
public sealed record ImageConfig
{
    [JsonPropertyName("created")]
    public string? Created { get; init; }

    [JsonPropertyName("author")]
    public string? Author { get; init; }

    [JsonPropertyName("architecture")]
    public string Architecture { get; init; } = string.Empty;

    [JsonPropertyName("os")]
    public string Os { get; init; } = string.Empty;

    [JsonPropertyName("os.version")]
    public string? OsVersion { get; init; }

    [JsonPropertyName("os.features")]
    public IReadOnlyList<string>? OsFeatures { get; init; }

    [JsonPropertyName("variant")]
    public string? Variant { get; init; }

    [JsonPropertyName("config")]
    public ContainerConfig? Config { get; init; }

    [JsonPropertyName("rootfs")]
    public RootFs? RootFs { get; init; }

    [JsonPropertyName("history")]
    public IReadOnlyList<HistoryEntry>? History { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }

    /// <summary>The platform the config declares.</summary>
    [JsonIgnore]
    public Platform Platform => new Platform
    {
        Os = Os,
        Architecture = Architecture,
        Variant = Variant,
        OsVersion = OsVersion,
        OsFeatures = OsFeatures,
    };
}

/// <summary>The runtime defaults of an image (the <c>config</c> object of the image config).</summary>
public sealed record ContainerConfig
{
    [JsonPropertyName("User")]
    public string? User { get; init; }

    [JsonPropertyName("ExposedPorts")]
    public IReadOnlyDictionary<string, JsonElement>? ExposedPorts { get; init; }

    [JsonPropertyName("Env")]
    public IReadOnlyList<string>? Env { get; init; }

    [JsonPropertyName("Entrypoint")]
    public IReadOnlyList<string>? Entrypoint { get; init; }

    [JsonPropertyName("Cmd")]
    public IReadOnlyList<string>? Cmd { get; init; }

    [JsonPropertyName("Volumes")]
    public IReadOnlyDictionary<string, JsonElement>? Volumes { get; init; }

    [JsonPropertyName("WorkingDir")]
    public string? WorkingDir { get; init; }

    [JsonPropertyName("Labels")]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    [JsonPropertyName("StopSignal")]
    public string? StopSignal { get; init; }

    [JsonPropertyName("ArgsEscaped")]
    public bool? ArgsEscaped { get; init; }

    [JsonPropertyName("Healthcheck")]
    public HealthcheckConfig? Healthcheck { get; init; }

    [JsonPropertyName("OnBuild")]
    public IReadOnlyList<string>? OnBuild { get; init; }

    [JsonPropertyName("Shell")]
    public IReadOnlyList<string>? Shell { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

/// <summary>Docker's HEALTHCHECK settings; durations are nanoseconds as Docker stores them.</summary>
public sealed record HealthcheckConfig
{
    [JsonPropertyName("Test")]
    public IReadOnlyList<string>? Test { get; init; }

    [JsonPropertyName("Interval")]
    public long? Interval { get; init; }

    [JsonPropertyName("Timeout")]
    public long? Timeout { get; init; }

    [JsonPropertyName("StartPeriod")]
    public long? StartPeriod { get; init; }

    [JsonPropertyName("StartInterval")]
    public long? StartInterval { get; init; }

    [JsonPropertyName("Retries")]
    public int? Retries { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

/// <summary>The layers of the image's root filesystem, by diffID (digest of the uncompressed tar).</summary>
public sealed record RootFs
{
    [JsonPropertyName("type")]
    public string Type { get; init; } = "layers";

    [JsonPropertyName("diff_ids")]
    public IReadOnlyList<Digest> DiffIds { get; init; } = [];

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

/// <summary>One build step of the image; steps that changed no files carry <c>empty_layer</c>.</summary>
public sealed record HistoryEntry
{
    [JsonPropertyName("created")]
    public string? Created { get; init; }

    [JsonPropertyName("created_by")]
    public string? CreatedBy { get; init; }

    [JsonPropertyName("author")]
    public string? Author { get; init; }

    [JsonPropertyName("comment")]
    public string? Comment { get; init; }

    [JsonPropertyName("empty_layer")]
    public bool? EmptyLayer { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}
