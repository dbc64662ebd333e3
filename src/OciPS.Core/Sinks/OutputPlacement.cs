using System.Globalization;

namespace OciPS.Core.Sinks;

/// <summary>The destination of a sink already holds something and replacing it was not asked for.</summary>
public sealed class OutputExistsException(string path)
    : OciException("OutputExists", OciErrorKind.ResourceExists, $"'{path}' already exists; use -Force to replace it.", path);

/// <summary>
/// Outputs are written under a temporary name next to the destination and moved into place only when
/// complete, so a failed or stopped export never leaves half a file (or tree) where the result belongs.
/// </summary>
public static class OutputPlacement
{
    /// <summary>Fails early when the destination exists and <paramref name="force"/> is not set.</summary>
    public static void CheckDestination(string path, bool force)
    {
        if (!force && (File.Exists(path) || System.IO.Directory.Exists(path)))
        {
            throw new OutputExistsException(path);
        }
    }

    /// <summary>A new, unused name in the destination's directory.</summary>
    public static string TemporarySibling(string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no parent directory.", nameof(path));
        System.IO.Directory.CreateDirectory(directory);
        return Path.Combine(directory, "." + Path.GetFileName(full) + ".ocips-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8]);
    }

    /// <summary>Moves a finished output into place, replacing what was there when <paramref name="force"/> is set.</summary>
    public static void MoveIntoPlace(string temporary, string path, bool force)
    {
        var isDirectory = System.IO.Directory.Exists(temporary);
        var existing = File.Exists(path) || System.IO.Directory.Exists(path);
        if (existing && !force)
        {
            throw new OutputExistsException(path);
        }

        if (!isDirectory)
        {
            File.Move(temporary, path, overwrite: force);
            return;
        }

        string? old = null;
        if (existing)
        {
            old = TemporarySibling(path);
            if (System.IO.Directory.Exists(path))
            {
                System.IO.Directory.Move(path, old);
            }
            else
            {
                File.Move(path, old);
            }
        }

        System.IO.Directory.Move(temporary, path);
        if (old is not null)
        {
            DeleteTree(old);
        }
    }

    /// <summary>Deletes a file or a tree, also one whose modes forbid it (read-only directories from images).</summary>
    public static void DeleteTree(string path)
    {
        if (File.Exists(path) && !System.IO.Directory.Exists(path))
        {
            File.Delete(path);
            return;
        }

        if (!System.IO.Directory.Exists(path))
        {
            return;
        }

        if (OperatingSystem.IsLinux())
        {
            // Trees from images can hold names that are not UTF-8, which .NET's own deletion cannot address.
            Directory.LinuxTreeWriter.DeleteTree(path);
            return;
        }

        foreach (var entry in new DirectoryInfo(path).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }))
        {
            if (entry is DirectoryInfo && entry.LinkTarget is null && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(entry.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        System.IO.Directory.Delete(path, recursive: true);
    }
}
