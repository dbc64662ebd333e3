using System;
using System.Management.Automation;
using OciPS.Core.Content;
using OciPS.Core.References;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Saves images (from a registry or any location) to a local OCI layout, OCI archive or docker archive.</summary>
[Cmdlet(VerbsData.Save, "OciImage", SupportsShouldProcess = true)]
[OutputType(typeof(ImageCopyResult))]
public sealed class SaveOciImageCommand : ImageCopyCmdlet
{
    private ImageLocation? _destination;
    private int _written;

    /// <summary>The images to save.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Image { get; set; } = [];

    /// <summary>oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], or a directory (an OCI layout).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Path")]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = string.Empty;

    protected override void BeginProcessing()
    {
        try
        {
            var text = Destination.Contains(':', StringComparison.Ordinal) && !System.IO.Path.IsPathRooted(Destination)
                ? Destination
                : "oci:" + ResolvePath(Destination);
            _destination = ParseLocation(text);
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            ThrowTerminatingError(ErrorMapping.ToErrorRecord(ex, Destination));
            return;
        }

        if (_destination.Transport is not (LocationTransport.OciLayout or LocationTransport.OciArchive or LocationTransport.DockerArchive))
        {
            ThrowTerminatingError(new ErrorRecord(
                new PSArgumentException($"Save-OciImage writes oci:, oci-archive: or docker-archive: locations, not {_destination.Transport} ('{Destination}'); use Copy-OciImage to copy to a registry."),
                "SaveDestinationInvalid",
                ErrorCategory.InvalidArgument,
                Destination));
        }
    }

    protected override void ProcessRecord()
    {
        foreach (var text in Image)
        {
            ImageLocation source;
            try
            {
                source = ParseLocation(text);
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                Report(ex, text);
                continue;
            }

            var destination = DestinationFor(source);
            if (destination is null)
            {
                WriteError(new ErrorRecord(
                    new PSArgumentException($"'{Destination}' is an archive and holds one image per Save-OciImage call; '{text}' was not saved."),
                    "SaveOneImagePerArchive",
                    ErrorCategory.InvalidOperation,
                    text));
                continue;
            }

            _written++;
            Copy(text, source, destination, new ImageDestinationOptions { Registry = SourceOptions.Registry, Force = Force });
        }
    }

    /// <summary>
    /// The destination for one image: a layout without a tag names each image by its reference (so
    /// several images fit in one layout); an archive takes one image.
    /// </summary>
    private ImageLocation? DestinationFor(ImageLocation source)
    {
        var destination = _destination!;
        if (destination.Transport != LocationTransport.OciLayout && _written > 0)
        {
            return null;
        }

        var unnamed = destination.Tag is null && destination.Digest is null && destination.Index is null && destination.Reference is null;
        if (!unnamed || source.Reference is null)
        {
            return destination;
        }

        var name = source.Reference.Digest is null ? source.Reference.FamiliarName : source.Reference.WithTag(source.Reference.Tag ?? ImageReference.DefaultTag).FamiliarName;
        var scheme = destination.Transport switch
        {
            LocationTransport.OciLayout => "oci:",
            LocationTransport.OciArchive => "oci-archive:",
            _ => "docker-archive:",
        };
        return ImageLocation.Parse(scheme + destination.Path + ":" + name);
    }
}
