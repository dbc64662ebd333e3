using System;
using System.IO;
using System.Management.Automation;
using System.Threading.Tasks;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Infrastructure;

/// <summary>What every OciPS cmdlet shares: location parsing against the session's current directory, platform parsing, per-input errors.</summary>
public abstract class OciCmdlet : AsyncPSCmdlet
{
    /// <summary>
    /// Parses a location on the pipeline thread: relative paths are resolved against PowerShell's
    /// current location (PS drives such as TestDrive: included), not the process's directory.
    /// </summary>
    protected ImageLocation ParseLocation(string location) => ImageLocation.Parse(location, ResolvePath);

    /// <summary>Resolves a (possibly PowerShell-drive) path to a file-system path without requiring it to exist.</summary>
    protected string ResolvePath(string path)
    {
        try
        {
            return SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);
        }
        catch (Exception ex) when (ex is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or PSArgumentException or ArgumentException)
        {
            return Path.GetFullPath(path, SessionState.Path.CurrentFileSystemLocation.ProviderPath);
        }
    }

    /// <summary>Parses a -Platform value, or null when none was given.</summary>
    protected static Platform? ParsePlatform(string? platform)
    {
        if (string.IsNullOrWhiteSpace(platform))
        {
            return null;
        }

        return Platform.TryParse(platform, out var parsed, out var reason)
            ? parsed
            : throw new PSArgumentException($"'{platform}' is not a valid platform: {reason}. Use os/architecture[/variant], e.g. linux/arm64/v8.");
    }

    /// <summary>Reports a failure of one input as a non-terminating error and lets the next input go on.</summary>
    protected Task ReportAsync(Exception exception, object? target) =>
        EmitErrorAsync(ErrorMapping.ToErrorRecord(exception, target));

    /// <summary>Reports a failure on the pipeline thread (before any async work started).</summary>
    protected void Report(Exception exception, object? target) =>
        WriteError(ErrorMapping.ToErrorRecord(exception, target));

    /// <summary>Whether an exception is one input's failure (to report and go on) rather than the cmdlet's.</summary>
    protected static bool IsPerInput(Exception exception) => ErrorMapping.IsPerInput(exception);
}
