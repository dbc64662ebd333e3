using System;
using System.IO;
using System.Management.Automation;
using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.References;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Pulls an artifact's layers back to files named by their titles (ORAS pull); packed directories are extracted.</summary>
[Cmdlet(VerbsData.Save, "OciArtifact", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo), typeof(DirectoryInfo))]
public sealed class SaveOciArtifactCommand : RegistryCmdlet
{
    /// <summary>The artifact's location (oci:DIR:TAG, oci-archive:…).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    [ValidateNotNullOrEmpty]
    public string Source { get; set; } = string.Empty;

    /// <summary>The directory the files are written to (created when missing).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Destination")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The platform to pick from a multi-platform artifact.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    /// <summary>Replaces files that exist.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Returns the files and directories written.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var directory = ResolvePath(Path);
        ImageLocation location;
        Core.Model.Platform? platform;
        try
        {
            platform = ParsePlatform(Platform);
            location = ParseLocation(Source);
        }
        catch (PSArgumentException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "PlatformInvalid", ErrorCategory.InvalidArgument, Platform));
            return;
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            Report(ex, Source);
            return;
        }

        if (!ShouldProcess(directory, $"Save the layers of {location} as files"))
        {
            return;
        }

        var progress = new ProgressReporter(Progress);
        var sourceOptions = SourceOptions;
        var options = new ArtifactSaveOptions { Platform = platform, Force = Force, Progress = progress, Warning = Warning };
        RunAsync(async cancellationToken =>
        {
            try
            {
                var saved = await ArtifactPuller.SaveAsync(ImageSources.Open(location, sourceOptions), directory, options, cancellationToken).ConfigureAwait(false);
                if (PassThru)
                {
                    foreach (var entry in saved)
                    {
                        await EmitAsync(entry.IsDirectory ? new DirectoryInfo(entry.Path) : new FileInfo(entry.Path)).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, Source).ConfigureAwait(false);
            }
            finally
            {
                progress.CompleteAll();
            }
        });
    }
}
