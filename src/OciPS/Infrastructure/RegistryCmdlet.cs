using System;
using System.Management.Automation;
using System.Net;
using OciPS.Core;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.Registry;

namespace OciPS.Infrastructure;

/// <summary>
/// The parameters every cmdlet that reads (or writes) registries shares: credentials, plain HTTP,
/// TLS verification, proxy, cache directory and download parallelism.
/// </summary>
public abstract class RegistryCmdlet : OciCmdlet
{
    private ImageSourceOptions? _sourceOptions;
    private ProgressReporter? _progress;

    /// <summary>Credentials for the registries of this call (else stored ones, else anonymous).</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>Talks plain HTTP to registries (loopback registries get it without asking).</summary>
    [Parameter]
    public SwitchParameter AllowInsecure { get; set; }

    /// <summary>Accepts any TLS certificate.</summary>
    [Parameter]
    public SwitchParameter SkipTlsVerify { get; set; }

    /// <summary>An HTTP or SOCKS5 proxy (default: HTTP_PROXY/HTTPS_PROXY/NO_PROXY).</summary>
    [Parameter]
    public Uri? Proxy { get; set; }

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
        Registry = RegistryOptionsFor(Credential),
        CachePath = CachePath is null ? null : ResolvePath(CachePath),
        ThrottleLimit = ThrottleLimit,
        Progress = new TransferProgress(_progress = new ProgressReporter(Progress, 100)),
    };

    /// <summary>Completes the transfer progress records still open (call inside RunAsync, when the work ends).</summary>
    protected void CompleteProgress() => _progress?.CompleteAll();

    /// <summary>Registry options with the given credential and this call's transport switches.</summary>
    protected RegistryOptions RegistryOptionsFor(PSCredential? credential) => new()
    {
        Credential = credential is null ? null : new RegistryCredential(credential.UserName, credential.GetNetworkCredential().Password),
        AllowInsecure = AllowInsecure,
        SkipTlsVerify = SkipTlsVerify,
        Proxy = Proxy,
    };

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
