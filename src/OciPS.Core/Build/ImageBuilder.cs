using System.Collections.Concurrent;
using System.Globalization;
using OciPS.Core.Build.Context;
using OciPS.Core.Build.Dockerfile;
using OciPS.Core.Build.Layers;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>
/// Builds an image from a Dockerfile without a container runtime. The whole Dockerfile is parsed and
/// checked first (RUN is refused, naming its line, before anything is read or written); then the
/// needed stages run in order. Metadata instructions change the config; COPY, ADD and WORKDIR each
/// start a layer task that writes and compresses in parallel with the rest. Base layers are never
/// read: the result lists them by descriptor and serves them from the base's own source.
/// </summary>
public sealed class ImageBuilder : IDisposable
{
    private static readonly string[] PlatformArgs = ["TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT"];

    private readonly ImageBuildOptions _options;
    private readonly string _file;
    private readonly SemaphoreSlim _compressors;
    private readonly ConcurrentDictionary<Digest, IImageSource> _external = new();
    private DockerfileDocument _document = null!;
    private BuildPlan _plan = null!;
    private BuildContext _context = null!;
    private OciLayoutWriter _staging = null!;
    private Dictionary<string, string?> _globalArgs = new(StringComparer.Ordinal);
    private string _created = string.Empty;

    private ImageBuilder(ImageBuildOptions options)
    {
        _options = options;
        _file = options.DockerfilePath is null ? "Dockerfile" : Path.GetFileName(options.DockerfilePath);
        _compressors = new SemaphoreSlim(Math.Max(1, options.MaxParallelism));
    }

    /// <summary>Parses and checks the Dockerfile without building: throws what the build would throw before doing any work.</summary>
    public static void Validate(ImageBuildOptions options)
    {
        using var builder = new ImageBuilder(options);
        builder.Prepare(options.Platforms.Count > 0 ? options.Platforms[0] : Platform.Default);
    }

    public static async Task<ImageBuildResult> BuildAsync(ImageBuildOptions options, CancellationToken cancellationToken)
    {
        using var builder = new ImageBuilder(options);
        return await builder.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _compressors.Dispose();

    private void Prepare(Platform platform)
    {
        var path = _options.DockerfilePath ?? Path.Combine(_options.ContextDirectory, "Dockerfile");
        if (!File.Exists(path))
        {
            throw new BuildException("DockerfileNotFound", OciErrorKind.NotFound, $"No Dockerfile at '{path}'.", path);
        }

        _document = DockerfileParser.Parse(File.ReadAllText(path), _file);
        _globalArgs = GlobalArgs(platform);
        _plan = BuildPlan.Create(_document, _options.Target, MetaLookup);
        _context = BuildContext.Open(_options.ContextDirectory, path);
        foreach (var name in _options.BuildArgs.Keys.Where(name => !IsDeclared(name)))
        {
            _options.Warning?.Invoke($"The build argument '{name}' is not declared by any ARG in {_file}; it is not used.");
        }
    }

    private async Task<ImageBuildResult> RunAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<Platform?> platforms = _options.Platforms.Count > 0 ? [.. _options.Platforms] : [null];
        Prepare(platforms[0] ?? Platform.Default);
        _staging = OciLayoutWriter.Open(_options.StagingDirectory);
        _created = (_options.SourceDateEpoch is { } epoch ? DateTimeOffset.FromUnixTimeSeconds(epoch) : DateTimeOffset.UtcNow)
            .UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

        var images = new List<BuiltPlatformImage>();
        foreach (var platform in platforms)
        {
            _globalArgs = GlobalArgs(platform ?? Platform.Default);
            images.Add(await BuildPlatformAsync(platform, cancellationToken).ConfigureAwait(false));
        }

        var root = images.Count == 1
            ? images[0].Manifest
            : await ImageAssembler.AssembleIndexAsync(images, _options, _staging, cancellationToken).ConfigureAwait(false);
        var source = new BuiltImageSource(_staging, _external, root, "build of " + _file);
        return new ImageBuildResult(source, root, images);
    }

