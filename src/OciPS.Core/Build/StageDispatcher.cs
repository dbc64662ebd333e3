using System.Globalization;
using System.Text;
using System.Text.Json;
using OciPS.Core.Build.Dockerfile;
using OciPS.Core.Build.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>
/// Carries out one stage's instructions: substitution with the stage's ENV and ARG values as they
/// stand at each line (Docker expands all of an ENV line with the values before it), config changes,
/// and COPY/ADD/WORKDIR layers. History lines follow the classic builder's <c>#(nop)</c> style.
/// </summary>
internal sealed class StageDispatcher(ImageBuilder builder, BuildStage stage, CopyPlanner planner, Dictionary<int, BuildStage> done)
{
    private const string Nop = "/bin/sh -c #(nop) ";
    private readonly ShellLexer _lexer = new(builder.Escape);
    private (string? Passwd, string? Group)? _accounts;

    public async Task DispatchAsync(DockerfileInstruction instruction, CancellationToken cancellationToken)
    {
        var line = instruction.StartLine;
        switch (instruction.Keyword)
        {
            case "ENV":
            {
                var pairs = InstructionSyntax.NameValues(instruction, _lexer, builder.FileName)
                    .Select(p => (Name: Expand(p.Name, line), Value: Expand(p.Value, line))).ToArray();
                foreach (var (name, value) in pairs)
                {
                    stage.SetEnv(name, value);
                }

                Record(instruction, "ENV " + string.Join(' ', pairs.Select(p => p.Name + "=" + p.Value)));
                break;
            }

            case "LABEL":
            {
                var pairs = InstructionSyntax.NameValues(instruction, _lexer, builder.FileName)
                    .Select(p => (Name: Expand(p.Name, line), Value: Expand(p.Value, line))).ToArray();
                foreach (var (name, value) in pairs)
                {
                    stage.SetLabel(name, value);
                }

                Record(instruction, "LABEL " + string.Join(' ', pairs.Select(p => p.Name + "=" + p.Value)));
                break;
            }

            case "ARG":
                foreach (var (name, defaultValue) in InstructionSyntax.ArgDeclarations(instruction, _lexer, builder.FileName))
                {
                    string? value;
                    if (builder.Options.BuildArgs.TryGetValue(name, out var given))
                    {
                        value = given;
                    }
                    else if (defaultValue is not null)
                    {
                        value = Expand(defaultValue, line);
                    }
                    else if (builder.TryGetGlobalArg(name, out var global))
                    {
                        value = global;
                    }
                    else
                    {
                        value = ImageBuilder.AutomaticArg(name, stage.Platform);
                    }

                    stage.Args[name] = value;
                    Record(instruction, "ARG " + name + (value is null ? string.Empty : "=" + value));
                }

                break;

            case "CMD":
                stage.Container = stage.Container with { Cmd = Command(instruction) };
                stage.CmdSet = true;
                Record(instruction, "CMD " + GoList(stage.Container.Cmd!));
                break;

            case "ENTRYPOINT":
                stage.Container = stage.Container with { Entrypoint = Command(instruction), Cmd = stage.CmdSet ? stage.Container.Cmd : null };
                Record(instruction, "ENTRYPOINT " + GoList(stage.Container.Entrypoint!));
                break;

            case "SHELL":
                stage.Container = stage.Container with
                {
                    Shell = instruction.Json is { Count: > 0 } shell
                        ? shell
                        : throw new DockerfileSyntaxException(builder.FileName, line, "SHELL requires the arguments to be in JSON form"),
                };
                Record(instruction, "SHELL " + GoList(stage.Container.Shell!));
                break;

            case "USER":
                stage.Container = stage.Container with { User = Expand(instruction.Arguments, line) };
                Record(instruction, "USER " + stage.Container.User);
                break;

            case "STOPSIGNAL":
                stage.Container = stage.Container with { StopSignal = Expand(instruction.Arguments, line) };
                Record(instruction, "STOPSIGNAL " + stage.Container.StopSignal);
                break;

            case "MAINTAINER":
                stage.Config = stage.Config with { Author = Expand(instruction.Arguments, line) };
                Record(instruction, "MAINTAINER " + stage.Config.Author);
                break;

            case "EXPOSE":
                foreach (var port in InstructionSyntax.WhitespaceDelimited(instruction.Arguments).Select(w => Expand(w, line)))
                {
                    foreach (var spec in Ports(port, line))
                    {
                        stage.AddExposedPort(spec);
                    }
                }

                Record(instruction, "EXPOSE " + string.Join(' ', stage.Container.ExposedPorts!.Keys.Order(StringComparer.Ordinal)));
                break;

            case "VOLUME":
            {
                var volumes = (instruction.Json ?? InstructionSyntax.WhitespaceDelimited(instruction.Arguments)).Select(v => Expand(v, line)).ToArray();
                if (volumes.Length == 0 || volumes.Any(v => v.Length == 0))
                {
                    throw new DockerfileSyntaxException(builder.FileName, line, "VOLUME specified can not be an empty string");
                }

                foreach (var volume in volumes)
                {
                    stage.AddVolume(volume);
                }

                Record(instruction, "VOLUME [" + string.Join(' ', volumes) + "]");
                break;
            }

            case "HEALTHCHECK":
                stage.Container = stage.Container with { Healthcheck = Healthcheck(instruction) };
                Record(instruction, "HEALTHCHECK " + instruction.Arguments);
                break;

            case "ONBUILD":
                stage.Container = stage.Container with { OnBuild = [.. stage.Container.OnBuild ?? [], instruction.Arguments] };
                Record(instruction, "ONBUILD " + instruction.Arguments);
                break;

            case "WORKDIR":
                await WorkdirAsync(instruction, cancellationToken).ConfigureAwait(false);
                break;

            case "COPY" or "ADD":
                await CopyAsync(instruction, cancellationToken).ConfigureAwait(false);
                break;

            default:
                BuildPlan.Check(instruction, builder.FileName);
                throw new DockerfileSyntaxException(builder.FileName, line, $"unexpected {instruction.Keyword}");
        }
    }

#pragma warning disable CS1998 // an iterator over a list, async to fit the layer writer
    private static async IAsyncEnumerable<LayerItem> AsAsync(IEnumerable<LayerItem> items)
#pragma warning restore CS1998
    {
        foreach (var item in items)
        {
            yield return item;
        }
    }

