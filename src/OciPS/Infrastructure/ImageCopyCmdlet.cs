using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Infrastructure;

/// <summary>What Save-OciImage and Copy-OciImage share: platform and format choices, one copy per input.</summary>
public abstract class ImageCopyCmdlet : RegistryCmdlet
{
    /// <summary>The platforms to copy from a multi-platform image (default: this machine's).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string[] Platform { get; set; } = [];

    /// <summary>Copies every platform of an index, and the index itself.</summary>
    [Parameter]
    public SwitchParameter AllPlatforms { get; set; }

    /// <summary>Converts manifests and media types to OCI or Docker (digests change).</summary>
    [Parameter]
    public ManifestFormat? Format { get; set; }

    /// <summary>Replaces an existing archive file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Returns what was written.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Copies one image, reporting a failure as a non-terminating error for that input.</summary>
    protected void Copy(string sourceText, ImageLocation source, ImageLocation destination, ImageDestinationOptions destinationOptions)
    {
        List<Platform> platforms;
        try
        {
            platforms = Platform.Select(p => ParsePlatform(p)!).ToList();
        }
        catch (PSArgumentException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "PlatformInvalid", ErrorCategory.InvalidArgument, Platform));
            return;
        }

        if (!ShouldProcess(destination.ToString(), $"Copy {source} ({(AllPlatforms ? "all platforms" : platforms.Count == 0 ? "this platform" : string.Join(", ", platforms))}{(Format is { } f ? ", as " + f : string.Empty)})"))
        {
            return;
        }

        var sourceOptions = SourceOptions;
        var copyOptions = new ImageCopyOptions
        {
            Platforms = platforms,
            AllPlatforms = AllPlatforms,
            Format = Format,
            ThrottleLimit = ThrottleLimit,
            Progress = sourceOptions.Progress,
        };
        var passThru = PassThru.IsPresent;
        RunAsync(async cancellationToken =>
        {
            try
            {
                var imageSource = ImageSources.Open(source, sourceOptions);
                var imageDestination = ImageDestinations.Open(destination, destinationOptions);
                await using (imageDestination.ConfigureAwait(false))
                {
                    var result = await ImageCopy.CopyAsync(imageSource, imageDestination, copyOptions, cancellationToken).ConfigureAwait(false);
                    Verbose($"{result.Source} -> {result.Destination}: {result.Digest}; {result.BlobsCopied} blobs sent ({Sizes.Format(result.BytesCopied)}), {result.BlobsSkipped} already there, {result.BlobsMounted} mounted.");
                    if (passThru)
                    {
                        await EmitAsync(result).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, sourceText).ConfigureAwait(false);
            }
            finally
            {
                CompleteProgress();
            }
        });
    }
}
