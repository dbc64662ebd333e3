using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using OciPS.Core.Content;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Directory;

/// <summary>
/// Writes a merged filesystem into a directory: content streamed to disk (sparse files kept sparse),
/// then owners, modes, xattrs and times with nanoseconds; directories' metadata last, deepest first.
/// Owners, devices and some xattrs need root: without it they are skipped with one warning each.
/// </summary>
public sealed class DirectorySink : IRootfsSink
{
    private const int CopyBufferSize = 1 << 20;
    private readonly string _destination;
    private readonly string _temporary;
    private readonly DirectorySinkOptions _options;
    private readonly Action<string>? _warn;
    private readonly ITreeWriter _tree;
    private readonly Dictionary<string, OciFileEntry> _directories = new(StringComparer.Ordinal);
    private readonly HashSet<string> _added = new(StringComparer.Ordinal);
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);
    private bool _completed;

    private DirectorySink(string destination, string temporary, DirectorySinkOptions options, Action<string>? warn, ITreeWriter tree)
    {
        _destination = destination;
        _temporary = temporary;
        _options = options;
        _warn = warn;
        _tree = tree;
    }

    /// <summary>Starts writing into a temporary directory next to <paramref name="path"/>.</summary>
    /// <param name="warn">Receives each kind of thing that could not be applied, once.</param>
    public static DirectorySink Create(string path, DirectorySinkOptions options, Action<string>? warn = null)
    {
        var destination = Path.GetFullPath(path);
        OutputPlacement.CheckDestination(destination, options.Force);
        var temporary = OutputPlacement.TemporarySibling(destination);
        System.IO.Directory.CreateDirectory(temporary);
        ITreeWriter tree = OperatingSystem.IsLinux() ? new LinuxTreeWriter(temporary) : new PortableTreeWriter(temporary);
        return new DirectorySink(destination, temporary, options, warn, tree);
    }

    /// <remarks>
    /// Runs without async machinery unless a file's content has to be waited for: entries without content,
    /// and files whose bytes are all in the read-ahead blocks, are written synchronously (this runs for
    /// every entry of the image).
    /// </remarks>
    public ValueTask AddAsync(OciFileEntry entry, Stream? content, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var path = CheckPath(entry.Path);
        var replace = !_added.Add(path);
        var uid = _options.SameOwner ? entry.Uid : (long?)null;
        var gid = _options.SameOwner ? entry.Gid : (long?)null;
        var time = Clamp(entry.ModifiedTime);
        switch (entry.Type)
        {
            case OciFileType.Directory:
                _tree.CreateDirectory(path, replace);
                _directories[path] = entry;
                break;
            case OciFileType.File:
                var handle = _tree.CreateFile(path, entry.Mode, replace);
                try
                {
                    var written = WriteReady(handle, entry, content, 0);
                    if (written < entry.Size)
                    {
                        return AddFileAfterWaitAsync(handle, path, entry, content, written, uid, gid, time, cancellationToken);
                    }

                    Note(_tree.SetFileMetadata(handle, path, uid, gid, entry.Mode, entry.Xattrs, time));
                }
                catch
                {
                    handle.Dispose();
                    throw;
                }

                handle.Dispose();
                break;
            case OciFileType.Symlink:
                _tree.CreateSymlink(path, entry.LinkTarget ?? string.Empty, replace);
                Note(_tree.SetNodeMetadata(path, true, uid, gid, entry.Mode, entry.Xattrs, time));
                break;
            case OciFileType.Hardlink:
                // A hardlink shares its target's inode, metadata included: nothing to set.
                _tree.CreateHardlink(path, CheckPath(entry.LinkTarget ?? string.Empty), replace);
                break;
            case OciFileType.CharDevice or OciFileType.BlockDevice or OciFileType.Fifo or OciFileType.Socket:
                if (_tree.CreateNode(path, entry.Type, entry.Mode, entry.DeviceMajor, entry.DeviceMinor, replace))
                {
                    Note(_tree.SetNodeMetadata(path, false, uid, gid, entry.Mode, entry.Xattrs, time));
                }
                else
                {
                    WarnOnce("nodes:" + entry.Type, $"{entry.Type} entries cannot be created without root privileges and were skipped (first: '{path}').");
                }

                break;
            default:
                throw new ArgumentException($"A {entry.Type} entry ('{path}') cannot be written to a directory.", nameof(entry));
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The rest of a file whose content had to be waited for; owns <paramref name="handle"/>.</summary>
    private async ValueTask AddFileAfterWaitAsync(SafeFileHandle handle, string path, OciFileEntry entry, Stream? content, long written, long? uid, long? gid, UnixTime time, CancellationToken cancellationToken)
    {
        using (handle)
        {
            await WriteContentAsync(handle, entry, content, written, cancellationToken).ConfigureAwait(false);
            Note(_tree.SetFileMetadata(handle, path, uid, gid, entry.Mode, entry.Xattrs, time));
        }
    }

    public ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var implicitTime = Clamp(_options.SourceDateEpoch is { } epoch ? new UnixTime(epoch, 0) : UnixTime.FromDateTimeOffset(DateTimeOffset.UtcNow));
        var all = _directories.Keys.Concat(_tree.ImplicitDirectories).Distinct(StringComparer.Ordinal)
            .OrderByDescending(p => p.Count(c => c == '/'))
            .ThenBy(p => p, StringComparer.Ordinal);
        foreach (var path in all)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_directories.TryGetValue(path, out var entry))
            {
                Note(_tree.SetDirectoryMetadata(path, _options.SameOwner ? entry.Uid : null, _options.SameOwner ? entry.Gid : null, entry.Mode, entry.Xattrs, Clamp(entry.ModifiedTime)));
            }
            else
            {
                Note(_tree.SetDirectoryMetadata(path, _options.SameOwner ? 0 : null, _options.SameOwner ? 0 : null, 0x1ED, new Dictionary<string, byte[]>(), implicitTime));
            }
        }

        _tree.Dispose();
        OutputPlacement.MoveIntoPlace(_temporary, _destination, _options.Force);
        _completed = true;
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        if (!_completed)
        {
            _completed = true;
            _tree.Dispose();
            OutputPlacement.DeleteTree(_temporary);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Writes the content that is ready now, from <paramref name="offset"/>, straight from where it lies
    /// (a lending stream's read-ahead block, no copy); returns the offset reached. A sparse file, or a
    /// stream that does not lend, writes nothing here.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private long WriteReady(SafeFileHandle handle, OciFileEntry entry, Stream? content, long offset)
    {
        if (content is not ILendingStream lender || entry.SparseMap is not null)
        {
            return offset;
        }

        while (offset < entry.Size)
        {
            var ready = lender.Peek(int.MaxValue);
            if (ready.IsEmpty)
            {
                break;
            }

            _tree.Write(handle, ready, offset, entry.Path);
            offset += ready.Length;
            lender.Consume(ready.Length);
        }

        return offset;
    }

    private async Task WriteContentAsync(SafeFileHandle handle, OciFileEntry entry, Stream? content, long offset, CancellationToken cancellationToken)
    {
        if (content is null)
        {
            throw new ArgumentException($"'{entry.Path}' has {entry.Size} bytes of content but none was given.", nameof(content));
        }

        byte[]? buffer = null;
        try
        {
            var regions = entry.SparseMap;
            var region = 0;
            while (offset < entry.Size)
            {
                offset = WriteReady(handle, entry, content, offset);
                if (offset == entry.Size || content is ILendingStream lender && regions is null && await lender.WaitAsync(cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                buffer ??= ArrayPool<byte>.Shared.Rent(CopyBufferSize);
                var read = await content.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, entry.Size - offset)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new InvalidDataException($"The content of '{entry.Path}' ended after {offset} of its {entry.Size} bytes.");
                }

                // Synchronous writes: the handle is not opened for async I/O, so an async write would only
                // hop to the thread pool and back for every chunk of every file.
                if (regions is null)
                {
                    _tree.Write(handle, buffer.AsSpan(0, read), offset, entry.Path);
                }
                else
                {
                    // Holes stay holes: only the parts of the chunk inside data regions are written.
                    var end = offset + read;
                    while (region < regions.Count && regions[region].Offset + regions[region].Length <= offset)
                    {
                        region++;
                    }

                    for (var r = region; r < regions.Count && regions[r].Offset < end; r++)
                    {
                        var from = Math.Max(offset, regions[r].Offset);
                        var to = Math.Min(end, regions[r].Offset + regions[r].Length);
                        if (to > from)
                        {
                            _tree.Write(handle, buffer.AsSpan((int)(from - offset), (int)(to - from)), from, entry.Path);
                        }
                    }
                }

                offset += read;
            }

            if (regions is not null)
            {
                // A sparse file may end in a hole, which no write reached.
                RandomAccess.SetLength(handle, entry.Size);
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private UnixTime Clamp(UnixTime time) =>
        _options.SourceDateEpoch is { } epoch && time.Seconds >= epoch ? new UnixTime(epoch, 0) : time;

    private void Note((int Chown, int Xattr) errors)
    {
        if (errors.Chown != 0)
        {
            WarnOnce("chown", $"Owners could not be applied ({Marshal.GetPInvokeErrorMessage(errors.Chown)}); run as root to keep them, or use -NoSameOwner to write everything as the current user.");
        }

        if (errors.Xattr != 0)
        {
            WarnOnce("xattr:" + errors.Xattr, $"Some extended attributes could not be applied ({Marshal.GetPInvokeErrorMessage(errors.Xattr)}).");
        }
    }

    private void WarnOnce(string key, string message)
    {
        if (_warned.Add(key))
        {
            _warn?.Invoke(message);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static string CheckPath(string path)
    {
        if (path.Length == 0 || path == "." || path[0] == '/' || path[^1] == '/' || EntryName.Normalize(path) != path || EntryName.HasParentComponent(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            throw new OciException("ExportEntryUnsafe", OciErrorKind.Security, $"'{path}' is not a path inside the root; nothing is written for it.", path);
        }

        return path;
    }
}
