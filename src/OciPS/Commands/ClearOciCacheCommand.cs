using System;
using System.Management.Automation;
using OciPS.Core.Registry;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Frees the blob cache: everything, or blobs not used for a while.</summary>
[Cmdlet(VerbsCommon.Clear, "OciCache", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(CacheClearResult))]
public sealed class ClearOciCacheCommand : OciCmdlet
{
    /// <summary>The cache directory (default: $env:OCIPS_CACHE, else the user's cache directory).</summary>
    [Parameter(Position = 0)]
    public string? CachePath { get; set; }

    /// <summary>Removes only blobs not written or read for this long.</summary>
    [Parameter]
    public TimeSpan? OlderThan { get; set; }

    /// <summary>Returns how much was freed.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var root = CachePath is null ? BlobCache.DefaultPath : ResolvePath(CachePath);
        DateTime? limit = OlderThan is { } age ? DateTime.UtcNow - age : null;
        try
        {
            var result = CacheMaintenance.Clear(root, limit, (blob, size) => ShouldProcess(blob, $"Remove cached blob ({Sizes.Format(size)})"));
            if (PassThru)
            {
                WriteObject(result);
            }
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            WriteError(ErrorMapping.ToErrorRecord(ex, root));
        }
    }
}
