using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using OciPS.Core.Model;
using static OciPS.Core.Native.LinuxNative;
using System.Runtime.CompilerServices;

namespace OciPS.Core.Sinks.Directory;

/// <summary>
/// Writes a tree below a root directory on Linux through directory file descriptors: every component is
/// opened with O_NOFOLLOW relative to its parent, so no symlink, hostile or not, is ever followed.
/// Recently used directories stay open so deep trees are not walked again for every entry.
/// </summary>
internal sealed unsafe class LinuxTreeWriter : ITreeWriter
{
    private const int MaxOpenDirectories = 128;
    // Open directory descriptors by path, least recently used last (the node found through the dictionary:
    // a parent is looked up for every entry written).
    private readonly Dictionary<string, (int Fd, LinkedListNode<string> Node)> _open = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _recent = new();
    private const int SetGid = 0x400;
    private readonly int _root;

    /// <summary>The owner a new file gets without a chown; null when it is not known (chown always).</summary>
    private readonly (uint Uid, uint Gid)? _creator;

    /// <summary>The process umask, which openat applies to a new file's mode; null when unknown (fchmod always).</summary>
    private readonly int? _umask = ReadUmask();
    private bool _disposed;

    public LinuxTreeWriter(string rootPath)
    {
        var bytes = Terminated(EntryName.Encode(rootPath));
        fixed (byte* path = bytes)
        {
            _root = Check(openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), "open", rootPath);
        }

