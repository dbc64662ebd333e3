using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Model;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Lists the raw entries of layers, whiteouts included and typed as such.</summary>
[Cmdlet(VerbsCommon.Get, "OciFile", DefaultParameterSetName = InputObjectSet)]
[OutputType(typeof(OciFileEntry))]
public sealed class GetOciFileCommand : RegistryCmdlet
{
    private const string InputObjectSet = "InputObject";
    private const string LocationSet = "Location";

    /// <summary>Layers from Get-OciLayer.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    public OciLayer[] InputObject { get; set; } = [];

    /// <summary>An image location.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = LocationSet)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string Image { get; set; } = string.Empty;

    /// <summary>Layer positions to read (0 = bottom).</summary>
    [Parameter(ParameterSetName = LocationSet)]
    [ValidateRange(0, int.MaxValue)]
    public int[]? Layer { get; set; }

    /// <summary>The platform to pick from an index.</summary>
    [Parameter(ParameterSetName = LocationSet)]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    /// <summary>Wildcard patterns entry paths must match.</summary>
    [Parameter]
    [SupportsWildcards]
    public string[]? Path { get; set; }

    protected override void ProcessRecord()
    {
        var patterns = Path?.Select(p => WildcardPattern.Get(p.TrimStart('/').Replace("./", string.Empty, StringComparison.Ordinal), WildcardOptions.None)).ToArray();
        Func<CancellationToken, Task<IReadOnlyList<OciLayer>>> layers;
        object target;
        if (ParameterSetName == LocationSet)
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

            target = Image;
            Core.References.ImageLocation location;
            try
            {
                location = ParseLocation(Image);
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                Report(ex, Image);
                return;
            }

            var wanted = Layer;
            var options = SourceOptions;
            layers = async cancellationToken =>
            {
                var manifest = await ImageLoader.LoadAsync(ImageSources.Open(location, options), platform, cancellationToken).ConfigureAwait(false);
                var image = manifest as OciImage ?? await ImageLoader.SelectAsync((OciIndex)manifest, platform ?? Core.Model.Platform.Default, cancellationToken).ConfigureAwait(false);
                if (wanted is null)
                {
                    return image.Layers;
                }

                var missing = wanted.Where(i => i >= image.Layers.Count).ToArray();
                return missing.Length > 0
                    ? throw new PSArgumentOutOfRangeException(nameof(Layer), missing[0], $"{image.Reference} has {image.Layers.Count} layers (0 to {image.Layers.Count - 1}); there is no layer {missing[0]}.")
                    : wanted.Select(i => image.Layers[i]).ToArray();
            };
        }
        else
        {
            var input = InputObject;
            target = input;
            layers = _ => Task.FromResult<IReadOnlyList<OciLayer>>(input);
        }

        RunAsync(async cancellationToken =>
        {
            IReadOnlyList<OciLayer> selected;
            try
            {
                selected = await layers(cancellationToken).ConfigureAwait(false);
            }
            catch (PSArgumentOutOfRangeException ex)
            {
                await EmitErrorAsync(new ErrorRecord(ex, "LayerNotFound", ErrorCategory.ObjectNotFound, target)).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, target).ConfigureAwait(false);
                return;
            }

            foreach (var layer in selected.Where(l => !l.EmptyLayer))
            {
                try
                {
                    await foreach (var item in LayerReader.ReadAsync(layer, cancellationToken).ConfigureAwait(false))
                    {
                        if (patterns is null || patterns.Any(p => p.IsMatch(item.Entry.Path)))
                        {
                            await EmitAsync(item.Entry).ConfigureAwait(false);
                        }
                    }
                }
                catch (Exception ex) when (IsPerInput(ex))
                {
                    await ReportAsync(ex, layer).ConfigureAwait(false);
                }
            }
        });
    }
}

