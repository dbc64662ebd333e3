using OciPS.Core.Build.Dockerfile;

namespace OciPS.Core.Build;

/// <summary>
/// What a Dockerfile asks for, worked out before any work is done: the global ARGs, the stages, the
/// target, the stages it needs (FROM another stage, COPY --from), and a check that every instruction
/// of those stages can be carried out without a container runtime.
/// </summary>
internal sealed class BuildPlan
{
    private static readonly HashSet<string> Supported = new(StringComparer.Ordinal)
    {
        "FROM", "COPY", "ADD", "ENV", "ARG", "LABEL", "CMD", "ENTRYPOINT", "USER", "WORKDIR", "EXPOSE",
        "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER",
    };

    private static readonly HashSet<string> NeedsRuntime = new(StringComparer.Ordinal) { "RUN" };

    private BuildPlan(DockerfileDocument document, IReadOnlyList<DockerfileInstruction> globalArgs, IReadOnlyList<StageDefinition> stages, StageDefinition target, IReadOnlySet<int> needed)
    {
        Document = document;
        GlobalArgs = globalArgs;
        Stages = stages;
        Target = target;
        Needed = needed;
    }

    public DockerfileDocument Document { get; }

    public IReadOnlyList<DockerfileInstruction> GlobalArgs { get; }

    public IReadOnlyList<StageDefinition> Stages { get; }

    public StageDefinition Target { get; }

    /// <summary>The indexes of the stages the target needs, itself included.</summary>
    public IReadOnlySet<int> Needed { get; }

    /// <summary>
    /// Splits the document into stages and checks them. <paramref name="metaLookup"/> expands FROM and
    /// --from values with the global ARGs (enough to name stages; the real build expands again).
    /// </summary>
    public static BuildPlan Create(DockerfileDocument document, string? target, Func<string, string?> metaLookup)
    {
        var file = document.FileName;
        var lexer = new ShellLexer(document.Escape);
        var globalArgs = new List<DockerfileInstruction>();
        var stages = new List<StageDefinition>();
        DockerfileInstruction? from = null;
        var body = new List<DockerfileInstruction>();
        foreach (var instruction in document.Instructions)
        {
            if (instruction.Keyword == "FROM")
            {
                if (from is not null)
                {
                    stages.Add(Stage(stages.Count, from, body, lexer, metaLookup, file));
                }

                from = instruction;
                body = [];
            }
            else if (from is null)
            {
                if (instruction.Keyword != "ARG")
                {
                    throw new DockerfileSyntaxException(file, instruction.StartLine, $"{instruction.Keyword} before the first FROM: only ARG may come before FROM");
                }

                globalArgs.Add(instruction);
            }
            else
            {
                body.Add(instruction);
            }
        }

        if (from is null)
        {
            throw new DockerfileSyntaxException(file, document.Instructions.Count == 0 ? 1 : document.Instructions[^1].StartLine, "the Dockerfile has no FROM instruction (no build stage)");
        }

        stages.Add(Stage(stages.Count, from, body, lexer, metaLookup, file));
        var duplicate = stages.Where(s => s.Name is not null).GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new DockerfileSyntaxException(file, duplicate.Last().From.StartLine, $"duplicate stage name '{duplicate.Key}'");
        }

        var targetStage = target is null
            ? stages[^1]
            : stages.FirstOrDefault(s => string.Equals(s.Name, target, StringComparison.OrdinalIgnoreCase))
                ?? throw new BuildException("BuildTargetNotFound", OciErrorKind.NotFound, $"The Dockerfile has no stage named '{target}'. Stages: {string.Join(", ", stages.Select(s => s.Name ?? s.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)))}.", target);

        var needed = new HashSet<int>();
        Collect(targetStage, stages, needed, lexer, metaLookup, file);
        foreach (var stage in stages.Where(s => needed.Contains(s.Index)))
        {
            foreach (var instruction in stage.Instructions)
            {
                Check(instruction, file);
            }
        }

