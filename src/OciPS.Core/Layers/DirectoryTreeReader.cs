using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using OciPS.Core.Model;
using static OciPS.Core.Native.LinuxNative;

namespace OciPS.Core.Layers;

/// <summary>How a directory tree is read as entries.</summary>
public sealed record DirectoryTreeOptions
{
    /// <summary>
    /// Reads the tree as an overlayfs upper directory (a Docker overlay2 <c>diff</c>): 0:0 character
    /// devices and files marked <c>overlay.whiteout</c> are whiteouts, directories marked
    /// <c>overlay.opaque=y</c> are opaque, and the overlay's own <c>trusted.overlay.*</c> and
    /// <c>user.overlay.*</c> attributes are not part of any entry.
    /// </summary>
    public bool Overlay { get; init; }

    /// <summary>Layer index stamped on every entry (for messages and <c>Get-OciFile</c> output).</summary>
    public int? LayerIndex { get; init; }

    /// <summary>Layer digest stamped on every entry.</summary>
    public Digest? LayerDigest { get; init; }
}

/// <summary>
/// Reads a directory tree on Linux as a stream of entries, the way a layer streams them: exact-byte
/// names, owners, modes, nanosecond times, xattrs, devices, sparse maps, and a second name of an inode
/// as a hardlink to the first. Parents come before children and children in byte order, so two reads of
/// the same tree give the same stream. The root itself is not an entry. Symlinks are never followed.
/// </summary>
public static unsafe class DirectoryTreeReader
{
    private const string TrustedOverlay = "trusted.overlay.";
    private const string UserOverlay = "user.overlay.";

    /// <summary>The entries below <paramref name="root"/>; a regular file's content is readable until the next entry.</summary>
    public static async IAsyncEnumerable<LayerEntry> ReadAsync(string root, DirectoryTreeOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new UnsupportedContentException("DirectoryReadUnsupported", $"Reading '{root}' as a tree with owners, devices and xattrs needs Linux.", root);
        }

