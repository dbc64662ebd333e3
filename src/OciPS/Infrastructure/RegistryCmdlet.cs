using System;
using System.Management.Automation;
using OciPS.Core;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.Registry;

namespace OciPS.Infrastructure;

/// <summary>
/// The parameters every cmdlet that reads (or writes) registries shares: credentials, the connection
/// settings of <see cref="RegistryConnectionCmdlet"/>, cache directory and download parallelism.
/// </summary>
public abstract class RegistryCmdlet : RegistryConnectionCmdlet
{
    private ImageSourceOptions? _sourceOptions;
    private ProgressReporter? _progress;

    /// <summary>Credentials for the registries of this call (else stored ones, else anonymous).</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>The blob cache directory (default: $env:OCIPS_CACHE, else the user's cache directory).</summary>
    [Parameter]
    public string? CachePath { get; set; }

    /// <summary>How many blobs are transferred at once.</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int ThrottleLimit { get; set; } = 4;

    /// <summary>Options for sources, built on the pipeline thread (paths resolved against the session).</summary>
    protected override ImageSourceOptions SourceOptions => _sourceOptions ??= new ImageSourceOptions
    {
        Registry = ConnectionOptions(Credential, SourceSide),
        CachePath = CachePath is null ? null : ResolvePath(CachePath),
        ThrottleLimit = ThrottleLimit,
        Progress = new TransferProgress(_progress = new ProgressReporter(Progress, 100)),
    };

    /// <summary>The source's own settings (Copy-OciImage's and New-OciImage's -Source* parameters), or null.</summary>
    private protected virtual RegistrySide? SourceSide => null;

    /// <summary>Completes the transfer progress records still open (call inside RunAsync, when the work ends).</summary>
    protected void CompleteProgress() => _progress?.CompleteAll();

    /// <summary>Registry options with the given credential and this call's connection settings.</summary>
    protected RegistryOptions RegistryOptionsFor(PSCredential? credential) => ConnectionOptions(credential);

    /// <summary>Blob transfers as Write-Progress records with bytes and rates.</summary>
    private sealed class TransferProgress(ProgressReporter reporter) : IProgress<BlobTransfer>
    {
        public void Report(BlobTransfer value) =>
            reporter.Report(new OciProgress(
                value.Blob.Digest.ToString(),
                null,
                (MediaTypes.IsLayer(value.Blob.MediaType) ? "Layer " : "Blob ") + value.Blob.Digest.Short,
                "Transferring",
                value.Transferred,
                value.Blob.Size,
                IsBytes: true,
                Completed: value.Completed));
    }
}
