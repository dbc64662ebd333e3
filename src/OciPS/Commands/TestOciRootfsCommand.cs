using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using OciPS.Core.Compare;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Compares an exported root filesystem (directory or tar) with an image or with another tree.</summary>
[Cmdlet(VerbsDiagnostic.Test, "OciRootfs", DefaultParameterSetName = LocationSet)]
[OutputType(typeof(OciRootfsDifference))]
[OutputType(typeof(bool))]
public sealed class TestOciRootfsCommand : RegistryCmdlet
{
    private const string LocationSet = "Location";
    private const string InputObjectSet = "InputObject";
    private const string ReferenceSet = "Reference";

    /// <summary>The tree to check: a directory or a tar file (plain, gzip or zstd).</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The image the tree should hold, as a location.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = LocationSet)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string Image { get; set; } = string.Empty;

    /// <summary>The image the tree should hold, from Get-OciManifest.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    public OciManifest? InputObject { get; set; }

    /// <summary>A directory or tar the tree should equal.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ReferenceSet)]
    [ValidateNotNullOrEmpty]
    public string ReferencePath { get; set; } = string.Empty;

    /// <summary>The platform to pick from an index.</summary>
    [Parameter(ParameterSetName = LocationSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    /// <summary>Properties not to compare: Mode, Owner, Content, Xattrs, ModifiedTime, DirectoryModifiedTime, Hardlink.</summary>
    [Parameter]
    public RootfsProperties[] IgnoreProperty { get; set; } = [];

    /// <summary>Returns only $true (the trees are equal) or $false.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void ProcessRecord()
    {
        var actualPath = ResolvePath(Path);
        var ignore = IgnoreProperty.Aggregate(RootfsProperties.None, (all, one) => all | one);
        Func<System.Threading.CancellationToken, IAsyncEnumerable<Core.Layers.LayerEntry>> expected;
        object target;
        if (ParameterSetName == ReferenceSet)
        {
            var referencePath = ResolvePath(ReferencePath);
            target = referencePath;
            expected = cancellationToken => RootfsReader.Open(referencePath, cancellationToken);
        }
        else
        {
            if (!TryResolveImage(InputObject, Image, Platform, out var resolve, out target))
            {
                return;
            }

            expected = cancellationToken => MergeOf(resolve, cancellationToken);
        }

        RunAsync(async cancellationToken =>
        {
            try
            {
                var differences = await RootfsComparer.CompareAsync(expected(cancellationToken), RootfsReader.Open(actualPath, cancellationToken), ignore, cancellationToken).ConfigureAwait(false);
                if (Quiet)
                {
                    await EmitAsync(differences.Count == 0).ConfigureAwait(false);
                    return;
                }

                foreach (var difference in differences)
                {
                    await EmitAsync(difference).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, target).ConfigureAwait(false);
            }
        });
    }

    private async IAsyncEnumerable<Core.Layers.LayerEntry> MergeOf(Func<System.Threading.CancellationToken, System.Threading.Tasks.Task<OciImage>> resolve, [System.Runtime.CompilerServices.EnumeratorCancellation] System.Threading.CancellationToken cancellationToken)
    {
        var image = await resolve(cancellationToken).ConfigureAwait(false);
        var merger = LayerMerger.For(image, issue => ReportIssue(issue));
        await foreach (var entry in RootfsComparer.FromMerge(merger.MergeAsync(cancellationToken)).ConfigureAwait(false))
        {
            yield return entry;
        }
    }
}
