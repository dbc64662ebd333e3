using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using OciPS.Core.Build;
using OciPS.Core.Build.Layers;
using OciPS.Core.Content;
using OciPS.Core.Model;
using OciPS.Core.References;
using OciPS.Core.Registry;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Builds an image from a Dockerfile and a build context without a container engine.</summary>
[Cmdlet(VerbsCommon.New, "OciImage", SupportsShouldProcess = true)]
[OutputType(typeof(OciImage), typeof(OciIndex))]
public sealed class NewOciImageCommand : RegistryCmdlet
{
    /// <summary>The build context directory.</summary>
    [Parameter(Position = 0)]
    [Alias("Context")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = ".";

    /// <summary>The Dockerfile (default: Dockerfile in the context).</summary>
    [Parameter]
    [Alias("Dockerfile")]
    [ValidateNotNullOrEmpty]
    public string? File { get; set; }

    /// <summary>Where the image goes: a registry reference, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG].</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = string.Empty;

    /// <summary>Values for the Dockerfile's ARG instructions.</summary>
    [Parameter]
    public Hashtable? BuildArg { get; set; }

    /// <summary>The stage to build (default: the last).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Target { get; set; }

    /// <summary>The platforms to build; several give an index.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string[]? Platform { get; set; }

    /// <summary>Docker or Oci manifests (default: Oci for oci: and oci-archive:, Docker otherwise).</summary>
    [Parameter]
    public BuildFormat? Format { get; set; }

    /// <summary>Gzip (default) or Zstd for the new layers.</summary>
    [Parameter]
    public BuildCompression Compression { get; set; }

    /// <summary>Fixes every time in the image for reproducible digests (default: $env:SOURCE_DATE_EPOCH).</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long? SourceDateEpoch { get; set; }

    /// <summary>Manifest annotations.</summary>
    [Parameter]
    public Hashtable? Annotation { get; set; }

    /// <summary>Labels added to the image config (after the Dockerfile's LABELs).</summary>
    [Parameter]
    public Hashtable? Label { get; set; }

    /// <summary>Credentials for the source registry (default: -Credential, else stored ones).</summary>
    [Parameter]
    [Credential]
    public PSCredential? SourceCredential { get; set; }

    /// <summary>Credentials for the destination registry (default: -Credential, else stored ones).</summary>
    [Parameter]
    [Credential]
    public PSCredential? DestinationCredential { get; set; }

    /// <summary>The proxy for the source registry (default: -Proxy).</summary>
    [Parameter]
    public Uri? SourceProxy { get; set; }

    /// <summary>The proxy for the destination registry (default: -Proxy).</summary>
    [Parameter]
    public Uri? DestinationProxy { get; set; }

    /// <summary>Talks plain HTTP to the source registry (default: -AllowInsecure).</summary>
    [Parameter]
    public SwitchParameter SourceAllowInsecure { get; set; }

    /// <summary>Talks plain HTTP to the destination registry (default: -AllowInsecure).</summary>
    [Parameter]
    public SwitchParameter DestinationAllowInsecure { get; set; }

    /// <summary>CA certificates (PEM) trusted for the source registry (default: -CaCertificate).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SourceCaCertificate { get; set; }

    /// <summary>CA certificates (PEM) trusted for the destination registry (default: -CaCertificate).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DestinationCaCertificate { get; set; }

    /// <summary>Accepts any TLS certificate from the source registry (default: -SkipCertificateCheck).</summary>
    [Parameter]
    public SwitchParameter SourceSkipCertificateCheck { get; set; }

    /// <summary>Accepts any TLS certificate from the destination registry (default: -SkipCertificateCheck).</summary>
    [Parameter]
    public SwitchParameter DestinationSkipCertificateCheck { get; set; }

    /// <summary>Returns the image (or index) written to the destination.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private protected override RegistrySide? SourceSide => new(
        SourceCredential,
        SourceProxy,
        Bound(nameof(SourceAllowInsecure), SourceAllowInsecure),
        SourceCaCertificate,
        Bound(nameof(SourceSkipCertificateCheck), SourceSkipCertificateCheck));