    private async Task<BuiltPlatformImage> BuildPlatformAsync(Platform? platform, CancellationToken cancellationToken)
    {
        var done = new Dictionary<int, BuildStage>();
        var planner = new CopyPlanner(_context, _options, Path.Combine(_options.StagingDirectory, "downloads"));
        var stages = _plan.Stages.Where(s => _plan.Needed.Contains(s.Index)).ToArray();
        var key = "build:" + (platform?.ToString() ?? "default");
        var activity = $"Building {_file}" + (platform is null ? string.Empty : " for " + platform);
        var total = stages.Sum(s => s.Instructions.Count + 1);
        var step = 0;
        foreach (var definition in stages)
        {
            _options.Progress?.Report(new OciProgress(key, null, activity, $"line {definition.From.StartLine}: FROM", step++, total, false, false));
            var stage = await StartStageAsync(definition, platform, done, cancellationToken).ConfigureAwait(false);
            stage.Tree = new StageTree(stage.Base, _file);
            var dispatcher = new StageDispatcher(this, stage, planner, done);
            foreach (var instruction in stage.PendingTriggers.Concat(stage.Definition.Instructions))
            {
                _options.Progress?.Report(new OciProgress(key, null, activity, $"line {instruction.StartLine}: {instruction.Keyword}", step++, total, false, false));
                await dispatcher.DispatchAsync(instruction, cancellationToken).ConfigureAwait(false);
            }

            _options.Progress?.Report(new OciProgress(key, null, activity, "writing and compressing layers", step, total, false, false));
            await FinishStageAsync(stage, cancellationToken).ConfigureAwait(false);
            done[definition.Index] = stage;
        }

        _options.Progress?.Report(new OciProgress(key, null, activity, "done", total, total, false, true));

        var target = done[_plan.Target.Index];
        var image = target.Result!;
        var newLayers = image.Manifest.Layers.Skip(target.Base?.Manifest.Layers.Count ?? 0).ToArray();
        return new BuiltPlatformImage(target.Platform, image.Content, image.ConfigDescriptor, newLayers);
    }

    private async Task<BuildStage> StartStageAsync(StageDefinition definition, Platform? requested, Dictionary<int, BuildStage> done, CancellationToken cancellationToken)
    {
        var lexer = new ShellLexer(_document.Escape);
        var flags = InstructionSyntax.Flags(definition.From, _file);
        var platform = requested;
        if (flags.TryGetValue("platform", out var platformText))
        {
            var expanded = Expand(lexer, platformText, MetaLookup, definition.From.StartLine);
            platform = Platform.TryParse(expanded, out var parsed, out var reason)
                ? parsed
                : throw new DockerfileSyntaxException(_file, definition.From.StartLine, $"invalid --platform '{expanded}': {reason}");
        }

        var name = BuildPlan.FromImage(definition.From, lexer, MetaLookup, _file);
        var stage = new BuildStage(definition, platform ?? Platform.Default);
        if (name.Equals("scratch", StringComparison.OrdinalIgnoreCase))
        {
            stage.Config = new ImageConfig { Os = stage.Platform.Os, Architecture = stage.Platform.Architecture, Variant = stage.Platform.Variant };
            stage.Container = new ContainerConfig { Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] };
            return stage;
        }

        if (BuildPlan.FindStage(name, _plan.Stages, definition.Index) is { } previous)
        {
            var built = done[previous.Index];
            stage.Base = built.Result;
            stage.Platform = built.Platform;
            foreach (var (digest, source) in built.External)
            {
                stage.External[digest] = source;
            }
        }
        else
        {
            stage.Base = await LoadImageAsync(name, platform, definition.From.StartLine, cancellationToken).ConfigureAwait(false);
            stage.Platform = stage.Base.Platform ?? stage.Platform;
            foreach (var layer in stage.Base.Manifest.Layers)
            {
                stage.External[layer.Digest] = stage.Base.Source;
            }
        }

        stage.Config = stage.Base!.Config ?? throw new BuildException("BuildBaseNotAnImage", OciErrorKind.InvalidData, $"{_file}:{definition.From.StartLine}: '{name}' is not a container image (its config is {stage.Base.Manifest.Config.MediaType}).", name);
        stage.Container = stage.Config.Config ?? new ContainerConfig();
        if (stage.Container.OnBuild is { Count: > 0 } triggers)
        {
            stage.Container = stage.Container with { OnBuild = null };
            var document = DockerfileParser.Parse(string.Join('\n', triggers) + "\n", _file + " (ONBUILD of " + name + ")");
            foreach (var trigger in document.Instructions)
            {
                BuildPlan.Check(trigger with { StartLine = definition.From.StartLine }, _file);
            }

            stage.PendingTriggers.AddRange(document.Instructions.Select(t => t with { StartLine = definition.From.StartLine, EndLine = definition.From.StartLine }));
        }

