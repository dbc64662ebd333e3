using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace OciPS.Module.Tests;

/// <summary>
/// A PowerShell runspace hosted in the test process with the built module (out/OciPS/OciPS.psd1)
/// imported as a user would import it. Scripts run as real pipelines; what the host would print
/// (tables, lists) is captured by <see cref="CapturingHost"/>.
/// </summary>
public sealed class ModuleSession : IDisposable
{
    private readonly Runspace _runspace;

    public ModuleSession(string? workingDirectory = null)
    {
        Host = new CapturingHost();
        var state = InitialSessionState.CreateDefault2();
        _runspace = RunspaceFactory.CreateRunspace(Host, state);
        _runspace.Open();
        if (workingDirectory is not null)
        {
            _runspace.SessionStateProxy.Path.SetLocation(workingDirectory);
        }

        var import = Run("Import-Module -Name $args[0] -ErrorAction Stop -PassThru", ModulePaths.Manifest);
        import.ThrowIfFailed();
        Module = (PSModuleInfo)import.Output[0].BaseObject;
    }

    public CapturingHost Host { get; }

    public PSModuleInfo Module { get; }

    /// <summary>Runs a script with positional arguments ($args) and returns its output and errors.</summary>
    public PipelineResult Run(string script, params object?[] arguments)
    {
        using var shell = PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script);
        foreach (var argument in arguments)
        {
            shell.AddArgument(argument);
        }

        Collection<PSObject> output;
        RuntimeException? terminating = null;
        try
        {
            output = shell.Invoke();
        }
        catch (RuntimeException ex)
        {
            output = [];
            terminating = ex;
        }

        return new PipelineResult(output, [.. shell.Streams.Error], [.. shell.Streams.Warning.Select(w => w.Message)], terminating);
    }

    /// <summary>A pipeline for the script in this session, not started (for tests that stop it midway).</summary>
    public PowerShell Prepare(string script, params object?[] arguments)
    {
        var shell = PowerShell.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script);
        foreach (var argument in arguments)
        {
            shell.AddArgument(argument);
        }

        return shell;
    }

    /// <summary>Runs a script and returns what the host printed (format views applied by Out-Host), without ANSI styling.</summary>
    public string Render(string script, params object?[] arguments)
    {
        Host.Clear();
        var result = Run(script + " | Out-Host", arguments);
        result.ThrowIfFailed();
        return System.Text.RegularExpressions.Regex.Replace(Host.Text, "\u001b\\[[0-9;]*m", string.Empty);
    }

    public void Dispose() => _runspace.Dispose();
}

/// <summary>The output and errors of one pipeline.</summary>
public sealed record PipelineResult(Collection<PSObject> Output, IReadOnlyList<ErrorRecord> Errors, IReadOnlyList<string> Warnings, RuntimeException? Terminating)
{
    public bool Failed => Terminating is not null || Errors.Count > 0;

    /// <summary>The first error, terminating or not.</summary>
    public ErrorRecord? FirstError => Terminating?.ErrorRecord ?? (Errors.Count > 0 ? Errors[0] : null);

    public void ThrowIfFailed()
    {
        if (Failed)
        {
            var error = FirstError!;
            throw new InvalidOperationException($"The pipeline failed: {error.FullyQualifiedErrorId}: {error.Exception?.Message}\n{error.ScriptStackTrace}");
        }
    }

    /// <summary>The base objects of the output, cast.</summary>
    public IReadOnlyList<dynamic> Objects => Output.Select(o => (dynamic)o).ToArray();
}

/// <summary>Where the built module is: out/OciPS under the repository root.</summary>
public static class ModulePaths
{
    public static string RepositoryRoot { get; } = FindRoot();

    public static string ModuleFolder => Path.Combine(RepositoryRoot, "out", "OciPS");

    public static string Manifest => Path.Combine(ModuleFolder, "OciPS.psd1");

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "OciPS.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("OciPS.sln not found above " + AppContext.BaseDirectory);
    }
}