    /// <summary>The destination's registry options: its own settings first, then the unprefixed ones.</summary>
    private RegistryOptions DestinationRegistryOptions => ConnectionOptions(Credential, new RegistrySide(
        DestinationCredential,
        DestinationProxy,
        Bound(nameof(DestinationAllowInsecure), DestinationAllowInsecure),
        DestinationCaCertificate,
        Bound(nameof(DestinationSkipCertificateCheck), DestinationSkipCertificateCheck)));

    protected override void EndProcessing()
    {
        if (SourceDateEpoch is null && long.TryParse(Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"), NumberStyles.None, CultureInfo.InvariantCulture, out var epoch))
        {
            SourceDateEpoch = epoch;
        }

        var context = ResolvePath(Path);
        var dockerfile = File is null ? System.IO.Path.Combine(context, "Dockerfile") : ResolvePath(File);
        ImageLocation destination;
        IReadOnlyList<Platform> platforms;
        try
        {
            destination = ParseLocation(Destination);
            platforms = (Platform ?? []).SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Select(p => ParsePlatform(p)!).ToArray();
        }
        catch (Exception ex) when (IsPerInput(ex) || ex is PSArgumentException)
        {
            ThrowTerminatingError(ex is PSArgumentException ps ? new ErrorRecord(ps, "PlatformInvalid", ErrorCategory.InvalidArgument, Platform) : ErrorMapping.ToErrorRecord(ex, Destination));
            return;
        }

        // Staged next to an OCI layout destination, new blobs are moved into it (one file system) instead of copied.
        var stagingParent = destination.Transport == LocationTransport.OciLayout ? System.IO.Path.GetDirectoryName(destination.Path!) : null;
        var staging = System.IO.Path.Combine(stagingParent ?? System.IO.Path.GetTempPath(), ".ocips-build-" + Guid.NewGuid().ToString("N")[..12]);
        var progress = new ProgressReporter(Progress);
        var options = new ImageBuildOptions
        {
            ContextDirectory = context,
            DockerfilePath = dockerfile,
            StagingDirectory = staging,
            BuildArgs = Strings(BuildArg),
            Target = Target,
            Platforms = platforms,
            Format = Format ?? (destination.Transport is LocationTransport.OciLayout or LocationTransport.OciArchive ? BuildFormat.Oci : BuildFormat.Docker),
            Compression = Compression,
            SourceDateEpoch = SourceDateEpoch,
            Annotations = Strings(Annotation),
            Labels = Strings(Label),
            ResolvePath = ResolvePath,
            SourceOptions = SourceOptions,
            Progress = progress,
            Warning = Warning,
        };

        try
        {
            // Everything that can be found wrong without reading an image is reported before any work (and under -WhatIf).
            ImageBuilder.Validate(options);
        }
        catch (Exception ex) when (IsPerInput(ex))
        {
            WriteError(ErrorMapping.ToErrorRecord(ex, dockerfile));
            return;
        }

        if (!ShouldProcess(destination.ToString(), $"Build {dockerfile} into an image"))
        {
            return;
        }

        var destinationOptions = new ImageDestinationOptions { Registry = DestinationRegistryOptions, Force = true };
        var sourceOptions = SourceOptions;
        RunAsync(async cancellationToken =>
        {
            try
            {
                var result = await ImageBuilder.BuildAsync(options, cancellationToken).ConfigureAwait(false);
                await BuildOutput.WriteAsync(result.Source, destination, destinationOptions, moveStagedBlobs: true, cancellationToken).ConfigureAwait(false);
                Verbose($"Built {result.Digest} ({result.Images.Sum(i => i.NewLayers.Count)} new layer(s)) into {destination}.");
                if (PassThru)
                {
                    await EmitAsync(await ImageLoader.LoadAsync(ImageSources.Open(destination, sourceOptions with { Registry = destinationOptions.Registry }), null, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, dockerfile).ConfigureAwait(false);
            }
            finally
            {
                progress.CompleteAll();
                try
                {
                    Directory.Delete(staging, recursive: true);
                }
                catch (DirectoryNotFoundException)
                {
                }
            }
        });
    }

    private static Dictionary<string, string> Strings(Hashtable? table)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in table ?? [])
        {
            result[entry.Key.ToString() ?? string.Empty] = LanguagePrimitives.ConvertTo<string>(entry.Value) ?? string.Empty;
        }

        return result;
    }
}