        return stage;
    }

    /// <summary>Reads an image for FROM or COPY --from: any location ImageSources can open, the best match for the platform.</summary>
    internal async Task<OciImage> LoadImageAsync(string name, Platform? platform, int line, CancellationToken cancellationToken)
    {
        IImageSource source;
        try
        {
            source = ImageSources.Open(name, _options.ResolvePath, _options.SourceOptions);
        }
        catch (OciException ex)
        {
            throw new BuildException(ex.ErrorId, ex.Kind, $"{_file}:{line}: {ex.Message}", name, ex);
        }

        var manifest = await ImageLoader.LoadAsync(source, platform, cancellationToken).ConfigureAwait(false);
        return manifest as OciImage ?? await ImageLoader.SelectAsync((OciIndex)manifest, platform ?? Platform.Default, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts a layer task: written and compressed in the background, at most MaxParallelism at once.</summary>
    internal Task<BuiltLayer> StartLayer(Func<CancellationToken, IAsyncEnumerable<LayerItem>> items, CancellationToken cancellationToken) =>
        Task.Run(
            async () =>
            {
                await _compressors.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    return await LayerBlobWriter.WriteAsync(items(cancellationToken), _options.Compression, Path.Combine(_staging.Root, "blobs", Digest.Sha256), _options.Format == BuildFormat.Oci, _options.MaxParallelism, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _compressors.Release();
                }
            },
            cancellationToken);

    /// <summary>Waits for the stage's layers, writes its config and manifest, and loads it as an image (for later stages and the output).</summary>
    internal async Task<OciImage> SnapshotAsync(BuildStage stage, CancellationToken cancellationToken)
    {
        var steps = new List<(StageStep, BuiltLayer?)>();
        foreach (var step in stage.Steps)
        {
            steps.Add((step, step.Layer is null ? null : await step.Layer.ConfigureAwait(false)));
        }

        var (manifest, _) = await ImageAssembler.AssembleAsync(stage, steps, _options, _created, _staging, cancellationToken).ConfigureAwait(false);
        foreach (var (digest, holder) in stage.External)
        {
            _external[digest] = holder;
        }

        var external = new ConcurrentDictionary<Digest, IImageSource>(stage.External);
        var source = new BuiltImageSource(_staging, external, manifest, stage.Definition.Name ?? "stage " + stage.Definition.Index.ToString(CultureInfo.InvariantCulture));
        return (OciImage)await ImageLoader.LoadAsync(source, null, cancellationToken).ConfigureAwait(false);
    }

    private async Task FinishStageAsync(BuildStage stage, CancellationToken cancellationToken)
    {
        try
        {
            stage.Result = await SnapshotAsync(stage, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (stage.Steps.Any(s => s.Layer is { IsFaulted: true }))
        {
            throw stage.Steps.First(s => s.Layer is { IsFaulted: true }).Layer!.Exception!.InnerException!;
        }
    }

    internal string FileName => _file;

    internal ImageBuildOptions Options => _options;

    internal char Escape => _document.Escape;

    internal IReadOnlyList<StageDefinition> Stages => _plan.Stages;

    /// <summary>The value of a global ARG (declared before the first FROM), for <c>ARG name</c> without a default in a stage.</summary>
    internal bool TryGetGlobalArg(string name, out string? value) => _globalArgs.TryGetValue(name, out value);

    internal static string? AutomaticArg(string name, Platform platform) => name switch
    {
        "TARGETPLATFORM" => platform.ToString(),
        "TARGETOS" => platform.Os,
        "TARGETARCH" => platform.Architecture,
        "TARGETVARIANT" => platform.Variant ?? string.Empty,
        "BUILDPLATFORM" => Platform.Default.ToString(),
        "BUILDOS" => Platform.Default.Os,
        "BUILDARCH" => Platform.Default.Architecture,
        "BUILDVARIANT" => Platform.Default.Variant ?? string.Empty,
        _ => null,
    };

    internal string Expand(ShellLexer lexer, string word, Func<string, string?> lookup, int line)
    {
        try
        {
            return lexer.ProcessWord(word, lookup);
        }
        catch (FormatException ex)
        {
            throw new DockerfileSyntaxException(_file, line, ex.Message);
        }
    }

    private string? MetaLookup(string name) => _globalArgs.TryGetValue(name, out var value) ? value : null;

    private Dictionary<string, string?> GlobalArgs(Platform platform)
    {
        var args = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in PlatformArgs)
        {
            args[name] = AutomaticArg(name, platform);
        }

        if (_document is null)
        {
            return args;
        }

        var lexer = new ShellLexer(_document.Escape);
        foreach (var instruction in _document.Instructions.TakeWhile(i => i.Keyword != "FROM").Where(i => i.Keyword == "ARG"))
        {
            foreach (var (name, defaultValue) in InstructionSyntax.ArgDeclarations(instruction, lexer, _file))
            {
                args[name] = _options.BuildArgs.TryGetValue(name, out var given)
                    ? given
                    : defaultValue is null ? args.GetValueOrDefault(name) : Expand(lexer, defaultValue, n => args.GetValueOrDefault(n), instruction.StartLine);
            }
        }

        return args;
    }

    private bool IsDeclared(string name)
    {
        var lexer = new ShellLexer(_document.Escape);
        return _document.Instructions.Where(i => i.Keyword == "ARG")
            .Any(i => InstructionSyntax.ArgDeclarations(i, lexer, _file).Any(d => d.Name == name));
    }
}
