namespace OciPS.Core.Build;

/// <summary>A Dockerfile that does not parse, or an instruction whose arguments are wrong; names the file and line.</summary>
public sealed class DockerfileSyntaxException(string file, int line, string message)
    : OciException("DockerfileSyntax", OciErrorKind.InvalidData, $"{file}:{line}: {message}", $"{file}:{line}")
{
    public string File { get; } = file;

    public int Line { get; } = line;
}

/// <summary>A valid instruction this engine cannot carry out (RUN needs a container runtime); raised before any work is done.</summary>
public sealed class DockerfileInstructionUnsupportedException(string file, int line, string keyword, string reason)
    : OciException("DockerfileInstructionUnsupported", OciErrorKind.NotSupported, $"{file}:{line}: {keyword} is not supported: {reason}", $"{file}:{line}")
{
    public string File { get; } = file;

    public int Line { get; } = line;

    public string Keyword { get; } = keyword;
}

/// <summary>A build that cannot go on: a missing source file, an unknown stage, a user that /etc/passwd does not list.</summary>
public sealed class BuildException(string errorId, OciErrorKind kind, string message, object? target = null, Exception? inner = null)
    : OciException(errorId, kind, message, target, inner);
