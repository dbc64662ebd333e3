using System;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using OciPS.Core;
using OciPS.Core.Merge;
using OciPS.Core.Model;
using OciPS.Core.Sinks;
using OciPS.Core.Sinks.Ext4;
using OciPS.Core.Sinks.Tar;
using OciPS.Infrastructure;

namespace OciPS.Commands;

/// <summary>Writes an image's merged filesystem (or merged entries from the pipeline) as a directory, a tar, a squashfs or an ext4 image.</summary>
[Cmdlet(VerbsData.Export, "OciRootfs", DefaultParameterSetName = LocationSet, SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo), typeof(DirectoryInfo))]
public sealed class ExportOciRootfsCommand : RegistryCmdlet
{
    private const string LocationSet = "Location";
    private const string InputObjectSet = "InputObject";

    private EntryExport? _entries;
    private IRootfsSink? _sink;
    private string _destination = string.Empty;
    private bool _exportedImage;
    private bool _skipped;
    private long? _ext4Size;

    /// <summary>An image location.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = LocationSet)]
    [Alias("Location")]
    [ArgumentCompleter(typeof(ImageLocationCompleter))]
    [ValidateNotNullOrEmpty]
    public string Image { get; set; } = string.Empty;

    /// <summary>An image or index from Get-OciManifest, or merged entries from Merge-OciLayer.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    public PSObject? InputObject { get; set; }

    /// <summary>Directory, Tar, SquashFs or Ext4.</summary>
    [Parameter(Mandatory = true)]
    public RootfsFormat Format { get; set; }

