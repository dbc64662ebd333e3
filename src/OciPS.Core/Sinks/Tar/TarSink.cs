using System.IO.Compression;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Tar;

/// <summary>How the tar export compresses its output.</summary>
public enum TarCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>How a merged filesystem is written as a tar.</summary>
public sealed record TarSinkOptions
{
    public TarCompression Compression { get; init; }

    /// <summary>The compression level (gzip 1–9, zstd 1–22); null for the compressor's default.</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>Clamp every modification time to this Unix time (reproducible output).</summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Replace an existing file at the destination (only once the new one is complete).</summary>
    public bool Force { get; init; }
}

/// <summary>
/// Writes a merged filesystem as a POSIX (PAX) tar, in the merge's deterministic order, optionally
/// gzip- or zstd-compressed. Parent directories that never came as entries are added at the end, so
/// every tool that unpacks the tar finds them. The same image and options give the same bytes.
/// </summary>
public sealed class TarSink : IRootfsSink
{
    private readonly string _destination;
    private readonly string _temporary;
    private readonly TarSinkOptions _options;
    private readonly FileStream _file;
    private readonly Stream _compressed;
    private readonly TarWriter _writer;
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _parents = new(StringComparer.Ordinal);
    private readonly Action<string>? _warn;
    private bool _warnedSockets;
    private bool _completed;

    private TarSink(string destination, string temporary, TarSinkOptions options, Action<string>? warn)
    {
        _warn = warn;
        _destination = destination;
        _temporary = temporary;
        _options = options;
        _file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        _compressed = options.Compression switch
        {
            TarCompression.Gzip => new GZipStream(_file, GzipLevel(options.CompressionLevel), leaveOpen: true),
            TarCompression.Zstd => new ZstdSharp.CompressionStream(_file, options.CompressionLevel ?? 3, leaveOpen: true),
            _ => _file,
        };
        _writer = new TarWriter(_compressed, leaveOpen: true);
    }

    /// <param name="warn">Receives what the tar format cannot hold (sockets), once.</param>
    public static TarSink Create(string path, TarSinkOptions options, Action<string>? warn = null)
    {
        var destination = Path.GetFullPath(path);
        OutputPlacement.CheckDestination(destination, options.Force);
        return new TarSink(destination, OutputPlacement.TemporarySibling(destination), options, warn);
    }

    public async ValueTask AddAsync(OciFileEntry entry, Stream? content, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (entry.Type == OciFileType.Socket)
        {
            if (!_warnedSockets)
            {
                _warnedSockets = true;
                _warn?.Invoke($"The tar format cannot hold sockets; they are left out (first: '{entry.Path}').");
            }

            return;
        }

        _written.Add(entry.Path);
        for (var parent = EntryName.Parent(entry.Path); parent != "."; parent = EntryName.Parent(parent))
        {
            if (!_parents.Add(parent))
            {
                break;
            }
        }

        await _writer.WriteAsync(ToHeader(entry), content, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var time = new UnixTime(_options.SourceDateEpoch ?? 0, 0);
        foreach (var parent in _parents.Where(p => !_written.Contains(p)))
        {
            await _writer.WriteAsync(new TarHeader { Name = parent, Kind = TarEntryKind.Directory, Mode = 0x1ED, ModifiedTime = time }, null, cancellationToken).ConfigureAwait(false);
        }

        await _writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        if (_compressed != _file)
        {
            // Disposing the compressor writes its last block into the file.
            await _compressed.DisposeAsync().ConfigureAwait(false);
        }

        await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
        await _file.DisposeAsync().ConfigureAwait(false);
        OutputPlacement.MoveIntoPlace(_temporary, _destination, _options.Force);
        _completed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        await _compressed.DisposeAsync().ConfigureAwait(false);
        await _file.DisposeAsync().ConfigureAwait(false);
        File.Delete(_temporary);
    }

    private TarHeader ToHeader(OciFileEntry entry) => new()
    {
        Name = entry.Path,
        Kind = TarEntryKinds.From(entry.Type) ?? throw new ArgumentException($"A {entry.Type} entry ('{entry.Path}') cannot be written to a tar.", nameof(entry)),
        Mode = entry.Mode,
        Uid = entry.Uid,
        Gid = entry.Gid,
        UserName = entry.UserName,
        GroupName = entry.GroupName,
        Size = entry.Type == OciFileType.File ? entry.Size : 0,
        ModifiedTime = _options.SourceDateEpoch is { } epoch && entry.ModifiedTime.Seconds >= epoch ? new UnixTime(epoch, 0) : entry.ModifiedTime,
        LinkName = entry.LinkTarget,
        DeviceMajor = entry.DeviceMajor,
        DeviceMinor = entry.DeviceMinor,
        Xattrs = entry.Xattrs,
    };

    private static CompressionLevel GzipLevel(int? level) => level switch
    {
        null => System.IO.Compression.CompressionLevel.Optimal,
        <= 1 => System.IO.Compression.CompressionLevel.Fastest,
        >= 9 => System.IO.Compression.CompressionLevel.SmallestSize,
        _ => System.IO.Compression.CompressionLevel.Optimal,
    };
}
