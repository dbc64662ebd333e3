using System;
using System.Management.Automation;
using OciPS.Core.Content;
using OciPS.Core.References;
using OciPS.Core.Registry;
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

    /// <summary>Credentials for the source registry (default: -Credential, else stored ones).</summary>
    [Parameter]
    [Credential]
    public PSCredential? SourceCredential { get; set; }

    /// <summary>Credentials for the destination registry (default: -Credential, else stored ones).</summary>
    [Parameter]
    [Credential]
    public PSCredential? DestinationCredential { get; set; }

    /// <summary>The proxy for the source registry (default: -Proxy).</summary>
    [Parameter]
    public Uri? SourceProxy { get; set; }

    /// <summary>The proxy for the destination registry (default: -Proxy).</summary>
    [Parameter]
    public Uri? DestinationProxy { get; set; }

    /// <summary>Talks plain HTTP to the source registry (default: -AllowInsecure).</summary>
    [Parameter]
    public SwitchParameter SourceAllowInsecure { get; set; }

    /// <summary>Talks plain HTTP to the destination registry (default: -AllowInsecure).</summary>
    [Parameter]
    public SwitchParameter DestinationAllowInsecure { get; set; }

    /// <summary>CA certificates (PEM) trusted for the source registry (default: -CaCertificate).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SourceCaCertificate { get; set; }

    /// <summary>CA certificates (PEM) trusted for the destination registry (default: -CaCertificate).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DestinationCaCertificate { get; set; }

    /// <summary>Accepts any TLS certificate from the source registry (default: -SkipCertificateCheck).</summary>
    [Parameter]
    public SwitchParameter SourceSkipCertificateCheck { get; set; }

    /// <summary>Accepts any TLS certificate from the destination registry (default: -SkipCertificateCheck).</summary>
    [Parameter]
    public SwitchParameter DestinationSkipCertificateCheck { get; set; }

    private protected override RegistrySide? SourceSide => new(
        SourceCredential,
        SourceProxy,
        Bound(nameof(SourceAllowInsecure), SourceAllowInsecure),
        SourceCaCertificate,
        Bound(nameof(SourceSkipCertificateCheck), SourceSkipCertificateCheck));

    /// <summary>The destination's registry options: its own settings first, then the unprefixed ones.</summary>
    private RegistryOptions DestinationRegistryOptions => ConnectionOptions(Credential, new RegistrySide(
        DestinationCredential,
        DestinationProxy,
        Bound(nameof(DestinationAllowInsecure), DestinationAllowInsecure),
        DestinationCaCertificate,
        Bound(nameof(DestinationSkipCertificateCheck), DestinationSkipCertificateCheck)));

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

        var registry = DestinationRegistryOptions;
        Copy(Source, source, destination, new ImageDestinationOptions { Registry = registry, Force = Force });
    }
}