    /// <summary>Where the output goes (a directory, or a file).</summary>
    [Parameter(Mandatory = true)]
    [Alias("Destination")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The platform to pick from an index.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(PlatformCompleter))]
    public string? Platform { get; set; }

    /// <summary>Replaces an existing output (only once the new one is complete).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Returns the written file or directory.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Directory: write everything as the current user instead of the image's owners.</summary>
    [Parameter]
    public SwitchParameter NoSameOwner { get; set; }

    /// <summary>Tar: None, Gzip or Zstd. SquashFs: Gzip (default) or Zstd.</summary>
    [Parameter]
    public TarCompression Compression { get; set; }

    /// <summary>Tar and SquashFs: the compression level.</summary>
    [Parameter]
    [ValidateRange(1, 22)]
    public int? CompressionLevel { get; set; }

    /// <summary>SquashFs: the data block size, a power of two from 4 KiB to 1 MiB (default 128 KiB). Ext4: 1024, 2048 or 4096 (default).</summary>
    [Parameter]
    [ValidateRange(1024, 1048576)]
    public int? BlockSize { get; set; }

    /// <summary>Ext4: the image size ('512M', '1G', bytes) or Auto (the content plus headroom, the default).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Size { get; set; }

    /// <summary>Ext4: the volume label (at most 16 bytes).</summary>
    [Parameter]
    public string? Label { get; set; }

    /// <summary>Ext4: the filesystem UUID (default: random).</summary>
    [Parameter]
    public Guid? Uuid { get; set; }

    /// <summary>Ext4: bytes per inode (default 16384).</summary>
    [Parameter]
    [ValidateRange(1024, 67108864)]
    public int? InodeRatio { get; set; }

    /// <summary>Ext4: adds an internal journal (none by default).</summary>
    [Parameter]
    public SwitchParameter Journal { get; set; }

    /// <summary>Clamps every modification time to this Unix time (default: $env:SOURCE_DATE_EPOCH).</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long? SourceDateEpoch { get; set; }

    protected override void BeginProcessing()
    {
        _destination = ResolvePath(Path);
        if (BlockSize is not null && Format is not (RootfsFormat.SquashFs or RootfsFormat.Ext4))
        {
            ThrowTerminatingError(new ErrorRecord(new PSArgumentException($"-BlockSize applies to -Format SquashFs and Ext4, not {Format}."), "ExportParameterNotApplicable", ErrorCategory.InvalidArgument, BlockSize));
        }

        foreach (var name in new[] { nameof(Size), nameof(Label), nameof(Uuid), nameof(InodeRatio), nameof(Journal) })
        {
            if (Format != RootfsFormat.Ext4 && MyInvocation.BoundParameters.ContainsKey(name))
            {
                ThrowTerminatingError(new ErrorRecord(new PSArgumentException($"-{name} applies to -Format Ext4, not {Format}."), "ExportParameterNotApplicable", ErrorCategory.InvalidArgument, name));
            }
        }

        if (Format == RootfsFormat.Ext4)
        {
            try
            {
                _ext4Size = Ext4SinkOptions.ParseSize(Size ?? "Auto");
            }
            catch (OciException ex)
            {
                ThrowTerminatingError(ErrorMapping.ToErrorRecord(ex, Size));
            }
        }

        if (Format == RootfsFormat.SquashFs && Compression == TarCompression.None && MyInvocation.BoundParameters.ContainsKey(nameof(Compression)))
        {
            ThrowTerminatingError(new ErrorRecord(new PSArgumentException("SquashFs images are always compressed: use -Compression Gzip (the default) or Zstd."), "ExportParameterNotApplicable", ErrorCategory.InvalidArgument, Compression));
        }

        if (SourceDateEpoch is null && long.TryParse(Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"), NumberStyles.None, CultureInfo.InvariantCulture, out var epoch))
        {
            SourceDateEpoch = epoch;
        }
    }

    protected override void ProcessRecord()
    {
        if (InputObject?.BaseObject is OciFileEntry entry)
        {
            AddEntry(entry);
            return;
        }

        var manifest = InputObject?.BaseObject as OciManifest;
        if (InputObject is not null && manifest is null)
        {
            WriteError(new ErrorRecord(new PSArgumentException($"Export-OciRootfs takes images (Get-OciManifest) or merged entries (Merge-OciLayer), not {InputObject.BaseObject.GetType().Name}."), "ExportInputInvalid", ErrorCategory.InvalidArgument, InputObject));
            return;
        }

        if (_exportedImage || _entries is not null)
        {
            WriteError(new ErrorRecord(new PSArgumentException($"Export-OciRootfs writes one filesystem to '{_destination}'; export further images to other paths."), "ExportOneImagePerPath", ErrorCategory.InvalidOperation, InputObject));
            return;
        }

        if (!TryResolveImage(manifest, Image, Platform, out var resolve, out var target))
        {
            return;
        }

        _exportedImage = true;
        if (!ShouldProcess(_destination, $"Export the filesystem of {(manifest?.Reference ?? Image)} as {Format}"))
        {
            return;
        }

        var progress = new ProgressReporter(Progress);
        var options = Options();
        RunAsync(async cancellationToken =>
        {
            try
            {
                var image = await resolve(cancellationToken).ConfigureAwait(false);
                var sink = RootfsExport.CreateSink(Format, _destination, options, Warning);
                await using (sink.ConfigureAwait(false))
                {
                    var merger = LayerMerger.For(image, ReportIssue, progress);
                    await RootfsExport.RunAsync(merger.MergeAsync(cancellationToken), sink, cancellationToken).ConfigureAwait(false);
                }

                await PassThruAsync().ConfigureAwait(false);
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

    protected override void EndProcessing()
    {
        if (_entries is null)
        {
            return;
        }

        var entries = _entries;
        var sink = _sink!;
        RunAsync(async cancellationToken =>
        {
            try
            {
                await entries.CompleteAsync(cancellationToken).ConfigureAwait(false);
                await PassThruAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                await ReportAsync(ex, _destination).ConfigureAwait(false);
            }
            finally
            {
                await sink.DisposeAsync().ConfigureAwait(false);
                _sink = null;
            }
        });
    }

    protected override void Dispose(bool disposing)
    {
        // A stopped or failed pipeline leaves no partial output: disposing an uncompleted sink deletes it.
        if (disposing && _sink is not null)
        {
            _ = _sink.DisposeAsync().AsTask();
            _sink = null;
        }

        base.Dispose(disposing);
    }

    private void AddEntry(OciFileEntry entry)
    {
        if (_skipped)
        {
            return;
        }

        if (_exportedImage)
        {
            WriteError(new ErrorRecord(new PSArgumentException("Export-OciRootfs cannot take an image and entries in one call."), "ExportOneImagePerPath", ErrorCategory.InvalidOperation, entry));
            return;
        }

        if (_entries is null)
        {
            if (!ShouldProcess(_destination, $"Export merged entries as {Format}"))
            {
                _skipped = true;
                return;
            }

            try
            {
                _sink = RootfsExport.CreateSink(Format, _destination, Options(), message => WriteWarning(message));
            }
            catch (Exception ex) when (IsPerInput(ex))
            {
                _skipped = true;
                ThrowTerminatingError(ErrorMapping.ToErrorRecord(ex, _destination));
                return;
            }

            _entries = new EntryExport(_sink, Warning);
        }

        var export = _entries;
        RunAsync(cancellationToken => export.AddAsync(entry, cancellationToken));
    }

    private RootfsExportOptions Options() => new()
    {
        Force = Force,
        SourceDateEpoch = SourceDateEpoch,
        SameOwner = !NoSameOwner,
        Compression = Compression,
        CompressionLevel = CompressionLevel,
        BlockSize = BlockSize,
        Ext4 = Format == RootfsFormat.Ext4
            ? new Ext4SinkOptions { Size = _ext4Size, Label = Label, Uuid = Uuid, InodeRatio = InodeRatio ?? Ext4SinkOptions.DefaultInodeRatio, Journal = Journal }
            : null,
    };

    private Task PassThruAsync()
    {
        if (!PassThru)
        {
            return Task.CompletedTask;
        }

        return EmitAsync(Format == RootfsFormat.Directory ? new DirectoryInfo(_destination) : new FileInfo(_destination));
    }
}
