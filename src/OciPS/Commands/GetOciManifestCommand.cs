using System;
using System.Collections.Generic;
using System.Management.Automation;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Resolves image locations to their manifest: an image (OciImage) or an index (OciIndex).</summary>
[Cmdlet(VerbsCommon.Get, "OciManifest")]
[OutputType(typeof(OciImage), typeof(OciIndex), typeof(string))]
public sealed class GetOciManifestCommand : RegistryCmdlet
{
    /// <summary>Image locations: registry references, oci:, oci-archive:, docker-archive: or bare paths.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Image { get; set; } = [];

    /// <summary>Resolves an index to the image for this platform (os/arch[/variant]).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    /// <summary>Outputs the manifest's JSON exactly as stored instead of an object.</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

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

        var locations = new List<(string Text, ImageLocation Location)>();
        foreach (var text in Image)
        {
            try
            {
                locations.Add((text, ParseLocation(text)));
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                Report(ex, text);
            }
        }

        var options = SourceOptions;
        RunAsync(async cancellationToken =>
        {
            foreach (var (text, location) in locations)
            {
                try
                {
                    var source = ImageSources.Open(location, options);
                    var manifest = await ImageLoader.LoadAsync(source, platform, cancellationToken).ConfigureAwait(false);
                    await EmitAsync(Raw ? manifest.RawJson : manifest).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsPerInput(ex))
                {
                    await ReportAsync(ex, text).ConfigureAwait(false);
                }
            }
        });
    }
}
