using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using System.Text;
using OciPS.Core.Artifacts;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Packs the files, directories, downloads and images a YAML pack file names into an OCI artifact and pushes it.</summary>
[Cmdlet(VerbsData.Publish, "OciArtifact", SupportsShouldProcess = true)]
[OutputType(typeof(PublishedArtifact))]
public sealed class PublishOciArtifactCommand : RegistryCmdlet
{
    /// <summary>The pack file (YAML).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "Path")]
    [ValidateNotNullOrEmpty]
    public string PackFile { get; set; } = string.Empty;

    /// <summary>Where the artifact goes: a registry reference (host/repository:tag) or oci:DIR:TAG.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = string.Empty;

    /// <summary>Artifact annotations that override the pack file's.</summary>
    [Parameter]
    public Hashtable? Annotation { get; set; }

    /// <summary>Directories become one layer per file instead of one tar+gzip layer.</summary>
    [Parameter]
    public SwitchParameter Expand { get; set; }

    /// <summary>Adds org.opencontainers.image.created with this time (artifacts are reproducible without it).</summary>
    [Parameter]
    public DateTime? Created { get; set; }

    /// <summary>Returns what was pushed.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var packPath = ResolvePath(PackFile);
        ImageLocation destination;
        try
        {
            destination = ParseLocation(Destination);
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            Report(ex, Destination);
            return;
        }

        var overrides = Overrides();
        var registryOptions = RegistryOptionsFor(Credential);
        var readOptions = new PackFileReadOptions { AnnotationOverrides = overrides };
        var progress = new ProgressReporter(Progress);
        var options = new ArtifactPackOptions
        {
            Expand = Expand,
            Created = Created is { } created ? new DateTimeOffset(created.ToUniversalTime(), TimeSpan.Zero) : null,
            Progress = progress,
            SourceOptions = SourceOptions,
            ResolveSubjectDigest = (digest, token) => ArtifactDestinations.ResolveDigestAsync(destination, digest, registryOptions, token),
        };
        RunAsync(async cancellationToken =>
        {
            try
            {
                var pack = await PackFileReader.ReadAsync(packPath, readOptions, cancellationToken).ConfigureAwait(false);
                var plan = await ArtifactPublisher.PlanAsync(pack, options, cancellationToken).ConfigureAwait(false);
                await using (plan.ConfigureAwait(false))
                {
                    if (!await ShouldProcessAsync(destination.ToString(), Describe(plan)).ConfigureAwait(false))
                    {
                        return;
                    }

                    var target = ArtifactDestinations.Open(destination, new ImageDestinationOptions { Registry = registryOptions });
                    await using (target.ConfigureAwait(false))
                    {
                        var published = await ArtifactPublisher.PushAsync(plan, target, progress, cancellationToken).ConfigureAwait(false);
                        if (PassThru)
                        {
                            await EmitAsync(published).ConfigureAwait(false);
                        }
                    }
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, packPath).ConfigureAwait(false);
            }
            finally
            {
                progress.CompleteAll();
            }
        });
    }

    /// <summary>The action text: under -WhatIf it shows the manifests that would be pushed, exactly as they would be.</summary>
    private static string Describe(ArtifactPlan plan)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Publish the artifact {plan.Root.Content.Digest} ({plan.Blobs.Count} blobs) from '{plan.Pack.Path}':");
        foreach (var manifest in plan.Children)
        {
            text.Append(Environment.NewLine).Append(Encoding.UTF8.GetString(manifest.Content.Bytes));
        }

        text.Append(Environment.NewLine).Append(Encoding.UTF8.GetString(plan.Root.Content.Bytes));
        return text.ToString();
    }

    private Dictionary<string, string>? Overrides()
    {
        if (Annotation is null)
        {
            return null;
        }

        var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Annotation)
        {
            overrides[entry.Key.ToString() ?? string.Empty] = LanguagePrimitives.ConvertTo<string>(entry.Value) ?? string.Empty;
        }

        return overrides;
    }
}
