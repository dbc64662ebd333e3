using System.Text.Json;
using OciPS.Core.Build.Dockerfile;
using OciPS.Core.Build.Layers;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>One <c>FROM</c> … section of a Dockerfile, as found before the build starts.</summary>
internal sealed record StageDefinition(int Index, string? Name, DockerfileInstruction From, IReadOnlyList<DockerfileInstruction> Instructions);

/// <summary>A history step of a stage, with the layer it added (null for metadata-only steps).</summary>
internal sealed record StageStep(DockerfileInstruction Instruction, Func<BuiltLayer?, string> CreatedBy, Task<BuiltLayer>? Layer);

/// <summary>
/// The state of a stage while it is built: the config being changed, the ARGs in scope, the steps and
/// their layer tasks (compressing in parallel), and once done the image it produced.
/// </summary>
internal sealed class BuildStage
{
    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    public BuildStage(StageDefinition definition, Platform platform)
    {
        Definition = definition;
        Platform = platform;
    }

    public StageDefinition Definition { get; }

    public Platform Platform { get; set; }

    /// <summary>The base image, or null for scratch.</summary>
    public OciImage? Base { get; set; }

    public ImageConfig Config { get; set; } = new();

    public ContainerConfig Container { get; set; } = new();

    /// <summary>ARGs declared in this stage and their values (null: declared without a value).</summary>
    public Dictionary<string, string?> Args { get; } = new(StringComparer.Ordinal);

    public List<StageStep> Steps { get; } = [];

    /// <summary>The stage's files as instructions see them (the base's index and what this stage wrote); set when the stage starts.</summary>
    public StageTree Tree { get; set; } = null!;

    public bool CmdSet { get; set; }

    /// <summary>The base image's ONBUILD triggers, run before the stage's own instructions.</summary>
    public List<DockerfileInstruction> PendingTriggers { get; } = [];

    /// <summary>The finished image, its source and its layers.</summary>
    public OciImage? Result { get; set; }

    /// <summary>Base layers by digest and the source holding them, for the built image's source.</summary>
    public Dictionary<Digest, IImageSource> External { get; } = [];

    /// <summary>Variable lookup for substitution: ENV wins over ARG, as in Docker.</summary>
    public string? Lookup(string name)
    {
        foreach (var variable in Container.Env ?? [])
        {
            var equals = variable.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && variable.AsSpan(0, equals).SequenceEqual(name))
            {
                return variable[(equals + 1)..];
            }
        }

        return Args.TryGetValue(name, out var value) ? value : null;
    }

    public void SetEnv(string name, string value)
    {
        var env = (Container.Env ?? []).Where(e => !e.StartsWith(name + "=", StringComparison.Ordinal) && e != name).ToList();
        env.Add(name + "=" + value);
        Container = Container with { Env = env };
    }

    public void SetLabel(string name, string value)
    {
        var labels = new Dictionary<string, string>(Container.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal) { [name] = value };
        Container = Container with { Labels = labels };
    }

    public void AddExposedPort(string port)
    {
        var ports = new Dictionary<string, JsonElement>(Container.ExposedPorts ?? new Dictionary<string, JsonElement>(), StringComparer.Ordinal) { [port] = EmptyObject };
        Container = Container with { ExposedPorts = ports };
    }

    public void AddVolume(string path)
    {
        var volumes = new Dictionary<string, JsonElement>(Container.Volumes ?? new Dictionary<string, JsonElement>(), StringComparer.Ordinal) { [path] = EmptyObject };
        Container = Container with { Volumes = volumes };
    }

    /// <summary>The shell for shell-form commands: SHELL's, else the base's, else /bin/sh -c.</summary>
    public IReadOnlyList<string> Shell => Container.Shell is { Count: > 0 } shell ? shell : ["/bin/sh", "-c"];

    /// <summary>The working directory for relative destinations.</summary>
    public string WorkingDirectory => string.IsNullOrEmpty(Container.WorkingDir) ? "/" : Container.WorkingDir;
}
