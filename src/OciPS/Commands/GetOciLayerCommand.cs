using System;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Lists an image's layers joined with its build history; steps that changed no files are included and flagged.</summary>
[Cmdlet(VerbsCommon.Get, "OciLayer", DefaultParameterSetName = LocationSet)]
[OutputType(typeof(OciLayer))]
public sealed class GetOciLayerCommand : RegistryCmdlet
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

    /// <summary>The platform to pick when the image is an index (default: linux on this machine's architecture).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    /// <summary>Leaves out the history steps that changed no files (ENV, CMD, LABEL…).</summary>
    [Parameter]
    public SwitchParameter ExcludeEmpty { get; set; }

    protected override void ProcessRecord()
    {
        Platform? platform;
        try
        {
            platform = ParsePlatform(Platform);
        }
        catch (PSArgumentException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "PlatformInvalid", ErrorCategory.InvalidArgument, Platform));
            return;
        }

        object target = InputObject is null ? Image : InputObject;
        Func<CancellationToken, Task<OciManifest>> resolve;
        if (InputObject is not null)
        {
            var input = InputObject;
            resolve = _ => Task.FromResult(input);
        }
        else
        {
            try
            {
                var options = SourceOptions;
                var location = ParseLocation(Image);
                resolve = cancellationToken => ImageLoader.LoadAsync(ImageSources.Open(location, options), platform, cancellationToken);
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                Report(ex, Image);
                return;
            }
        }

        RunAsync(async cancellationToken =>
        {
            try
            {
                var manifest = await resolve(cancellationToken).ConfigureAwait(false);
                var image = manifest as OciImage ?? await ImageLoader.SelectAsync((OciIndex)manifest, platform ?? Core.Model.Platform.Default, cancellationToken).ConfigureAwait(false);
                foreach (var layer in ExcludeEmpty ? image.Layers : image.History)
                {
                    await EmitAsync(layer).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, target).ConfigureAwait(false);
            }
        });
    }
}

