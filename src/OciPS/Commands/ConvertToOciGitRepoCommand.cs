using System;
using System.Management.Automation;
using OciPS.Core.Content;
using OciPS.Core.Git;
using OciPS.Core.Model;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Where oci2git's <c>--engine</c> reads images from, as OciPS locations.</summary>
public enum OciGitEngine
{
    /// <summary>The location as given (any OciPS location).</summary>
    Auto,

    /// <summary>A bare image name is read from the Docker engine's API socket (docker-daemon:).</summary>
    Docker,

    /// <summary>A bare image name is read from Podman's Docker-compatible API socket (docker-daemon:, Podman's socket first).</summary>
    Podman,

    /// <summary>A bare path is a <c>nerdctl save</c> tarball (docker-archive:).</summary>
    Nerdctl,

    /// <summary>A bare path is a <c>docker save</c> tarball (docker-archive:).</summary>
    Tar,
}

/// <summary>Converts an image's history into a git repository: a commit per history step, Image.md, rootfs/ and rootfs.meta.</summary>
[Cmdlet(VerbsData.ConvertTo, "OciGitRepo", DefaultParameterSetName = LocationSet, SupportsShouldProcess = true)]
[OutputType(typeof(GitConversionResult))]
public sealed class ConvertToOciGitRepoCommand : RegistryCmdlet
{
    private const string LocationSet = "Location";
    private const string InputObjectSet = "InputObject";

    private string _repository = string.Empty;

    /// <summary>An image location (or, with -Engine, a bare image name or tarball path).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = LocationSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string Image { get; set; } = string.Empty;

    /// <summary>An image or index from Get-OciManifest.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    public OciManifest? InputObject { get; set; }

    /// <summary>The repository's directory: created when missing; an existing repository gets another branch.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Destination", "Output")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The branch to write (default: a name made from the image's reference).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Branch { get; set; }

    /// <summary>Check the image's branch out into the repository's work tree afterwards.</summary>
    [Parameter]
    public SwitchParameter Checkout { get; set; }

    /// <summary>oci2git's engines: where a bare name or path is read from.</summary>
    [Parameter]
    public OciGitEngine Engine { get; set; }

    /// <summary>The platform to pick from an index.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    protected override void BeginProcessing() => _repository = ResolvePath(Path);

    protected override void ProcessRecord()
    {
        var location = ParameterSetName == LocationSet ? WithEngine(Image) : string.Empty;
        var options = SourceOptions with { PreferPodman = Engine == OciGitEngine.Podman };
        if (!TryResolveImage(InputObject, location, Platform, out var resolve, out var target, options))
        {
            return;
        }

        var name = InputObject?.Reference ?? location;
        if (!ShouldProcess(_repository, $"Convert the history of {name} into git commits{(Branch is null ? string.Empty : " on branch " + Branch)}{(Checkout ? " and check it out" : string.Empty)}"))
        {
            return;
        }

        var progress = new ProgressReporter(Progress);
        var repository = _repository;
        var conversion = new GitConversionOptions { Branch = Branch, Checkout = Checkout };
        RunAsync(async cancellationToken =>
        {
            try
            {
                var image = await resolve(cancellationToken).ConfigureAwait(false);
                var result = await GitRepoConverter.ConvertAsync(image, repository, conversion, progress, Verbose, Warning, cancellationToken).ConfigureAwait(false);
                await EmitAsync(result).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, target).ConfigureAwait(false);
            }
            finally
            {
                progress.CompleteAll();
            }
        });
    }

    /// <summary>A bare name or path as the engine oci2git users name would read it; locations with a transport are left alone.</summary>
    private string WithEngine(string image)
    {
        if (Engine == OciGitEngine.Auto || image.Contains("://", StringComparison.Ordinal) ||
            image.StartsWith("docker-daemon:", StringComparison.Ordinal) || image.StartsWith("docker-archive:", StringComparison.Ordinal) ||
            image.StartsWith("oci:", StringComparison.Ordinal) || image.StartsWith("oci-archive:", StringComparison.Ordinal))
        {
            return image;
        }

        return Engine is OciGitEngine.Docker or OciGitEngine.Podman ? "docker-daemon:" + image : "docker-archive:" + image;
    }
}