        return new BuildPlan(document, globalArgs, stages, targetStage, needed);
    }

    /// <summary>The stage a FROM or --from value names (by name or index), or null for an image.</summary>
    public static StageDefinition? FindStage(string reference, IReadOnlyList<StageDefinition> stages, int before)
    {
        if (int.TryParse(reference, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
        {
            return index < before ? stages[index] : null;
        }

        return stages.Take(before).LastOrDefault(s => string.Equals(s.Name, reference, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The image (or stage) a FROM names, expanded with the global ARGs.</summary>
    public static string FromImage(DockerfileInstruction from, ShellLexer lexer, Func<string, string?> metaLookup, string file)
    {
        var words = InstructionSyntax.WhitespaceDelimited(from.Arguments);
        if (words.Count != 1 && !(words.Count == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase)))
        {
            throw new DockerfileSyntaxException(file, from.StartLine, "FROM takes an image and optionally AS <name>");
        }

        try
        {
            var image = lexer.ProcessWord(words[0], metaLookup);
            return image.Length == 0
                ? throw new DockerfileSyntaxException(file, from.StartLine, $"base name ({words[0]}) should not be blank")
                : image;
        }
        catch (FormatException ex)
        {
            throw new DockerfileSyntaxException(file, from.StartLine, ex.Message);
        }
    }

    private static StageDefinition Stage(int index, DockerfileInstruction from, List<DockerfileInstruction> body, ShellLexer lexer, Func<string, string?> metaLookup, string file)
    {
        _ = FromImage(from, lexer, metaLookup, file);
        InstructionSyntax.Flags(from, file);
        var words = InstructionSyntax.WhitespaceDelimited(from.Arguments);
        string? name = null;
        if (words.Count == 3)
        {
            name = words[2].ToLowerInvariant();
            if (!System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z][a-z0-9-_.]*$"))
            {
                throw new DockerfileSyntaxException(file, from.StartLine, $"invalid name for build stage: \"{words[2]}\", name can't start with a number or contain symbols");
            }
        }

        return new StageDefinition(index, name, from, body);
    }

    private static void Collect(StageDefinition stage, IReadOnlyList<StageDefinition> stages, HashSet<int> needed, ShellLexer lexer, Func<string, string?> metaLookup, string file)
    {
        if (!needed.Add(stage.Index))
        {
            return;
        }

        var references = new List<string> { FromImage(stage.From, lexer, metaLookup, file) };
        foreach (var instruction in stage.Instructions.Where(i => i.Keyword == "COPY"))
        {
            var flags = InstructionSyntax.Flags(instruction, file);
            if (flags.TryGetValue("from", out var value))
            {
                try
                {
                    references.Add(lexer.ProcessWord(value, metaLookup));
                }
                catch (FormatException ex)
                {
                    throw new DockerfileSyntaxException(file, instruction.StartLine, ex.Message);
                }
            }
        }

        foreach (var reference in references)
        {
            if (FindStage(reference, stages, stage.Index) is { } dependency)
            {
                Collect(dependency, stages, needed, lexer, metaLookup, file);
            }
        }
    }

    /// <summary>Rejects what needs a runtime, unknown instructions and bad flags, naming the line.</summary>
    public static void Check(DockerfileInstruction instruction, string file)
    {
        if (NeedsRuntime.Contains(instruction.Keyword))
        {
            throw new DockerfileInstructionUnsupportedException(file, instruction.StartLine, instruction.Keyword,
                "it runs a command in a container, and OciPS builds images without a container runtime. Build the files elsewhere (a CI step, a multi-stage build with docker or buildah) and COPY them in.");
        }

        if (!Supported.Contains(instruction.Keyword))
        {
            throw new DockerfileSyntaxException(file, instruction.StartLine, $"unknown instruction: {instruction.Keyword}");
        }

        InstructionSyntax.Flags(instruction, file);
        if (instruction.Keyword == "ONBUILD")
        {
            var triggers = DockerfileParser.Parse(instruction.Arguments, file).Instructions;
            var trigger = triggers.Count > 0 ? triggers[0] : null;
            if (trigger is null || trigger.Keyword is "ONBUILD" or "FROM" or "MAINTAINER")
            {
                throw new DockerfileSyntaxException(file, instruction.StartLine, $"{trigger?.Keyword ?? "an empty instruction"} isn't allowed as an ONBUILD trigger");
            }
        }
    }
}
