using System;
using System.IO;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using OciPS.Core.Content;
using OciPS.Core.Merge;
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

    /// <summary>How sources are opened (registry settings, cache); cmdlets with registry parameters override it.</summary>
    protected virtual ImageSourceOptions SourceOptions => ImageSourceOptions.Default;

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

    /// <summary>
    /// Prepares, on the pipeline thread, how to get one image: from an OciManifest on the pipeline (an
    /// index resolved to <paramref name="platform"/> or this machine's platform) or from a location.
    /// Returns false after reporting a bad location; a bad platform is a terminating error.
    /// </summary>
    protected bool TryResolveImage(OciManifest? input, string location, string? platform, out Func<CancellationToken, Task<OciImage>> resolve, out object target, ImageSourceOptions? options = null)
    {
        resolve = null!;
        target = input is null ? location : input;
        Platform? wanted;
        try
        {
            wanted = ParsePlatform(platform);
        }
        catch (PSArgumentException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "PlatformInvalid", ErrorCategory.InvalidArgument, platform));
            return false;
        }

        if (input is not null)
        {
            resolve = cancellationToken => input switch
            {
                OciImage image => Task.FromResult(image),
                OciIndex index => ImageLoader.SelectAsync(index, wanted ?? Platform.Default, cancellationToken),
                _ => throw new PSArgumentException($"{input.GetType().Name} is not an image or an index."),
            };
            return true;
        }

        ImageLocation parsed;
        try
        {
            parsed = ParseLocation(location);
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            Report(ex, location);
            return false;
        }

        var effective = options ?? SourceOptions;
        resolve = async cancellationToken =>
        {
            var manifest = await ImageLoader.LoadAsync(ImageSources.Open(parsed, effective), wanted, cancellationToken).ConfigureAwait(false);
            return manifest as OciImage ?? await ImageLoader.SelectAsync((OciIndex)manifest, wanted ?? Platform.Default, cancellationToken).ConfigureAwait(false);
        };
        return true;
    }

    /// <summary>A problem entry found by the merge: an error when the entry was dropped, a warning when it was neutralised.</summary>
    protected void ReportIssue(MergeIssue issue)
    {
        if (issue.Severity == MergeIssueSeverity.Warning)
        {
            Warning(issue.Message);
        }
        else
        {
            _ = EmitErrorAsync(ErrorMapping.ToErrorRecord(new MergeIssueException(issue), issue.Entry));
        }
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
