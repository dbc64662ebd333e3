using Microsoft.Win32.SafeHandles;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Directory;

/// <summary>The file-system operations the directory sink needs, done safely for the platform it runs on.</summary>
internal interface ITreeWriter : IDisposable
{
    /// <summary>Directories created only as parents of entries (their metadata is set to defaults).</summary>
    IReadOnlyCollection<string> ImplicitDirectories { get; }

    void CreateDirectory(string path, bool replace);

    SafeFileHandle CreateFile(string path, int mode, bool replace);

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> of a file made by <see cref="CreateFile"/>.</summary>
    void Write(SafeFileHandle file, ReadOnlySpan<byte> data, long offset, string path);

    void CreateSymlink(string path, string target, bool replace);

    void CreateHardlink(string path, string target, bool replace);

    /// <summary>Creates a device, FIFO or socket; false when the process may not.</summary>
    bool CreateNode(string path, OciFileType type, int mode, int major, int minor, bool replace);

    (int Chown, int Xattr) SetFileMetadata(SafeFileHandle handle, string path, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time);

    (int Chown, int Xattr) SetNodeMetadata(string path, bool isSymlink, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time);

    (int Chown, int Xattr) SetDirectoryMetadata(string path, long? uid, long? gid, int mode, IReadOnlyDictionary<string, byte[]> xattrs, UnixTime time);
}
