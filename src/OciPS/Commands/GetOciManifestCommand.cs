using System;
using System.Collections.Generic;
using System.Management.Automation;
using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Resolves image locations to their manifest: an image (OciImage) or an index (OciIndex).</summary>
[Cmdlet(VerbsCommon.Get, "OciManifest", DefaultParameterSetName = "Manifest")]
[OutputType(typeof(OciImage), typeof(OciIndex), typeof(string), ParameterSetName = ["Manifest"])]
[OutputType(typeof(OciReferrer), ParameterSetName = ["Referrers"])]
public sealed class GetOciManifestCommand : RegistryCmdlet
{
    /// <summary>Image locations: registry references, oci:, oci-archive:, docker-archive: or bare paths.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Image { get; set; } = [];

    /// <summary>Resolves an index to the image for this platform (os/arch[/variant]).</summary>
    [Parameter(ParameterSetName = "Manifest")]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    /// <summary>Outputs the manifest's JSON exactly as stored instead of an object.</summary>
    [Parameter(ParameterSetName = "Manifest")]
    public SwitchParameter Raw { get; set; }

    /// <summary>
    /// Lists the artifacts attached to the manifest (those whose subject it is): the registry's referrers
    /// API, or the referrers tag schema on registries without it; the manifests of a layout.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = "Referrers")]
    public SwitchParameter Referrers { get; set; }

    /// <summary>Only referrers of this artifact type.</summary>
    [Parameter(ParameterSetName = "Referrers")]
    [ValidateNotNullOrEmpty]
    public string? ArtifactType { get; set; }

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
                    if (Referrers)
                    {
                        foreach (var referrer in await ArtifactReferrers.ListAsync(location, options, ArtifactType, cancellationToken).ConfigureAwait(false))
                        {
                            await EmitAsync(referrer).ConfigureAwait(false);
                        }

                        continue;
                    }

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
