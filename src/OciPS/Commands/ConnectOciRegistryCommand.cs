using System;
using System.Management.Automation;
using OciPS.Core.References;
using OciPS.Core.Registry;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>What Connect-OciRegistry did.</summary>
public sealed record OciRegistryLogin(string Registry, string UserName, string? StoredIn);

/// <summary>Checks credentials against a registry and stores them where docker and podman read them (or for this session only).</summary>
[Cmdlet(VerbsCommunications.Connect, "OciRegistry", SupportsShouldProcess = true)]
[OutputType(typeof(OciRegistryLogin))]
public sealed class ConnectOciRegistryCommand : RegistryConnectionCmdlet
{
    /// <summary>The registry host: docker.io, ghcr.io, localhost:5000…</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(RegistryHostCompleter))]
    [ValidateNotNullOrEmpty]
    public string Registry { get; set; } = string.Empty;

    /// <summary>The user name and password (or token).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Credential]
    public PSCredential Credential { get; set; } = PSCredential.Empty;

    /// <summary>Keeps the credentials in this PowerShell process only, writing no file.</summary>
    [Parameter]
    public SwitchParameter NoStore { get; set; }

    /// <summary>The docker config file to store in (default: $env:DOCKER_CONFIG/config.json or ~/.docker/config.json).</summary>
    [Parameter]
    public string? AuthFile { get; set; }

    /// <summary>Skips checking the credentials against the registry.</summary>
    [Parameter]
    public SwitchParameter NoVerify { get; set; }

    /// <summary>Returns what was stored.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var host = CredentialStore.NormaliseHost(Registry);
        var credential = new RegistryCredential(Credential.UserName, Credential.GetNetworkCredential().Password);
        var file = NoStore ? null : AuthFile is null ? CredentialStore.DockerConfigPath : ResolvePath(AuthFile);
        if (!ShouldProcess(host, file is null ? $"Remember the credentials of '{credential.Username}' for this session" : $"Store the credentials of '{credential.Username}' in '{file}'"))
        {
            return;
        }

        var options = ConnectionOptions(Credential) with { Credentials = new CredentialStore([]) };
        var verify = !NoVerify.IsPresent;
        var passThru = PassThru.IsPresent;
        RunAsync(async cancellationToken =>
        {
            try
            {
                if (verify)
                {
                    await new RegistryClient(ImageReference.Parse(host + "/ocips/login"), options).CheckLoginAsync(cancellationToken).ConfigureAwait(false);
                }

                if (file is null)
                {
                    CredentialStore.RememberForSession(host, credential);
                }
                else
                {
                    CredentialStore.StoreInFile(file, host, credential);
                }

                if (passThru)
                {
                    await EmitAsync(new OciRegistryLogin(host, credential.Username, file)).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, host).ConfigureAwait(false);
            }
        });
    }
}
