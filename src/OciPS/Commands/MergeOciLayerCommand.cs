using System;
using System.Management.Automation;
using OciPS.Core.Content;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Merges an image's layers into its filesystem, one entry per path, streaming.</summary>
[Cmdlet(VerbsData.Merge, "OciLayer", DefaultParameterSetName = LocationSet)]
[OutputType(typeof(OciFileEntry))]
public sealed class MergeOciLayerCommand : RegistryCmdlet
{
    private const string LocationSet = "Location";
    private const string InputObjectSet = "InputObject";

    /// <summary>An image location.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = LocationSet)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string Image { get; set; } = string.Empty;

    /// <summary>An image or index from Get-OciManifest.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    public OciManifest? InputObject { get; set; }

    /// <summary>The platform to pick from an index.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    protected override void ProcessRecord()
    {
        if (!TryResolveImage(InputObject, Image, Platform, out var resolve, out var target))
        {
            return;
        }

        var progress = new ProgressReporter(Progress);
        RunAsync(async cancellationToken =>
        {
            try
            {
                var image = await resolve(cancellationToken).ConfigureAwait(false);
                var merger = LayerMerger.For(image, issue => ReportIssue(issue), progress);
                await foreach (var merged in merger.MergeAsync(cancellationToken).ConfigureAwait(false))
                {
                    await EmitAsync(merged.WithContent()).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, target).ConfigureAwait(false);
            }
            finally
            {
                progress.CompleteAll();
            }
        });
    }
}
