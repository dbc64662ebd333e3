using OciPS.Core.Model;

namespace OciPS.Core.Artifacts;

/// <summary>A place in a pack file (1-based), so every error can point at the line a user has to fix.</summary>
public readonly record struct PackPosition(long Line, long Column)
{
    public override string ToString() => $"line {Line}, column {Column}";
}

/// <summary>The kinds of place a pack item's content comes from.</summary>
public enum PackSourceKind
{
    /// <summary><c>file://path</c> or a bare path: one file, one layer.</summary>
    File,

    /// <summary><c>dir://path</c>: a directory, one tar+gzip layer (or one layer per file when expanded).</summary>
    Directory,

    /// <summary><c>http://</c> or <c>https://</c>: downloaded, hashed on the way.</summary>
    Http,

    /// <summary><c>oci://</c>, <c>docker://</c>, <c>cr://</c> (registries) or <c>oci:</c>, <c>oci-archive:</c> (local): a whole image.</summary>
    Image,

    /// <summary><c>s3://bucket/key</c>.</summary>
    S3,
}

/// <summary>
/// Where a pack item's content comes from. <see cref="Location"/> is an absolute path for files and
/// directories, the URL for HTTP and S3, and an OciPS image location (<c>docker://…</c>, <c>oci:…</c>) for images.
/// </summary>
public sealed record PackSource(string Text, PackSourceKind Kind, string Location, Digest? Pin, PackPosition Position)
{
    public override string ToString() => Text;
}

/// <summary>One entry of a pack file's <c>items</c> list.</summary>
public sealed record PackItem
{
    public required PackSource From { get; init; }

    /// <summary>The layer media type; null means the default for the source kind.</summary>
    public string? MediaType { get; init; }

    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    public Platform? Platform { get; init; }

    /// <summary>The file name the layer is saved under when pulled (<c>org.opencontainers.image.title</c>).</summary>
    public string? Title { get; init; }

    public PackPosition Position { get; init; }
}

/// <summary>The <c>config</c> section: a blob from a source, with its media type.</summary>
public sealed record PackConfig(PackSource From, string MediaType, PackPosition Position);

/// <summary>
/// A parsed and validated pack file: the declarative description of an OCI artifact (oci-packer's
/// format, plus ORAS's <c>subject</c>). Produced only by <see cref="PackFileReader"/>, which checks
/// everything that can be checked before any byte is uploaded.
/// </summary>
public sealed record PackFile
{
    /// <summary>The pack file's full path (or a name for pack files read from text).</summary>
    public required string Path { get; init; }

    /// <summary>The directory relative sources are resolved against.</summary>
    public required string BaseDirectory { get; init; }

    /// <summary>The <c>type</c> field: the artifact type.</summary>
    public string? ArtifactType { get; init; }

    /// <summary>Artifact-level annotations (pack file, then overrides).</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    public PackConfig? Config { get; init; }

    /// <summary>The manifest the artifact refers to: a digest in the destination repository, or an image location.</summary>
    public string? Subject { get; init; }

    public PackPosition SubjectPosition { get; init; }

    public IReadOnlyList<PackItem> Items { get; init; } = [];
}

/// <summary>One problem found in a pack file, where it is.</summary>
public sealed record PackFileError(string Code, string Message, PackPosition Position)
{
    public override string ToString() => $"{Position}: {Message}";
}

/// <summary>A pack file with problems: all of them, each with its line and column.</summary>
public sealed class PackFileException(string path, IReadOnlyList<PackFileError> errors)
    : OciException(
        "PackFileInvalid",
        errors.Any(e => e.Code == "FileNotFound") && errors.All(e => e.Code == "FileNotFound") ? OciErrorKind.NotFound : OciErrorKind.InvalidArgument,
        $"The pack file '{path}' is not valid:{Environment.NewLine}" + string.Join(Environment.NewLine, errors.Select(e => $"  {path}:{e.Position.Line}:{e.Position.Column}: {e.Message}")),
        path)
{
    public string PackPath { get; } = path;

    public IReadOnlyList<PackFileError> Errors { get; } = errors;
}
