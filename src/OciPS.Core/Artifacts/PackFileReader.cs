using System.Text;
using System.Text.RegularExpressions;
using OciPS.Core.Model;
using OciPS.Core.References;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace OciPS.Core.Artifacts;

/// <summary>What a pack file is read with: environment for <c>${VAR}</c>, annotation overrides.</summary>
public sealed record PackFileReadOptions
{
    /// <summary>Looks up <c>${NAME}</c>; the process environment by default.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>Artifact annotations that replace the pack file's (<c>-Annotation @{}</c>).</summary>
    public IReadOnlyDictionary<string, string>? AnnotationOverrides { get; init; }
}

/// <summary>
/// Reads a pack file and checks everything that can be checked before any upload: the YAML shape,
/// <c>${VAR}</c> references, source schemes, that local files exist, media types (RFC 6838), platforms,
/// digests and titles. Every problem is collected (not just the first) with its line and column.
/// </summary>
public static partial class PackFileReader
{
    private static readonly string[] TopLevelKeys = ["type", "artifactType", "annotations", "config", "subject", "items"];
    private static readonly string[] ItemKeys = ["from", "type", "mediaType", "annotations", "platform", "title", "digest"];
    private static readonly string[] ConfigKeys = ["from", "type", "mediaType"];

    /// <summary>Reads and validates the pack file at <paramref name="path"/>; relative sources are relative to its directory.</summary>
    public static async Task<PackFile> ReadAsync(string path, PackFileReadOptions? options, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, Encoding.UTF8, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new OciException("PackFileNotFound", OciErrorKind.NotFound, $"The pack file '{path}' does not exist.", path, ex);
        }

