using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;

namespace OciPS.Core.Build.Context;

/// <summary>A file, directory or symbolic link of the build context, by its path relative to the context root.</summary>
public sealed record ContextItem(string RelativePath, string FullPath, TarEntryKind Kind, int Mode, long Size, UnixTime ModifiedTime, string? LinkTarget);

/// <summary>
/// The build context: a directory and its .dockerignore (or <c>&lt;Dockerfile&gt;.dockerignore</c>
/// beside the Dockerfile, which wins, as in BuildKit). Ignored paths are invisible to COPY and ADD.
/// </summary>
public sealed class BuildContext
{
    private BuildContext(string root, PathPatterns ignore)
    {
        Root = root;
        Ignore = ignore;
    }

    public string Root { get; }

    public PathPatterns Ignore { get; }

    public static BuildContext Open(string root, string? dockerfilePath)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root))
        {
            throw new BuildException("BuildContextNotFound", OciErrorKind.NotFound, $"The build context '{root}' is not a directory.", root);
        }

        var ignoreFile = Path.Combine(root, ".dockerignore");
        if (dockerfilePath is not null && File.Exists(dockerfilePath + ".dockerignore"))
        {
            ignoreFile = dockerfilePath + ".dockerignore";
        }

        PathPatterns ignore;
        try
        {
            ignore = File.Exists(ignoreFile) ? PathPatterns.ReadIgnoreFile(File.ReadAllText(ignoreFile)) : new PathPatterns([]);
        }
        catch (FormatException ex)
        {
            throw new BuildException("DockerignoreInvalid", OciErrorKind.InvalidData, $"'{ignoreFile}': {ex.Message}", ignoreFile, ex);
        }

        return new BuildContext(root, ignore);
    }

    /// <summary>
    /// The context items a COPY or ADD source names: one path, or every path a glob matches. The
    /// top-level path follows symbolic links (inside the context); nothing ignored is returned.
    /// </summary>
    public IReadOnlyList<ContextItem> Resolve(string source, string fileName, int line)
    {
        var cleaned = PathPatterns.Clean(source.Replace('\\', '/').TrimStart('/'));
        if (cleaned == ".." || cleaned.StartsWith("../", StringComparison.Ordinal))
        {
            throw new BuildException("BuildSourceOutsideContext", OciErrorKind.Security, $"{fileName}:{line}: '{source}' is outside the build context.", source);
        }

        if (!PathPatterns.HasWildcards(cleaned))
        {
            var item = cleaned == "." ? Describe(".", Root, follow: true) : Describe(cleaned, Path.Combine(Root, cleaned), follow: true);
            if (item is null || (cleaned != "." && IsIgnored(cleaned)))
            {
                throw new BuildException("BuildSourceNotFound", OciErrorKind.NotFound, $"{fileName}:{line}: '{source}' is not in the build context{(item is null ? string.Empty : " (it is excluded by .dockerignore)")}.", source);
            }

            return [item];
        }

        var matches = Walk(".").Where(i => PathPatterns.MatchesExactly(cleaned, i.RelativePath)).ToArray();
        if (matches.Length == 0)
        {
            throw new BuildException("BuildSourceNotFound", OciErrorKind.NotFound, $"{fileName}:{line}: no build context file matches '{source}'.", source);
        }

        // A directory whose parent also matched would be copied twice; keep the outermost.
        var directories = new HashSet<string>(matches.Where(m => m.Kind == TarEntryKind.Directory).Select(m => m.RelativePath), StringComparer.Ordinal);
        return matches.Where(m => !HasAncestorIn(m.RelativePath, directories)).ToArray();
    }

    /// <summary>Everything under a directory of the context (not the directory itself), not ignored, sorted by path.</summary>
    public IReadOnlyList<ContextItem> Walk(string relativeDirectory)
    {
        var items = new List<ContextItem>();
        var start = relativeDirectory == "." ? Root : Path.Combine(Root, relativeDirectory);
        WalkInto(relativeDirectory == "." ? string.Empty : relativeDirectory + "/", start, items);
        items.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return items;
    }

    private bool IsIgnored(string relativePath) => !Ignore.IsEmpty && Ignore.Matches(relativePath);

    /// <summary>Adds the entries under a directory; returns whether anything was added (an ignored directory is kept as a parent then).</summary>
    private bool WalkInto(string prefix, string directory, List<ContextItem> items)
    {
        var added = false;
        foreach (var child in new DirectoryInfo(directory).EnumerateFileSystemInfos())
        {
            var relative = prefix + child.Name;
            var item = Describe(relative, child.FullName, follow: false);
            if (item is null)
            {
                continue;
            }

            var ignored = IsIgnored(relative);
            if (item.Kind == TarEntryKind.Directory)
            {
                if (ignored && !Ignore.HasExclusions)
                {
                    continue;
                }

                var position = items.Count;
                var childrenAdded = WalkInto(relative + "/", child.FullName, items);
                if (!ignored || childrenAdded)
                {
                    items.Insert(position, item);
                    added = true;
                }
            }
            else if (!ignored)
            {
                items.Add(item);
                added = true;
            }
        }

        return added;
    }

    private ContextItem? Describe(string relative, string fullPath, bool follow)
    {
        FileSystemInfo info = new FileInfo(fullPath);
        if (!info.Exists)
        {
            info = new DirectoryInfo(fullPath);
            if (!info.Exists)
            {
                return null;
            }
        }

        if (info.LinkTarget is { } target)
        {
            if (!follow)
            {
                return new ContextItem(relative, fullPath, TarEntryKind.Symlink, 0x1FF, 0, UnixTime.FromDateTimeOffset(info.LastWriteTimeUtc), target);
            }

            var resolved = info.ResolveLinkTarget(returnFinalTarget: true);
            if (resolved is null || !resolved.Exists || !IsInside(resolved.FullName))
            {
                throw new BuildException("BuildSourceOutsideContext", OciErrorKind.Security, $"'{relative}' is a symbolic link to '{target}', outside the build context.", relative);
            }

            info = resolved;
        }

        var mode = OperatingSystem.IsWindows() ? (info is DirectoryInfo ? 0x1ED : 0x1A4) : (int)info.UnixFileMode;
        var mtime = UnixTime.FromDateTimeOffset(info.LastWriteTimeUtc);
        return info is DirectoryInfo
            ? new ContextItem(relative, info.FullName, TarEntryKind.Directory, mode, 0, mtime, null)
            : new ContextItem(relative, info.FullName, TarEntryKind.File, mode, ((FileInfo)info).Length, mtime, null);
    }

    private bool IsInside(string fullPath) =>
        fullPath == Root || fullPath.StartsWith(Root.EndsWith(Path.DirectorySeparatorChar) ? Root : Root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static bool HasAncestorIn(string path, HashSet<string> directories)
    {
        for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            if (directories.Contains(path[..slash]))
            {
                return true;
            }
        }

        return false;
    }
}
