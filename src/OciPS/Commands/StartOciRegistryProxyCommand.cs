using System;
using System.IO;
using System.Management.Automation;
using System.Text.RegularExpressions;
using OciPS.Core.Artifacts;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Serves an OCI layout read-only over the distribution API on 127.0.0.1, as a job that Stop-Job ends.</summary>
[Cmdlet(VerbsLifecycle.Start, "OciRegistryProxy", SupportsShouldProcess = true)]
[OutputType(typeof(RegistryProxyJob))]
public sealed class StartOciRegistryProxyCommand : OciCmdlet
{
    /// <summary>The OCI layout directory to serve.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "LiteralPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The port on 127.0.0.1; a free one is picked when not given.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int Port { get; set; }

    /// <summary>The repository name the layout is served as (default: the directory's name).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    protected override void ProcessRecord()
    {
        var layout = ResolvePath(Path);
        var name = Name ?? DefaultName(layout);
        if (!ShouldProcess(layout, $"Serve as the registry repository '{name}' on 127.0.0.1"))
        {
            return;
        }

        try
        {
            var server = RegistryProxyServer.Start(layout, name, Port);
            var job = new RegistryProxyJob(server, MyInvocation.Line);
            JobRepository.Add(job);
            WriteObject(job);
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            Report(ex, layout);
        }
    }

    /// <summary>A repository name from the directory's name: lower case, other characters as '-'.</summary>
    private static string DefaultName(string layout)
    {
        var leaf = System.IO.Path.GetFileName(layout.TrimEnd(System.IO.Path.DirectorySeparatorChar, '/')).ToLowerInvariant();
        var name = Regex.Replace(leaf, "[^a-z0-9]+", "-").Trim('-');
        return name.Length == 0 ? "layout" : name;
    }
}

/// <summary>The job a registry proxy runs as: Running while it serves; Stop-Job closes the port.</summary>
public sealed class RegistryProxyJob : Job
{
    private readonly RegistryProxyServer _server;

    internal RegistryProxyJob(RegistryProxyServer server, string command)
        : base(command, "OciRegistryProxy:" + server.Name)
    {
        _server = server;
        PSJobTypeName = "OciRegistryProxy";
        Info = new RegistryProxyInfo(server.Host, server.Port, server.Name, server.LayoutPath);
        _server.Log = message => Verbose.Add(new VerboseRecord(message));
        Output.Add(PSObject.AsPSObject(Info));
        SetJobState(JobState.Running);
    }

    /// <summary>Where the proxy listens and what it serves (also the job's first output).</summary>
    public RegistryProxyInfo Info { get; }

    /// <summary>127.0.0.1:PORT, the registry host clients use.</summary>
    public string Host => Info.Host;

    public int Port => Info.Port;

    public override string StatusMessage => $"Serving '{_server.LayoutPath}' as {_server.Host}/{_server.Name} ({_server.RequestCount} requests)";

    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0;

    public override string Location => "http://" + _server.Host + "/v2/" + _server.Name;

    public override void StopJob()
    {
        if (JobStateInfo.State is JobState.Stopped or JobState.Completed or JobState.Failed)
        {
            return;
        }

        SetJobState(JobState.Stopping);
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        SetJobState(JobState.Stopped);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            StopJob();
        }

        base.Dispose(disposing);
    }
}

/// <summary>What a registry proxy serves: pull <c>docker://HOST/NAME:TAG</c>.</summary>
public sealed record RegistryProxyInfo(string Host, int Port, string Name, string Path)
{
    /// <summary>The base of the references to pull: <c>127.0.0.1:PORT/NAME</c>.</summary>
    public string Repository => Host + "/" + Name;
}