    private string Expand(string word, int line) => builder.Expand(_lexer, word, stage.Lookup, line);

    /// <summary>A flag value with its quotes removed and no variable expanded (Docker expands only some flags).</summary>
    private string Unquote(string value) => _lexer.ProcessWord(value, _ => null);

    private void Record(DockerfileInstruction instruction, string text) =>
        stage.Steps.Add(new StageStep(instruction, _ => Nop + text, null));

    private IReadOnlyList<string> Command(DockerfileInstruction instruction) =>
        instruction.Json ?? [.. stage.Shell, instruction.Arguments];

    private static string GoList(IReadOnlyList<string> items) =>
        "[" + string.Join(' ', items.Select(i => JsonSerializer.Serialize(i))) + "]";

    private IEnumerable<string> Ports(string text, int line)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var protocol = slash < 0 ? "tcp" : text[(slash + 1)..].ToLowerInvariant();
        var range = slash < 0 ? text : text[..slash];
        var dash = range.IndexOf('-', StringComparison.Ordinal);
        if (protocol is not ("tcp" or "udp" or "sctp") ||
            !int.TryParse(dash < 0 ? range : range[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var first) ||
            !int.TryParse(dash < 0 ? range : range[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var last) ||
            first < 1 || last > 65535 || last < first)
        {
            throw new DockerfileSyntaxException(builder.FileName, line, $"invalid EXPOSE port '{text}' (use PORT[/tcp|udp|sctp] or a range FIRST-LAST)");
        }

        for (var port = first; port <= last; port++)
        {
            yield return port.ToString(CultureInfo.InvariantCulture) + "/" + protocol;
        }
    }

    private HealthcheckConfig Healthcheck(DockerfileInstruction instruction)
    {
        var line = instruction.StartLine;
        var words = InstructionSyntax.WhitespaceDelimited(instruction.Arguments);
        var kind = words.Count > 0 ? words[0].ToUpperInvariant() : string.Empty;
        if (kind == "NONE")
        {
            return words.Count == 1 && instruction.Flags.Count == 0
                ? new HealthcheckConfig { Test = ["NONE"] }
                : throw new DockerfileSyntaxException(builder.FileName, line, "HEALTHCHECK NONE takes no other arguments");
        }

        if (kind != "CMD" || words.Count < 2)
        {
            throw new DockerfileSyntaxException(builder.FileName, line, "HEALTHCHECK takes NONE or CMD <command>");
        }

        var command = instruction.Arguments[3..].Trim();
        IReadOnlyList<string> test = instruction.Json is { } json ? ["CMD", .. json] : ["CMD-SHELL", command];
        var flags = InstructionSyntax.Flags(instruction, builder.FileName);
        long? Duration(string name) => flags.TryGetValue(name, out var value) ? InstructionSyntax.ParseDuration(Unquote(value), name, builder.FileName, line) : null;
        int? retries = null;
        if (flags.TryGetValue("retries", out var retriesQuoted) && Unquote(retriesQuoted) is var retriesText)
        {
            retries = int.TryParse(retriesText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed > 0
                ? parsed
                : throw new DockerfileSyntaxException(builder.FileName, line, "--retries must be at least 1");
        }

        return new HealthcheckConfig
        {
            Test = test,
            Interval = Duration("interval"),
            Timeout = Duration("timeout"),
            StartPeriod = Duration("start-period"),
            StartInterval = Duration("start-interval"),
            Retries = retries,
        };
    }

    /// <summary>
    /// WORKDIR as BuildKit does it: the path's links followed in the stage's files, only missing
    /// directories made (0755, owned by USER when set); an existing directory is left as it is and
    /// then, with nothing to write, the step adds no layer.
    /// </summary>
    private async Task WorkdirAsync(DockerfileInstruction instruction, CancellationToken cancellationToken)
    {
        var line = instruction.StartLine;
        var requested = Expand(instruction.Arguments, line);
        var path = CopyPlanner.Normalise(requested.StartsWith('/') ? requested : stage.WorkingDirectory.TrimEnd('/') + "/" + requested);
        stage.Container = stage.Container with { WorkingDir = "/" + path };
        await stage.Tree.EnsureAsync(cancellationToken).ConfigureAwait(false);
        var resolved = stage.Tree.Resolve(path, line);
        if (resolved.IsDirectory)
        {
            Record(instruction, "WORKDIR " + stage.Container.WorkingDir);
            return;
        }

        var owner = string.IsNullOrEmpty(stage.Container.User) ? (0, 0) : await ResolveOwnerAsync(stage.Container.User, line, cancellationToken).ConfigureAwait(false);
        var time = builder.Options.SourceDateEpoch is { } epoch ? new UnixTime(epoch, 0) : UnixTime.FromDateTimeOffset(DateTimeOffset.UtcNow);
        var items = stage.Tree.MakeDirectories(resolved.Path, owner, time, line);
        var layer = builder.StartLayer(_ => AsAsync(items), cancellationToken);
        var text = stage.Container.WorkingDir;
        stage.Steps.Add(new StageStep(instruction, _ => Nop + "WORKDIR " + text, layer));
    }

    private async Task CopyAsync(DockerfileInstruction instruction, CancellationToken cancellationToken)
    {
        var line = instruction.StartLine;
        var flags = InstructionSyntax.Flags(instruction, builder.FileName);
        var arguments = instruction.Json ?? InstructionSyntax.WhitespaceDelimited(instruction.Arguments);
        if (arguments.Count < 2)
        {
            throw new DockerfileSyntaxException(builder.FileName, line, $"{instruction.Keyword} requires at least two arguments, but only one was provided. Destination could not be determined.");
        }

        var heredocNames = instruction.Heredocs.Select(h => h.Name).ToHashSet(StringComparer.Ordinal);
        var sources = arguments.Take(arguments.Count - 1)
            .Select(s => DockerfileParser.TryParseHeredocWord(s, out var h) && heredocNames.Contains(h.Name) ? s : Expand(s, line))
            .ToArray();
        var destination = Expand(arguments[^1], line);
        var owner = flags.TryGetValue("chown", out var chown) ? await ResolveOwnerAsync(Expand(chown, line), line, cancellationToken).ConfigureAwait(false) : ((long, long)?)null;
        int? mode = null;
        if (flags.TryGetValue("chmod", out var chmod))
        {
            var text = Expand(chmod, line);
            try
            {
                mode = text.Length is > 0 and <= 4 ? Convert.ToInt32(text, 8) : throw new FormatException();
            }
            catch (FormatException)
            {
                throw new DockerfileSyntaxException(builder.FileName, line, $"invalid --chmod '{text}': give octal permissions such as 755 or 0644");
            }
        }

        CopyFromImage? from = null;
        if (flags.TryGetValue("from", out var fromText))
        {
            var reference = Expand(fromText, line);
            if (BuildPlan.FindStage(reference, builder.Stages, stage.Definition.Index) is { } source)
            {
                from = new CopyFromImage(done[source.Index].Result!, "stage " + (source.Name ?? reference));
            }
            else
            {
                var image = await builder.LoadImageAsync(reference, stage.Platform, line, cancellationToken).ConfigureAwait(false);
                from = new CopyFromImage(image, reference);
            }
        }

        var request = new CopyRequest(instruction, sources, destination, owner, mode, flags.GetValueOrDefault("checksum") is { } c ? Expand(c, line) : null, from, instruction.Keyword == "ADD");
        // --link copies "into scratch" (BuildKit): nothing of the stage is read, so no link is followed and
        // the destination's parents are written 0755 even where the base has them with another mode.
        var linked = flags.TryGetValue("link", out var link) && !Unquote(link).Equals("false", StringComparison.OrdinalIgnoreCase);
        var tree = linked ? new StageTree(null, builder.FileName) : stage.Tree;
        var plan = await planner.PlanAsync(stage, request, tree, cancellationToken).ConfigureAwait(false);
        var kind = plan.Kind;
        var layer = builder.StartLayer(plan.Items, cancellationToken);
        if (linked)
        {
            stage.Tree.Absorb(tree);
        }

        if (plan.Recorded is { } recorded)
        {
            stage.Tree.Attach(layer, recorded);
        }

        _accounts = null;
        var keyword = instruction.Keyword;
        var shownDestination = destination.StartsWith('/') ? destination : stage.WorkingDirectory.TrimEnd('/') + "/" + destination;
        stage.Steps.Add(new StageStep(instruction, built => $"{Nop}{keyword} {kind}:{built!.DiffId.Encoded} in {shownDestination} ", layer));
    }

    /// <summary>
    /// A --chown (or USER for WORKDIR) value as ids: numbers as they are, names looked up in the
    /// stage's /etc/passwd and /etc/group. A user without a group takes the user's id as the group, as Docker documents.
    /// </summary>
    private async Task<(long Uid, long Gid)> ResolveOwnerAsync(string text, int line, CancellationToken cancellationToken)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var user = colon < 0 ? text : text[..colon];
        var group = colon < 0 ? null : text[(colon + 1)..];
        var uid = await IdAsync(user, passwd: true, line, cancellationToken).ConfigureAwait(false);
        var gid = group is null ? uid : await IdAsync(group, passwd: false, line, cancellationToken).ConfigureAwait(false);
        return (uid, gid);
    }

    private async Task<long> IdAsync(string name, bool passwd, int line, CancellationToken cancellationToken)
    {
        if (long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return id;
        }

        _accounts ??= await ReadAccountsAsync(cancellationToken).ConfigureAwait(false);
        var file = passwd ? _accounts.Value.Passwd : _accounts.Value.Group;
        foreach (var entry in (file ?? string.Empty).Split('\n'))
        {
            var fields = entry.Split(':');
            if (fields.Length >= 3 && fields[0] == name && long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var found))
            {
                return found;
            }
        }

        throw new BuildException("BuildUserNotFound", OciErrorKind.NotFound,
            $"{builder.FileName}:{line}: unable to find {(passwd ? "user" : "group")} '{name}': {(file is null ? $"the stage has no /etc/{(passwd ? "passwd" : "group")}" : $"no matching entries in /etc/{(passwd ? "passwd" : "group")}")}.", name);
    }

