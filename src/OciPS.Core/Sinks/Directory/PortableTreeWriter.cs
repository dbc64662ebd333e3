using Microsoft.Win32.SafeHandles;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Directory;

/// <summary>
/// The directory sink on Windows and macOS, through .NET's file APIs: contents, directories, symlinks,
/// modes and times (seconds and 100 ns). Owners, devices and xattrs are reported as not applied.
/// Before anything is written, every existing parent is checked not to be a link, so nothing is written
/// through one.
/// </summary>
internal sealed class PortableTreeWriter(string root) : ITreeWriter
{
    private const int NotSupported = 95;
    private readonly HashSet<string> _implicit = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> ImplicitDirectories => _implicit;

    public void CreateDirectory(string path, bool replace)
    {
        var full = Prepare(path, replace && File.Exists(Full(path)));
        System.IO.Directory.CreateDirectory(full);
        _implicit.Remove(path);
    }

    public SafeFileHandle CreateFile(string path, int mode, bool replace) =>
        File.OpenHandle(Prepare(path, replace), FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous);

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> data, long offset, string path) => RandomAccess.Write(file, data, offset);

    public void CreateSymlink(string path, string target, bool replace) =>
        File.CreateSymbolicLink(Prepare(path, replace), target);

    public void CreateHardlink(string path, string target, bool replace) =>
        File.Copy(Full(target), Prepare(path, replace));

    public bool CreateNode(string path, OciFileType type, int mode, int major, int minor, bool replace) => false;

    public (int Chown, int Xattr) SetFileMetadata(SafeFileHandle handle, string path, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time)
    {
        File.SetLastWriteTimeUtc(handle, time.ToDateTimeOffset().UtcDateTime);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(handle, (UnixFileMode)(mode & 0xFFF));
        }

        return Unapplied(uid, xattrs);
    }

    public (int Chown, int Xattr) SetNodeMetadata(string path, bool isSymlink, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time) =>
        Unapplied(uid, xattrs);

    public (int Chown, int Xattr) SetDirectoryMetadata(string path, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time)
    {
        var full = Full(path);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(full, (UnixFileMode)(mode & 0xFFF));
        }

        System.IO.Directory.SetLastWriteTimeUtc(full, time.ToDateTimeOffset().UtcDateTime);
        return Unapplied(uid, xattrs);
    }

    public void Dispose()
    {
    }

    private static (int, int) Unapplied(long? uid, IReadOnlyDictionary<string, byte[]> xattrs) =>
        (uid is > 0 ? NotSupported : 0, xattrs.Count > 0 ? NotSupported : 0);

    private string Full(string path) => Path.Combine(root, path.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Creates missing parents, refusing to go through links, and removes what a replaced entry left.</summary>
    private string Prepare(string path, bool replace)
    {
        var current = root;
        var parts = path.Split('/');
        for (var i = 0; i < parts.Length - 1; i++)
        {
            current = Path.Combine(current, parts[i]);
            var info = new DirectoryInfo(current);
            if (info.Exists && info.LinkTarget is not null || File.Exists(current))
            {
                throw new OciException("ExportEntryUnsafe", OciErrorKind.Security, $"'{string.Join('/', parts[..(i + 1)])}' is not a directory (a file or a link is in the way); nothing is written through it.", path);
            }

            if (!info.Exists)
            {
                System.IO.Directory.CreateDirectory(current);
                _implicit.Add(string.Join('/', parts[..(i + 1)]));
            }
        }

        var full = Path.Combine(current, parts[^1]);
        if (replace)
        {
            if (System.IO.Directory.Exists(full) && new DirectoryInfo(full).LinkTarget is null)
            {
                System.IO.Directory.Delete(full, recursive: true);
            }
            else
            {
                File.Delete(full);
            }
        }

        return full;
    }
}
