using System;
using System.Management.Automation;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Lists the tags of registry repositories, following the registry's pages.</summary>
[Cmdlet(VerbsCommon.Get, "OciTag")]
[OutputType(typeof(OciTag))]
public sealed class GetOciTagCommand : RegistryCmdlet
{
    /// <summary>Repositories (<c>registry/name</c>; a tag or digest given is ignored).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Image", "Name")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Repository { get; set; } = [];

    /// <summary>Tags asked for per request (the registry may send fewer).</summary>
    [Parameter]
    [ValidateRange(1, 10000)]
    public int? PageSize { get; set; }

    protected override void ProcessRecord()
    {
        var options = SourceOptions.Registry;
        foreach (var text in Repository)
        {
            ImageReference reference;
            try
            {
                var location = ParseLocation(text.StartsWith("docker://", StringComparison.Ordinal) ? text : "docker://" + text);
                reference = location.Reference!;
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                Report(ex, text);
                continue;
            }

            var pageSize = PageSize;
            RunAsync(async cancellationToken =>
            {
                try
                {
                    var client = new RegistryClient(reference, options);
                    var name = reference.Registry + "/" + reference.Repository;
                    await foreach (var tag in client.ListTagsAsync(pageSize, cancellationToken).ConfigureAwait(false))
                    {
                        await EmitAsync(new OciTag(name, tag)).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (IsPerInput(ex))
                {
                    await ReportAsync(ex, text).ConfigureAwait(false);
                }
            });
        }
    }
}