        var rootFd = OpenDirectory(AT_FDCWD, EntryName.Encode(root), root);
        var firstNames = new Dictionary<(ulong Device, ulong Inode), string>();
        var stack = new Stack<(int Fd, string Path, byte[][] Names, int Next)>();
        stack.Push((rootFd, ".", ListNames(rootFd, root), 0));
        try
        {
            while (stack.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (fd, directory, names, next) = stack.Pop();
                if (next >= names.Length)
                {
                    close(fd);
                    continue;
                }

                stack.Push((fd, directory, names, next + 1));
                var name = names[next];
                var path = directory == "." ? EntryName.Decode(name) : directory + "/" + EntryName.Decode(name);
                var status = Stat(fd, name, path);
                var type = status.Mode & S_IFMT;
                var entry = ToEntry(fd, name, path, status, options);

                if (type == S_IFDIR)
                {
                    yield return new LayerEntry(entry, null);
                    if (options.Overlay && IsOverlayMarked(fd, name, "opaque"))
                    {
                        yield return new LayerEntry(entry.With(type: OciFileType.OpaqueWhiteout), null);
                    }

                    var child = OpenDirectory(fd, name, path);
                    stack.Push((child, path, ListNames(child, path), 0));
                    continue;
                }

                if (options.Overlay && IsWhiteout(fd, name, status))
                {
                    yield return new LayerEntry(entry.With(type: OciFileType.Whiteout), null);
                    continue;
                }

                if (type == S_IFREG && status.Nlink > 1)
                {
                    var key = (((ulong)status.DevMajor << 32) | status.DevMinor, status.Inode);
                    if (firstNames.TryGetValue(key, out var first))
                    {
                        yield return new LayerEntry(entry.With(type: OciFileType.Hardlink, linkTarget: first, size: 0), null);
                        continue;
                    }

                    firstNames[key] = path;
                }

                if (type == S_IFREG)
                {
                    await using var content = OpenFile(fd, name, path);
                    yield return new LayerEntry(WithSparseMap(entry, content, status), content);
                    continue;
                }

                yield return new LayerEntry(entry, null);
            }
        }
        finally
        {
            while (stack.Count > 0)
            {
                close(stack.Pop().Fd);
            }
        }
    }

    private static OciFileEntry ToEntry(int directory, byte[] name, string path, StatxBuffer status, DirectoryTreeOptions options)
    {
        var type = (status.Mode & S_IFMT) switch
        {
            S_IFDIR => OciFileType.Directory,
            S_IFREG => OciFileType.File,
            S_IFLNK => OciFileType.Symlink,
            S_IFCHR => OciFileType.CharDevice,
            S_IFBLK => OciFileType.BlockDevice,
            S_IFIFO => OciFileType.Fifo,
            _ => OciFileType.Socket,
        };
        return new OciFileEntry
        {
            Path = path,
            Type = type,
            Mode = status.Mode & 0xFFF,
            Uid = status.Uid,
            Gid = status.Gid,
            Size = type == OciFileType.File ? (long)status.Size : 0,
            ModifiedTime = new UnixTime(status.ModifySeconds, (int)status.ModifyNanoseconds),
            AccessTime = new UnixTime(status.AccessSeconds, (int)status.AccessNanoseconds),
            ChangeTime = new UnixTime(status.ChangeSeconds, (int)status.ChangeNanoseconds),
            LinkTarget = type == OciFileType.Symlink ? ReadLink(directory, name, path) : null,
            DeviceMajor = type is OciFileType.CharDevice or OciFileType.BlockDevice ? (int)status.RdevMajor : 0,
            DeviceMinor = type is OciFileType.CharDevice or OciFileType.BlockDevice ? (int)status.RdevMinor : 0,
            Xattrs = ReadXattrs(directory, name, path, options.Overlay),
            LayerIndex = options.LayerIndex,
            LayerDigest = options.LayerDigest,
        };
    }

    private static bool IsWhiteout(int directory, byte[] name, StatxBuffer status) =>
        ((status.Mode & S_IFMT) == S_IFCHR && status.RdevMajor == 0 && status.RdevMinor == 0) ||
        ((status.Mode & S_IFMT) == S_IFREG && status.Size == 0 && IsOverlayMarked(directory, name, "whiteout"));

    /// <summary>Whether <c>trusted.overlay.NAME</c> or <c>user.overlay.NAME</c> (rootless overlays) is set (opaque: to "y").</summary>
    private static bool IsOverlayMarked(int directory, byte[] name, string marker)
    {
        foreach (var prefix in new[] { TrustedOverlay, UserOverlay })
        {
            var value = GetXattr(directory, name, prefix + marker);
            if (value is not null && (marker != "opaque" || value is [(byte)'y', ..]))
            {
                return true;
            }
        }

        return false;
    }

    private static StatxBuffer Stat(int directory, byte[] name, string path)
    {
        StatxBuffer buffer;
        var terminated = Terminated(name);
        fixed (byte* component = terminated)
        {
            if (statx(directory, component, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &buffer) != 0)
            {
                throw Failure("read the status of", path, Marshal.GetLastPInvokeError());
            }
        }

        return buffer;
    }

    private static byte[][] ListNames(int directory, string path)
    {
        var copy = dup(directory);
        var stream = fdopendir(copy);
        if (stream == 0)
        {
            var error = Marshal.GetLastPInvokeError();
            close(copy);
            throw Failure("list", path, error);
        }

        var names = new List<byte[]>();
        try
        {
            nint entry;
            while ((entry = readdir64(stream)) != 0)
            {
                var (name, _) = ReadDirent(entry);
                if (name is not ([(byte)'.'] or [(byte)'.', (byte)'.']))
                {
                    names.Add(name);
                }
            }
        }
        finally
        {
            closedir(stream);
        }

        names.Sort(static (left, right) => left.AsSpan().SequenceCompareTo(right));
        return [.. names];
    }

    private static int OpenDirectory(int parent, byte[] name, string path)
    {
        var terminated = Terminated(name);
        fixed (byte* component = terminated)
        {
            // The root itself may be reached through symlinks; nothing below it is.
            var fd = openat(parent, component, O_RDONLY | O_DIRECTORY | (parent == AT_FDCWD ? 0 : O_NOFOLLOW) | O_CLOEXEC, 0);
            return fd >= 0 ? fd : throw Failure("open", path, Marshal.GetLastPInvokeError());
        }
    }

    private static FileStream OpenFile(int parent, byte[] name, string path)
    {
        var terminated = Terminated(name);
        int fd;
        fixed (byte* component = terminated)
        {
            fd = openat(parent, component, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
        }

        if (fd < 0)
        {
            throw Failure("open", path, Marshal.GetLastPInvokeError());
        }

        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1 << 16);
    }

    /// <summary>A file with fewer allocated blocks than its size has holes: their map, from SEEK_DATA/SEEK_HOLE.</summary>
    private static OciFileEntry WithSparseMap(OciFileEntry entry, FileStream content, StatxBuffer status)
    {
        if (status.Size == 0 || status.Blocks * 512 >= status.Size)
        {
            return entry;
        }

        var fd = (int)content.SafeFileHandle.DangerousGetHandle();
        var size = (long)status.Size;
        var regions = new List<SparseRegion>();
        long offset = 0;
        while (offset < size)
        {
            var data = lseek(fd, offset, SEEK_DATA);
            if (data < 0)
            {
                break;
            }

            var hole = lseek(fd, data, SEEK_HOLE);
            if (hole < 0)
            {
                hole = size;
            }

            regions.Add(new SparseRegion(data, hole - data));
            offset = hole;
        }

        lseek(fd, 0, 0);
        return new OciFileEntry
        {
            Path = entry.Path,
            Type = entry.Type,
            Mode = entry.Mode,
            Uid = entry.Uid,
            Gid = entry.Gid,
            Size = entry.Size,
            ModifiedTime = entry.ModifiedTime,
            AccessTime = entry.AccessTime,
            ChangeTime = entry.ChangeTime,
            Xattrs = entry.Xattrs,
            LayerIndex = entry.LayerIndex,
            LayerDigest = entry.LayerDigest,
            SparseMap = regions,
        };
    }

    private static string ReadLink(int directory, byte[] name, string path)
    {
        var terminated = Terminated(name);
        var buffer = new byte[4096];
        fixed (byte* component = terminated)
        fixed (byte* target = buffer)
        {
            var length = readlinkat(directory, component, target, (nuint)buffer.Length);
            return length >= 0 ? EntryName.Decode(buffer.AsSpan(0, (int)length)) : throw Failure("read the link", path, Marshal.GetLastPInvokeError());
        }
    }

    private static IReadOnlyDictionary<string, byte[]> ReadXattrs(int directory, byte[] name, string path, bool overlay)
    {
        var procPath = ProcPath(directory, name);
        var list = new byte[4096];
        nint length;
        fixed (byte* file = procPath)
        {
            while (true)
            {
                fixed (byte* names = list)
                {
                    length = llistxattr(file, names, (nuint)list.Length);
                }

                if (length >= 0)
                {
                    break;
                }

                var error = Marshal.GetLastPInvokeError();
                if (error == ERANGE)
                {
                    list = new byte[list.Length * 4];
                    continue;
                }

                return error is EOPNOTSUPP or ENODATA ? OciFileEntry.NoXattrs : throw Failure("list the extended attributes of", path, error);
            }
        }

        if (length == 0)
        {
            return OciFileEntry.NoXattrs;
        }

        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var raw in list.AsSpan(0, (int)length).ToArray().Split())
        {
            var key = System.Text.Encoding.UTF8.GetString(raw);
            if (overlay && (key.StartsWith(TrustedOverlay, StringComparison.Ordinal) || key.StartsWith(UserOverlay, StringComparison.Ordinal)))
            {
                continue;
            }

            if (GetXattr(directory, name, key) is { } value)
            {
                result[key] = value;
            }
        }

        return result.Count == 0 ? OciFileEntry.NoXattrs : result;
    }

    private static byte[]? GetXattr(int directory, byte[] name, string key)
    {
        var procPath = ProcPath(directory, name);
        var keyBytes = Terminated(System.Text.Encoding.UTF8.GetBytes(key));
        var value = new byte[256];
        fixed (byte* file = procPath)
        fixed (byte* attribute = keyBytes)
        {
            while (true)
            {
                nint length;
                fixed (byte* buffer = value)
                {
                    length = lgetxattr(file, attribute, buffer, (nuint)value.Length);
                }

                if (length >= 0)
                {
                    return value.AsSpan(0, (int)length).ToArray();
                }

                var error = Marshal.GetLastPInvokeError();
                if (error != ERANGE)
                {
                    return null;
                }

                value = new byte[value.Length * 16];
            }
        }
    }

    /// <summary>
    /// <c>/proc/self/fd/DIR/NAME</c>: there is no <c>lgetxattrat</c>, and this names the entry through
    /// the already-open directory, so nothing above it is looked up again.
    /// </summary>
    private static byte[] ProcPath(int directory, byte[] name) =>
        Terminated([.. System.Text.Encoding.ASCII.GetBytes($"/proc/self/fd/{directory}/"), .. name]);

    private static IEnumerable<byte[]> Split(this byte[] list)
    {
        var start = 0;
        for (var i = 0; i < list.Length; i++)
        {
            if (list[i] == 0)
            {
                if (i > start)
                {
                    yield return list[start..i];
                }

                start = i + 1;
            }
        }
    }

    private static OciException Failure(string action, string path, int errno) =>
        new("DirectoryReadFailed", errno switch { ENOENT => OciErrorKind.NotFound, EPERM or 13 => OciErrorKind.PermissionDenied, _ => OciErrorKind.InvalidData },
            $"Cannot {action} '{path}': {Marshal.GetPInvokeErrorMessage(errno)}.", path);
}
