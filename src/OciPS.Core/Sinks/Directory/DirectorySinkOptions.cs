namespace OciPS.Core.Sinks.Directory;

/// <summary>How a merged filesystem is written to a directory.</summary>
public sealed record DirectorySinkOptions
{
    /// <summary>Apply the image's owners (needs root); false writes everything as the current user.</summary>
    public bool SameOwner { get; init; } = true;

    /// <summary>Replace an existing directory at the destination (only once the new one is complete).</summary>
    public bool Force { get; init; }

    /// <summary>Clamp every modification time to this Unix time (reproducible output).</summary>
    public long? SourceDateEpoch { get; init; }
}