        return Parse(text, path, System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, options);
    }

    /// <summary>Parses pack file text; <paramref name="baseDirectory"/> anchors relative sources.</summary>
    public static PackFile Parse(string text, string path, string baseDirectory, PackFileReadOptions? options = null)
    {
        options ??= new PackFileReadOptions();
        var context = new Context(path, baseDirectory, options);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new PackFileException(path, [new PackFileError("YamlInvalid", $"not valid YAML: {ex.Message}", At(ex.Start))]);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            var where = stream.Documents.Count > 0 ? At(stream.Documents[0].RootNode.Start) : new PackPosition(1, 1);
            throw new PackFileException(path, [new PackFileError("YamlInvalid", "a pack file is one YAML mapping (type, annotations, config, items)", where)]);
        }

        var pack = context.ReadRoot(root);
        if (context.Errors.Count > 0)
        {
            throw new PackFileException(path, context.Errors);
        }

        return pack;
    }

    /// <summary>Whether <paramref name="mediaType"/> has RFC 6838's shape: <c>type/subtype</c> of restricted-name characters.</summary>
    public static bool IsValidMediaType(string mediaType) => MediaTypePattern().IsMatch(mediaType);

    /// <summary>
    /// Parses a platform as containerd does, including its <c>os(version)/arch[/variant]</c> form
    /// (oci-packer's <c>linux(v8)/amd64</c>).
    /// </summary>
    public static bool TryParsePlatform(string text, out Platform platform, out string reason)
    {
        var match = OsVersionPattern().Match(text);
        if (!match.Success)
        {
            return Platform.TryParse(text, out platform, out reason);
        }

        if (!Platform.TryParse(match.Groups["os"].Value + match.Groups["rest"].Value, out platform, out reason))
        {
            return false;
        }

        platform = platform with { OsVersion = match.Groups["version"].Value };
        return true;
    }

    private static PackPosition At(Mark mark) => new(mark.Line, mark.Column);

    private static PackPosition At(YamlNode node) => At(node.Start);

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$", RegexOptions.CultureInvariant)]
    private static partial Regex MediaTypePattern();

    [GeneratedRegex(@"^(?<os>[A-Za-z0-9_.-]+)\((?<version>[^()/]+)\)(?<rest>/.*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex OsVersionPattern();

    [GeneratedRegex(@"\$\$|\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?<default>[^}]*))?\}|\$\{[^}]*\}?", RegexOptions.CultureInvariant)]
    private static partial Regex VariablePattern();

    [GeneratedRegex(@"^(?<scheme>[A-Za-z][A-Za-z0-9+.-]+):", RegexOptions.CultureInvariant)]
    private static partial Regex SchemePattern();

    private sealed class Context(string path, string baseDirectory, PackFileReadOptions options)
    {
        public List<PackFileError> Errors { get; } = [];

        public PackFile ReadRoot(YamlMappingNode root)
        {
            string? artifactType = null;
            var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
            PackConfig? config = null;
            string? subject = null;
            var subjectPosition = default(PackPosition);
            var items = new List<PackItem>();
            var sawItems = false;

            foreach (var (keyNode, value) in root.Children)
            {
                switch (Key(keyNode, TopLevelKeys, "a pack file"))
                {
                    case "type" or "artifactType":
                        artifactType = MediaType(value, "type");
                        break;
                    case "annotations":
                        ReadAnnotations(value, annotations);
                        break;
                    case "config":
                        config = ReadConfig(value);
                        break;
                    case "subject":
                        subject = ReadSubject(value);
                        subjectPosition = At(value);
                        break;
                    case "items":
                        sawItems = true;
                        if (value is YamlSequenceNode sequence)
                        {
                            items.AddRange(sequence.Children.Select(ReadItem).OfType<PackItem>());
                        }
                        else if (!IsNull(value))
                        {
                            Error("FieldInvalid", "'items' must be a list of items (- from: …)", value);
                        }

                        break;
                }
            }

            if (!sawItems && config is null)
            {
                Errors.Add(new PackFileError("ItemsMissing", "the pack file has no 'items' (and no 'config'): there is nothing to pack", At(root)));
            }

            CheckTitles(items);
            foreach (var (key, value) in options.AnnotationOverrides ?? new Dictionary<string, string>())
            {
                annotations[key] = value;
            }

            return new PackFile
            {
                Path = path,
                BaseDirectory = baseDirectory,
                ArtifactType = artifactType,
                Annotations = annotations,
                Config = config,
                Subject = subject,
                SubjectPosition = subjectPosition,
                Items = items,
            };
        }

        private PackItem? ReadItem(YamlNode node)
        {
            if (node is not YamlMappingNode mapping)
            {
                Error("FieldInvalid", "an item is a mapping with at least 'from'", node);
                return null;
            }

            PackSource? source = null;
            string? mediaType = null, title = null;
            Platform? platform = null;
            Digest? pin = null;
            var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (keyNode, value) in mapping.Children)
            {
                switch (Key(keyNode, ItemKeys, "an item"))
                {
                    case "from":
                        source = ReadSource(value);
                        break;
                    case "type" or "mediaType":
                        mediaType = MediaType(value, "type");
                        break;
                    case "annotations":
                        ReadAnnotations(value, annotations);
                        break;
                    case "platform":
                        platform = ReadPlatform(value);
                        break;
                    case "title":
                        title = ReadTitle(value);
                        break;
                    case "digest":
                        pin = ReadDigest(value);
                        break;
                }
            }

            if (source is null)
            {
                if (!mapping.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "from"))
                {
                    Error("FieldMissing", "the item has no 'from' (where its content comes from)", mapping);
                }

                return null;
            }

            if (pin is not null)
            {
                if (source.Pin is not null && source.Pin != pin)
                {
                    Error("DigestInvalid", $"the item pins two different digests ({source.Pin} in 'from', {pin} in 'digest')", mapping);
                }

                source = source with { Pin = pin };
            }

            if (annotations.TryGetValue(AnnotationKeys.Title, out var annotatedTitle))
            {
                title ??= annotatedTitle;
            }

            title ??= DefaultTitle(source);
            return new PackItem
            {
                From = source,
                MediaType = mediaType,
                Annotations = annotations,
                Platform = platform,
                Title = title,
                Position = At(mapping),
            };
        }

        private PackConfig? ReadConfig(YamlNode node)
        {
            if (node is not YamlMappingNode mapping)
            {
                Error("FieldInvalid", "'config' is a mapping with 'from' and 'type'", node);
                return null;
            }

            PackSource? source = null;
            string? mediaType = null;
            foreach (var (keyNode, value) in mapping.Children)
            {
                switch (Key(keyNode, ConfigKeys, "'config'"))
                {
                    case "from":
                        source = ReadSource(value);
                        break;
                    case "type" or "mediaType":
                        mediaType = MediaType(value, "type");
                        break;
                }
            }

            if (source is null)
            {
                if (!mapping.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "from"))
                {
                    Error("FieldMissing", "'config' has no 'from'", mapping);
                }

                return null;
            }

            if (source.Kind is not (PackSourceKind.File or PackSourceKind.Http or PackSourceKind.S3))
            {
                Error("SchemeInvalid", $"'config' must come from one file (file://, http(s)://), not '{source.Text}'", mapping);
                return null;
            }

            return new PackConfig(source, mediaType ?? "application/octet-stream", At(mapping));
        }

        private string? ReadSubject(YamlNode node)
        {
            var text = Scalar(node, "subject");
            if (text is null)
            {
                return null;
            }

            if (Digest.TryParse(text, out _))
            {
                return text;
            }

            try
            {
                var location = ImageLocation.Parse(text.StartsWith("oci://", StringComparison.Ordinal) || text.StartsWith("cr://", StringComparison.Ordinal)
                    ? "docker://" + text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..]
                    : text, Resolve);
                if (location.Path is { } local && !File.Exists(local) && !Directory.Exists(local))
                {
                    Error("FileNotFound", $"'subject' names '{text}', but '{local}' does not exist", node);
                    return null;
                }

                return location.ToString();
            }
            catch (OciException ex)
            {
                Error(ex.Kind == OciErrorKind.NotFound ? "FileNotFound" : "SubjectInvalid", $"'subject' is neither a digest nor an image location: {ex.Message}", node);
                return null;
            }
        }

        private PackSource? ReadSource(YamlNode node)
        {
            var text = Scalar(node, "from");
            if (text is null)
            {
                return null;
            }

            var position = At(node);
            var scheme = SchemePattern().Match(text);
            if (!scheme.Success || (scheme.Groups["scheme"].Value.Length == 1 && OperatingSystem.IsWindows()))
            {
                return LocalSource(text, text, null, position, node);
            }

            var name = scheme.Groups["scheme"].Value.ToLowerInvariant();
            var rest = text[scheme.Length..];
            var slashes = rest.StartsWith("//", StringComparison.Ordinal);
            switch (name)
            {
                case "file" when slashes:
                    return LocalSource(text, rest[2..], PackSourceKind.File, position, node);
                case "dir" when slashes:
                    return LocalSource(text, rest[2..], PackSourceKind.Directory, position, node);
                case "http" or "https":
                    return HttpSource(text, position, node);
                case "s3" when slashes:
                    var bucketAndKey = rest[2..];
                    var slash = bucketAndKey.IndexOf('/', StringComparison.Ordinal);
                    if (slash <= 0 || slash == bucketAndKey.Length - 1)
                    {
                        Error("SourceInvalid", $"'{text}' is not an S3 location: write s3://bucket/key", node);
                        return null;
                    }

                    if (!HasS3Credentials(node))
                    {
                        return null;
                    }

                    return new PackSource(text, PackSourceKind.S3, text, null, position);
                case "oci" or "docker" or "cr" when slashes:
                    var reference = rest[2..];
                    if (!ImageReference.TryParse(reference, out _, out var reason))
                    {
                        Error("SourceInvalid", $"'{text}' does not name an image in a registry: {reason}", node);
                        return null;
                    }

                    return new PackSource(text, PackSourceKind.Image, "docker://" + reference, null, position);
                case "oci" or "oci-archive" or "docker-archive":
                    try
                    {
                        var location = ImageLocation.Parse(text, Resolve);
                        if (location.Path is { } local && !File.Exists(local) && !Directory.Exists(local))
                        {
                            Error("FileNotFound", $"'{text}': '{local}' does not exist", node);
                            return null;
                        }

                        return new PackSource(text, PackSourceKind.Image, location.ToString(), null, position);
                    }
                    catch (OciException ex)
                    {
                        Error("SourceInvalid", ex.Message, node);
                        return null;
                    }

                default:
                    Error("SchemeUnknown", $"'{text}' has the unknown scheme '{name}:'; use file://, dir://, http(s)://, oci://, docker://, oci:, oci-archive: or s3://", node);
                    return null;
            }
        }

        private PackSource? LocalSource(string text, string relative, PackSourceKind? kind, PackPosition position, YamlNode node)
        {
            if (relative.Length == 0)
            {
                Error("SourceInvalid", $"'{text}' names no path", node);
                return null;
            }

            var full = Resolve(Uri.UnescapeDataString(relative));
            var isDirectory = Directory.Exists(full);
            if (!isDirectory && !File.Exists(full))
            {
                Error("FileNotFound", $"'{text}': '{full}' does not exist", node);
                return null;
            }

            kind ??= isDirectory ? PackSourceKind.Directory : PackSourceKind.File;
            if (kind == PackSourceKind.File && isDirectory)
            {
                Error("SourceInvalid", $"'{text}' is a directory; write dir://{relative} to pack it", node);
                return null;
            }

            if (kind == PackSourceKind.Directory && !isDirectory)
            {
                Error("SourceInvalid", $"'{text}' is a file, not a directory; write file://{relative}", node);
                return null;
            }

            return new PackSource(text, kind.Value, full, null, position);
        }

        private PackSource? HttpSource(string text, PackPosition position, YamlNode node)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
            {
                Error("SourceInvalid", $"'{text}' is not a valid URL", node);
                return null;
            }

            Digest? pin = null;
            var fragment = uri.Fragment.TrimStart('#');
            if (fragment.Length > 0)
            {
                var separator = fragment.IndexOf('=', StringComparison.Ordinal);
                var pinned = separator > 0 ? fragment[..separator] + ":" + fragment[(separator + 1)..] : fragment;
                if (!Digest.TryParse(pinned, out var digest, out var reason))
                {
                    Error("DigestInvalid", $"'{text}': the fragment pins no valid digest (write #sha256=<64 hex digits>): {reason}", node);
                    return null;
                }

                pin = digest;
            }

            var url = new UriBuilder(uri) { Fragment = string.Empty }.Uri.AbsoluteUri;
            return new PackSource(text, PackSourceKind.Http, url, pin, position);
        }

        private Platform? ReadPlatform(YamlNode node) =>
            Checked<Platform>(node, "platform", "PlatformInvalid", text =>
                TryParsePlatform(text, out var platform, out var reason) ? (platform, null) : (null, $"'{text}' is not a valid platform: {reason}"));

        private string? ReadTitle(YamlNode node) =>
            Checked<string>(node, "title", "TitleInvalid", title =>
            {
                var parts = title.Replace('\\', '/').Split('/');
                return title.Length == 0 || title.StartsWith('/') || parts.Any(p => p is ".." or "") || title.Contains('\0', StringComparison.Ordinal)
                    ? (null, $"the title '{title}' must be a relative file name without '..' or empty parts")
                    : (title, null);
            });

        private Digest? ReadDigest(YamlNode node) =>
            Checked<Digest>(node, "digest", "DigestInvalid", text =>
                Digest.TryParse(text.Contains(':', StringComparison.Ordinal) ? text : "sha256:" + text, out var digest, out var reason)
                    ? (digest, null)
                    : (null, $"'{text}' is not a valid digest: {reason}"));

        private string? MediaType(YamlNode node, string field) =>
            Checked<string>(node, field, "MediaTypeInvalid", text =>
                IsValidMediaType(text) ? (text, null) : (null, $"'{text}' is not a valid media type (RFC 6838: type/subtype, e.g. application/vnd.example.data)"));

        /// <summary>A scalar field checked by <paramref name="check"/>, which gives the value or what is wrong with it (reported at the node).</summary>
        private T? Checked<T>(YamlNode node, string field, string code, Func<string, (T? Value, string? Problem)> check)
            where T : class
        {
            if (Scalar(node, field) is not { } text)
            {
                return null;
            }

            var (value, problem) = check(text);
            if (problem is not null)
            {
                Error(code, problem, node);
            }

            return value;
        }

        private void ReadAnnotations(YamlNode node, Dictionary<string, string> annotations)
        {
            if (IsNull(node))
            {
                return;
            }

            if (node is not YamlMappingNode mapping)
            {
                Error("FieldInvalid", "'annotations' is a mapping of names to strings", node);
                return;
            }

            foreach (var (keyNode, value) in mapping.Children)
            {
                if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key })
                {
                    Error("FieldInvalid", "an annotation name must be a non-empty string", keyNode);
                    continue;
                }

                var text = Scalar(value, $"the annotation '{key}'");
                if (text is not null)
                {
                    annotations[key] = text;
                }
            }
        }

        private void CheckTitles(List<PackItem> items)
        {
            // Items without a platform go into every platform's manifest, so they clash with all of them.
            var seen = new Dictionary<string, List<PackItem>>(StringComparer.Ordinal);
            foreach (var item in items.Where(i => i.Title is not null && i.From.Kind != PackSourceKind.Image))
            {
                if (!seen.TryGetValue(item.Title!, out var earlier))
                {
                    seen[item.Title!] = earlier = [];
                }

                var clash = earlier.FirstOrDefault(e => e.Platform is null || item.Platform is null || e.Platform.Matches(item.Platform));
                if (clash is not null)
                {
                    Errors.Add(new PackFileError("TitleDuplicate", $"the title '{item.Title}' is already used by the item at {clash.Position} ('{clash.From.Text}'); give one of them another 'title'", item.Position));
                }

                earlier.Add(item);
            }
        }

        private string Key(YamlNode keyNode, string[] allowed, string where)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
            if (!allowed.Contains(key, StringComparer.Ordinal))
            {
                Error("FieldUnknown", $"'{key}' is not a field of {where}; expected one of: {string.Join(", ", allowed)}", keyNode);
                return string.Empty;
            }

            return key;
        }

        private string? Scalar(YamlNode node, string field)
        {
            if (node is not YamlScalarNode scalar || scalar.Value is null || IsNull(node))
            {
                Error("FieldInvalid", $"{(field.StartsWith("the ", StringComparison.Ordinal) ? field : $"'{field}'")} must be a string", node);
                return null;
            }

            return Expand(scalar.Value, node);
        }

        /// <summary><c>${NAME}</c> and <c>${NAME:-default}</c> from the environment; <c>$$</c> is a literal dollar.</summary>
        private string? Expand(string value, YamlNode node)
        {
            var failed = false;
            var expanded = VariablePattern().Replace(value, match =>
            {
                if (match.Value == "$$")
                {
                    return "$";
                }

                if (!match.Groups["name"].Success || !match.Value.EndsWith('}'))
                {
                    Error("VariableInvalid", $"'{match.Value}' is not a variable reference: write ${{NAME}} or ${{NAME:-default}} (and $$ for a literal $)", node);
                    failed = true;
                    return match.Value;
                }

                var name = match.Groups["name"].Value;
                var found = options.Environment(name);
                if (!string.IsNullOrEmpty(found))
                {
                    return found;
                }

                if (match.Groups["default"].Success)
                {
                    return match.Groups["default"].Value;
                }

                Error("VariableUndefined", $"the environment variable '{name}' is not set (write ${{{name}:-default}} for a default)", node);
                failed = true;
                return match.Value;
            });
            return failed ? null : expanded;
        }

        private string Resolve(string relative) =>
            System.IO.Path.GetFullPath(relative.StartsWith("~/", StringComparison.Ordinal)
                ? System.IO.Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), relative[2..])
                : relative, baseDirectory);

        private static string? DefaultTitle(PackSource source) => source.Kind switch
        {
            PackSourceKind.File or PackSourceKind.Directory => System.IO.Path.GetFileName(source.Location.TrimEnd('/', System.IO.Path.DirectorySeparatorChar)),
            PackSourceKind.Http or PackSourceKind.S3 => Uri.TryCreate(source.Location, UriKind.Absolute, out var uri) && uri.Segments.Length > 0
                ? NullIfEmpty(Uri.UnescapeDataString(uri.Segments[^1]).Trim('/'))
                : null,
            _ => null,
        };

        private static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;

        private static bool IsNull(YamlNode node) =>
            node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" };

        /// <summary>S3 objects are read with the AWS CLI's environment variables; without them nothing is uploaded.</summary>
        private bool HasS3Credentials(YamlNode node)
        {
            try
            {
                if (S3Settings.FromEnvironment(options.Environment) is not null)
                {
                    return true;
                }

                Error("S3CredentialsMissing", "s3:// sources need AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN for temporary ones, AWS_REGION, and AWS_ENDPOINT_URL for an S3-compatible server)", node);
            }
            catch (OciException ex)
            {
                Error(ex.ErrorId, ex.Message, node);
            }

            return false;
        }

        private void Error(string code, string message, YamlNode node) => Errors.Add(new PackFileError(code, message, At(node)));
    }
}
