using System;
using System.Management.Automation;
using OciPS.Core.Content;
using OciPS.Core.References;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Copies an image from any location to any location: registries, OCI layouts and archives.</summary>
[Cmdlet(VerbsCommon.Copy, "OciImage", SupportsShouldProcess = true)]
[OutputType(typeof(ImageCopyResult))]
public sealed class CopyOciImageCommand : ImageCopyCmdlet
{
    /// <summary>The image to copy.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Image", "Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string Source { get; set; } = string.Empty;

    /// <summary>Where to write it: a registry reference, oci:, oci-archive: or docker-archive:.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = string.Empty;

    /// <summary>Credentials for the destination registry (default: -Credential, else stored ones).</summary>
    [Parameter]
    [Credential]
    public PSCredential? DestinationCredential { get; set; }

    protected override void ProcessRecord()
    {
        ImageLocation source;
        ImageLocation destination;
        try
        {
            source = ParseLocation(Source);
            destination = ParseLocation(Destination);
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            Report(ex, Source);
            return;
        }

        var registry = RegistryOptionsFor(DestinationCredential ?? Credential);
        Copy(Source, source, destination, new ImageDestinationOptions { Registry = registry, Force = Force });
    }
}