    /// <summary>
    /// /etc/passwd and /etc/group of the stage as it stands: the base's, read with its file index, unless
    /// this stage's layers wrote to /etc; then the stage so far is merged again.
    /// </summary>
    private async Task<(string? Passwd, string? Group)> ReadAccountsAsync(CancellationToken cancellationToken)
    {
        await stage.Tree.EnsureAsync(cancellationToken).ConfigureAwait(false);
        if (stage.Tree.BaseAccountFile("etc/passwd") is (true, var basePasswd) && stage.Tree.BaseAccountFile("etc/group") is (true, var baseGroup))
        {
            return (basePasswd, baseGroup);
        }

        var image = await builder.SnapshotAsync(stage, cancellationToken).ConfigureAwait(false);
        string? passwd = null, group = null;
        var merger = new LayerMerger(MergeLayer.Of(image));
        await foreach (var merged in merger.MergeAsync(cancellationToken).ConfigureAwait(false))
        {
            if (merged.Entry.Type == OciFileType.File && merged.Entry.Path is "etc/passwd" or "etc/group" && merged.Content is { } content && merged.Entry.Size < 16 << 20)
            {
                using var reader = new StreamReader(content, Encoding.UTF8, leaveOpen: true);
                var text = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
                if (merged.Entry.Path == "etc/passwd")
                {
                    passwd = text;
                }
                else
                {
                    group = text;
                }
            }
        }

        return (passwd, group);
    }
}