        // New files belong to the effective user and group, unless the root is setgid (then its group
        // is inherited). The directories made below the root get their modes, setgid included, only at
        // the end, so what holds for the root holds for every file written before then.
        StatxBuffer root;
        byte empty = 0;
        if (statx(_root, &empty, AT_EMPTY_PATH, STATX_BASIC_STATS, &root) == 0 && (root.Mode & SetGid) == 0)
        {
            _creator = (geteuid(), getegid());
        }
    }

    /// <summary>Directories created implicitly (as parents), for default metadata at the end.</summary>
    public HashSet<string> ImplicitDirectories { get; } = new(StringComparer.Ordinal);

    IReadOnlyCollection<string> ITreeWriter.ImplicitDirectories => ImplicitDirectories;

    /// <summary>The open descriptor of a directory, creating it (and its parents) when asked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int Directory(string path, bool create)
    {
        if (path == ".")
        {
            return _root;
        }

        if (_open.TryGetValue(path, out var cached))
        {
            if (cached.Node != _recent.First)
            {
                _recent.Remove(cached.Node);
                _recent.AddFirst(cached.Node);
            }

            return cached.Fd;
        }

        var parent = Directory(EntryName.Parent(path), create);
        var name = NameBytes(path, stackalloc byte[NameBuffer]);
        int fd;
        fixed (byte* component = name)
        {
            fd = openat(parent, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            if (fd < 0 && Marshal.GetLastPInvokeError() == ENOENT && create)
            {
                Check(mkdirat(parent, component, 0x1ED), "create the directory", path);
                ImplicitDirectories.Add(path);
                fd = openat(parent, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            }
        }

        if (fd < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            throw error is ENOTDIR or ELOOP
                ? new OciException("ExportEntryUnsafe", OciErrorKind.Security, $"'{path}' is not a directory (a file or a symlink is in the way); nothing is written through it.", path)
                : Failure(error, "open the directory", path);
        }

        Remember(path, fd);
        return fd;
    }

    /// <summary>
    /// Creates a file with its permission bits (the umask applies; <see cref="SetFileMetadata"/> fixes
    /// what it took away) and returns its handle (the caller writes, then sets metadata).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public SafeFileHandle CreateFile(string path, int mode, bool replace)
    {
        var parent = Directory(EntryName.Parent(path), create: true);
        var name = NameBytes(path, stackalloc byte[NameBuffer]);
        fixed (byte* component = name)
        {
            if (replace)
            {
                Remove(parent, component, path);
            }

            var fd = Check(openat(parent, component, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (uint)(mode & 0x1FF)), "create", path);
            return new SafeFileHandle(fd, ownsHandle: true);
        }
    }

    /// <summary>pwrite(2) until all is written: <see cref="RandomAccess.Write(SafeFileHandle, ReadOnlySpan{byte}, long)"/> first asks the handle whether it can seek, one lseek per file.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Write(SafeFileHandle file, ReadOnlySpan<byte> data, long offset, string path)
    {
        var fd = (int)file.DangerousGetHandle();
        fixed (byte* start = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var written = pwrite(fd, start + done, (nuint)(data.Length - done), offset + done);
                if (written < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    throw Failure(errno, "write", path);
                }

                done += (int)written;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void CreateDirectory(string path, bool replace)
    {
        if (replace)
        {
            var parent = Directory(EntryName.Parent(path), create: true);
            var name = Terminated(EntryName.Encode(EntryName.FileName(path)));
            fixed (byte* component = name)
            {
                // A duplicate entry may turn a file into a directory; an existing directory stays.
                if (unlinkat(parent, component, 0) != 0 && Marshal.GetLastPInvokeError() is not (ENOENT or EISDIR))
                {
                    throw Failure(Marshal.GetLastPInvokeError(), "replace", path);
                }
            }
        }

        Directory(path, create: true);
        ImplicitDirectories.Remove(path);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void CreateSymlink(string path, string target, bool replace)
    {
        var parent = Directory(EntryName.Parent(path), create: true);
        var name = Terminated(EntryName.Encode(EntryName.FileName(path)));
        var destination = Terminated(EntryName.Encode(target));
        fixed (byte* component = name)
        fixed (byte* link = destination)
        {
            if (replace)
            {
                Remove(parent, component, path);
            }

            Check(symlinkat(link, parent, component), "create the symlink", path);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void CreateHardlink(string path, string target, bool replace)
    {
        var parent = Directory(EntryName.Parent(path), create: true);
        var targetParent = Directory(EntryName.Parent(target), create: false);
        var name = Terminated(EntryName.Encode(EntryName.FileName(path)));
        var targetName = Terminated(EntryName.Encode(EntryName.FileName(target)));
        fixed (byte* component = name)
        fixed (byte* existing = targetName)
        {
            if (replace)
            {
                Remove(parent, component, path);
            }

            Check(linkat(targetParent, existing, parent, component, 0), $"link to '{target}'", path);
        }
    }

    /// <summary>Creates a device, FIFO or socket node; false when the process may not (devices need root).</summary>
    public bool CreateNode(string path, OciFileType kind, int mode, int major, int minor, bool replace)
    {
        var type = kind switch
        {
            OciFileType.CharDevice => S_IFCHR,
            OciFileType.BlockDevice => S_IFBLK,
            OciFileType.Fifo => S_IFIFO,
            _ => S_IFSOCK,
        };
        var parent = Directory(EntryName.Parent(path), create: true);
        var name = NameBytes(path, stackalloc byte[NameBuffer]);
        fixed (byte* component = name)
        {
            if (replace)
            {
                Remove(parent, component, path);
            }

            if (mknodat(parent, component, type | (uint)(mode & 0xFFF), MakeDevice(major, minor)) == 0)
            {
                return true;
            }

            var error = Marshal.GetLastPInvokeError();
            return error == EPERM ? false : throw Failure(error, "create the node", path);
        }
    }

    /// <summary>
    /// Owner, mode, xattrs and time of a symlink, device, FIFO or socket, addressed through its parent:
    /// such nodes cannot be opened for writing metadata. A symlink has no mode of its own.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public (int Chown, int Xattr) SetNodeMetadata(string path, bool isSymlink, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time)
    {
        var parent = Directory(EntryName.Parent(path), create: false);
        var name = Terminated(EntryName.Encode(EntryName.FileName(path)));
        int chownError = 0, xattrError = 0;
        fixed (byte* component = name)
        {
            if (uid is not null && fchownat(parent, component, (uint)uid.Value, (uint)gid!.Value, AT_SYMLINK_NOFOLLOW) != 0)
            {
                chownError = Marshal.GetLastPInvokeError();
            }

            if (!isSymlink)
            {
                Check(fchmodat(parent, component, (uint)(mode & 0xFFF), 0), "set the mode of", path);
            }

            if (xattrs.Count > 0)
            {
                var procPath = Terminated([.. System.Text.Encoding.ASCII.GetBytes($"/proc/self/fd/{parent}/"), .. EntryName.Encode(EntryName.FileName(path))]);
                foreach (var (key, value) in xattrs)
                {
                    var keyBytes = Terminated(System.Text.Encoding.UTF8.GetBytes(key));
                    fixed (byte* target = procPath)
                    fixed (byte* keyPointer = keyBytes)
                    fixed (byte* valuePointer = value)
                    {
                        if (lsetxattr(target, keyPointer, valuePointer, (nuint)value.Length, 0) != 0 && xattrError == 0)
                        {
                            xattrError = Marshal.GetLastPInvokeError();
                        }
                    }
                }
            }

            var times = stackalloc Timespec[2];
            times[0] = times[1] = new Timespec { Seconds = time.Seconds, Nanoseconds = time.Nanoseconds };
            Check(utimensat(parent, component, times, AT_SYMLINK_NOFOLLOW), "set the time of", path);
        }

        return (chownError, xattrError);
    }

    /// <summary>
    /// Metadata of a file made by <see cref="CreateFile"/>: the owner and mode calls are left out when
    /// the file already has them (root writing a root-owned 0644 file needs neither), two system calls
    /// fewer for most files of an image.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public (int Chown, int Xattr) SetFileMetadata(SafeFileHandle handle, string path, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time)
    {
        var owned = uid is null || (_creator is { } creator && creator.Uid == uid && creator.Gid == gid);
        var modeSet = _umask is { } umask && (mode & 0xFFF) == (mode & 0x1FF & ~umask);
        return SetMetadata((int)handle.DangerousGetHandle(), owned ? null : uid, owned ? null : gid, modeSet ? null : mode, xattrs, time, path);
    }

    public (int Chown, int Xattr) SetDirectoryMetadata(string path, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time) =>
        SetMetadata(Directory(path, create: false), uid, gid, mode, xattrs, time, path);

    /// <summary>
    /// Owner, mode, xattrs and time on an open file or directory, in the order that keeps them all:
    /// chown first (it clears setuid bits and security.capability), then mode, xattrs, time last.
    /// Returns the first error of chown and of setxattr (0 when they worked), so callers can warn once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (int Chown, int Xattr) SetMetadata(int fd, long? uid, long? gid, int? mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time, string path)
    {
        int chownError = 0, xattrError = 0;
        if (uid is not null && fchown(fd, (uint)uid.Value, (uint)gid!.Value) != 0)
        {
            chownError = Marshal.GetLastPInvokeError();
        }

        if (mode is not null)
        {
            Check(fchmod(fd, (uint)(mode.Value & 0xFFF)), "set the mode of", path);
        }
        foreach (var (key, value) in xattrs)
        {
            var name = Terminated(System.Text.Encoding.UTF8.GetBytes(key));
            fixed (byte* keyBytes = name)
            fixed (byte* valueBytes = value)
            {
                if (fsetxattr(fd, keyBytes, valueBytes, (nuint)value.Length, 0) != 0 && xattrError == 0)
                {
                    xattrError = Marshal.GetLastPInvokeError();
                }
            }
        }

        var times = stackalloc Timespec[2];
        times[0] = times[1] = new Timespec { Seconds = time.Seconds, Nanoseconds = time.Nanoseconds };
        Check(futimens(fd, times), "set the time of", path);
        return (chownError, xattrError);
    }

    /// <summary>Deletes everything below a directory (without following links), the directory itself too.</summary>
    public static void DeleteTree(string path)
    {
        var bytes = Terminated(EntryName.Encode(path));
        int fd;
        fixed (byte* full = bytes)
        {
            fd = openat(AT_FDCWD, full, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            if (fd < 0)
            {
                if (Marshal.GetLastPInvokeError() == ENOENT)
                {
                    return;
                }

                Check(unlinkat(AT_FDCWD, full, 0), "delete", path);
                return;
            }

            DeleteChildren(fd, path);
            Check(unlinkat(AT_FDCWD, full, AT_REMOVEDIR), "delete", path);
        }
    }

    public void Dispose()
    {
        foreach (var (fd, _) in _open.Values)
        {
            close(fd);
        }

        _open.Clear();
        _recent.Clear();
        if (!_disposed)
        {
            close(_root);
            _disposed = true;
        }
    }

    private static void DeleteChildren(int fd, string path)
    {
        fchmod(fd, 0x1C0);
        var stream = fdopendir(fd);
        if (stream == 0)
        {
            close(fd);
            throw Failure(Marshal.GetLastPInvokeError(), "list", path);
        }

        try
        {
            var children = new List<(byte[] Name, byte Type)>();
            for (var entry = readdir64(stream); entry != 0; entry = readdir64(stream))
            {
                var child = ReadDirent(entry);
                if (!(child.Name is [(byte)'.'] or [(byte)'.', (byte)'.']))
                {
                    children.Add(child);
                }
            }

            foreach (var (name, type) in children)
            {
                var terminated = Terminated(name);
                fixed (byte* component = terminated)
                {
                    if (type == DT_DIR)
                    {
                        var child = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                        if (child >= 0)
                        {
                            DeleteChildren(child, path + "/" + EntryName.Decode(name));
                        }

                        Check(unlinkat(fd, component, AT_REMOVEDIR), "delete", path + "/" + EntryName.Decode(name));
                    }
                    else
                    {
                        Check(unlinkat(fd, component, 0), "delete", path + "/" + EntryName.Decode(name));
                    }
                }
            }
        }
        finally
        {
            closedir(stream);
        }
    }

    private void Remove(int parent, byte* component, string path)
    {
        if (unlinkat(parent, component, 0) == 0)
        {
            return;
        }

        var error = Marshal.GetLastPInvokeError();
        if (error == EISDIR && unlinkat(parent, component, AT_REMOVEDIR) == 0)
        {
            Forget(path);
            return;
        }

        if (error != ENOENT)
        {
            throw Failure(Marshal.GetLastPInvokeError(), "replace", path);
        }
    }

    private const int NameBuffer = 1024;

    /// <summary>
    /// The last component's exact bytes, NUL-terminated, in <paramref name="buffer"/> when they fit: no
    /// arrays for the name of every file. Names with escaped bytes (<see cref="EntryName"/>) or too long
    /// for the buffer take the general path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ReadOnlySpan<byte> NameBytes(string path, Span<byte> buffer)
    {
        var name = path.AsSpan(path.LastIndexOf('/') + 1);
        if (name.Length * 3 < buffer.Length && name.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            var length = System.Text.Encoding.UTF8.GetBytes(name, buffer);
            buffer[length] = 0;
            return buffer[..(length + 1)];
        }

        return Terminated(EntryName.Encode(name.ToString()));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Remember(string path, int fd)
    {
        if (_open.Count >= MaxOpenDirectories)
        {
            var oldest = _recent.Last!;
            _recent.RemoveLast();
            close(_open[oldest.Value].Fd);
            _open.Remove(oldest.Value);
        }

        _open[path] = (fd, _recent.AddFirst(path));
    }

    private void Forget(string path)
    {
        foreach (var key in _open.Keys.Where(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal)).ToArray())
        {
            var (fd, node) = _open[key];
            close(fd);
            _open.Remove(key);
            _recent.Remove(node);
        }
    }

    private static int Check(int result, string action, string path) =>
        result >= 0 ? result : throw Failure(Marshal.GetLastPInvokeError(), action, path);

    private static IOException Failure(int errno, string action, string path) =>
        new($"Could not {action} '{path}': {Marshal.GetPInvokeErrorMessage(errno)}.", errno);
}
