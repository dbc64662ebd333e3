using OciPS.Core.Content;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;

namespace OciPS.Core.Artifacts;

/// <summary>How an artifact is saved to files.</summary>
public sealed record ArtifactSaveOptions
{
    /// <summary>The manifest to pick from an index; when null an index with one manifest (or one for this machine) is used.</summary>
    public Platform? Platform { get; init; }

    /// <summary>Replaces existing files.</summary>
    public bool Force { get; init; }

    public IProgress<OciProgress>? Progress { get; init; }

    /// <summary>Told about layers that have no title (and so no file name) and are skipped.</summary>
    public Action<string>? Warning { get; init; }
}

/// <summary>One file or directory written by <see cref="ArtifactPuller"/>.</summary>
public sealed record SavedArtifactEntry(string Path, bool IsDirectory, Descriptor Layer);

/// <summary>
/// ORAS pull: writes each titled layer of an artifact to a file named by its title; layers marked with
/// <c>io.deis.oras.content.unpack</c> are tar+gzip directories and are extracted. Titles and tar entries
/// that would land outside the target directory are refused; every file is written under a temporary
/// name and moved into place once complete and verified.
/// </summary>
public static class ArtifactPuller
{
    public static async Task<IReadOnlyList<SavedArtifactEntry>> SaveAsync(IImageSource source, string directory, ArtifactSaveOptions options, CancellationToken cancellationToken)
    {
        var resolved = await source.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var manifest = await SelectManifestAsync(source, resolved.Content, options.Platform, cancellationToken).ConfigureAwait(false);
        var root = Path.GetFullPath(directory);
        Directory.CreateDirectory(root);

        var layers = manifest.Manifest.Layers;
        var titled = layers.Where(l => !string.IsNullOrEmpty(l.Annotation(AnnotationKeys.Title))).ToList();
        foreach (var skipped in layers.Except(titled))
        {
            options.Warning?.Invoke($"The layer {skipped.Digest} ({skipped.MediaType}) of {source.Name} has no title (org.opencontainers.image.title), so it has no file name and is not saved.");
        }

        // Check every title before writing anything, so a hostile artifact writes nothing at all.
        var targets = titled.Select(l => (Layer: l, Path: SafeJoin(root, l.Annotation(AnnotationKeys.Title)!, source.Name))).ToList();
        foreach (var (layer, path) in targets.Where(t => !IsUnpack(t.Layer)))
        {
            if (!options.Force && (File.Exists(path) || Directory.Exists(path)))
            {
                throw new OciException("ArtifactFileExists", OciErrorKind.ResourceExists, $"'{path}' exists; use -Force to replace it.", path);
            }
        }

        var saved = new List<SavedArtifactEntry>();
        foreach (var (layer, path) in targets)
        {
            var key = layer.Digest.ToString();
            var title = layer.Annotation(AnnotationKeys.Title)!;
            options.Progress?.Report(new OciProgress(key, null, "Saving " + title, layer.MediaType, 0, layer.Size, IsBytes: true, Completed: false));
            var blob = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
            await using (blob.ConfigureAwait(false))
            {
                if (IsUnpack(layer))
                {
                    await ExtractAsync(blob, root, options.Force, source.Name, cancellationToken).ConfigureAwait(false);
                    saved.Add(new SavedArtifactEntry(path, true, layer));
                }
                else
                {
                    EnsureNoSymlinkedParent(root, path);
                    await WriteFileAsync(blob, path, options.Force, cancellationToken).ConfigureAwait(false);
                    saved.Add(new SavedArtifactEntry(path, false, layer));
                }
            }

            options.Progress?.Report(new OciProgress(key, null, "Saving " + title, layer.MediaType, layer.Size, layer.Size, IsBytes: true, Completed: true));
        }

        return saved;
    }

    private static bool IsUnpack(Descriptor layer) =>
        string.Equals(layer.Annotation(OrasAnnotations.Unpack), "true", StringComparison.OrdinalIgnoreCase);

    private static async Task<ManifestContent> SelectManifestAsync(IImageSource source, ManifestContent content, Platform? platform, CancellationToken cancellationToken)
    {
        if (content.Kind == ManifestKind.Manifest)
        {
            return content;
        }

        var entries = content.Index.Manifests.Where(m => MediaTypes.IsManifest(m.MediaType)).ToList();
        Descriptor? chosen = platform is not null
            ? entries.FirstOrDefault(e => e.Platform is not null && platform.Matches(e.Platform))
            : entries.Count == 1 ? entries[0]
            : entries.Where(e => e.Platform is not null && Platform.Default.Rank(e.Platform) >= 0).MinBy(e => Platform.Default.Rank(e.Platform!))
              ?? entries.FirstOrDefault(e => e.Platform is null);
        if (chosen is null)
        {
            throw new PlatformNotFoundException(source.Name, (platform ?? Platform.Default).ToString(), entries.Select(e => e.Platform?.ToString() ?? "(none)").ToList());
        }

        return await source.GetManifestAsync(chosen, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The path of <paramref name="relative"/> under <paramref name="root"/>; throws when it would leave it.</summary>
    public static string SafeJoin(string root, string relative, string what)
    {
        var normalised = relative.Replace('\\', '/');
        if (normalised.Length == 0 || normalised.StartsWith('/') || normalised.Contains('\0', StringComparison.Ordinal) ||
            normalised.Split('/').Any(p => p == "..") || Path.IsPathRooted(relative))
        {
            throw new OciException("ArtifactPathUnsafe", OciErrorKind.Security, $"{what} names '{relative}', which would be written outside '{root}'; refusing to save it.", relative);
        }

        var full = Path.GetFullPath(Path.Combine(root, normalised.TrimEnd('/')));
        var prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(prefix, StringComparison.Ordinal) && full != root)
        {
            throw new OciException("ArtifactPathUnsafe", OciErrorKind.Security, $"{what} names '{relative}', which would be written outside '{root}'; refusing to save it.", relative);
        }

        return full;
    }

    private static async Task WriteFileAsync(Stream content, string path, bool force, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".ocips-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (output.ConfigureAwait(false))
            {
                // The source's stream verifies digest and size at its end: copying to the end checks the content.
                await content.CopyToAsync(output, 1 << 16, cancellationToken).ConfigureAwait(false);
            }

            File.Move(temporary, path, overwrite: force);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Extracts a packed directory (tar, usually gzipped) under <paramref name="root"/>, refusing entries that escape it.</summary>
    private static async Task ExtractAsync(Stream blob, string root, bool force, string what, CancellationToken cancellationToken)
    {
        var (decompressed, _) = await LayerDecompressor.OpenAsync(blob, cancellationToken).ConfigureAwait(false);
        await using var _ = decompressed.ConfigureAwait(false);
        var reader = new TarReader(decompressed, what, leaveOpen: true);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadNextAsync(cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var name = entry.Name;
                while (name.StartsWith("./", StringComparison.Ordinal))
                {
                    name = name[2..];
                }

                if (name.Length == 0 || name == ".")
                {
                    continue;
                }

                var target = SafeJoin(root, name, $"The packed directory in {what}");
                EnsureNoSymlinkedParent(root, target);
                switch (entry.Kind)
                {
                    case TarEntryKind.Directory:
                        Directory.CreateDirectory(target);
                        break;
                    case TarEntryKind.File:
                        if (!force && File.Exists(target))
                        {
                            throw new OciException("ArtifactFileExists", OciErrorKind.ResourceExists, $"'{target}' exists; use -Force to replace it.", target);
                        }

                        await WriteFileAsync(reader.DataStream, target, force, cancellationToken).ConfigureAwait(false);
                        if (!OperatingSystem.IsWindows())
                        {
                            File.SetUnixFileMode(target, (UnixFileMode)(entry.Mode & 0x1FF));
                        }

                        break;
                    case TarEntryKind.Symlink:
                        var link = entry.LinkName ?? string.Empty;
                        var resolvedLink = Path.IsPathRooted(link) ? link : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(target)!, link));
                        SafeJoin(root, Path.GetRelativePath(root, resolvedLink), $"The symbolic link '{name}' -> '{link}' in {what}");
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        if (force && (File.Exists(target) || Directory.Exists(target)))
                        {
                            File.Delete(target);
                        }

                        File.CreateSymbolicLink(target, link);
                        break;
                    default:
                        throw new UnsupportedContentException("ArtifactEntryUnsupported", $"The packed directory in {what} holds '{entry.Name}', a {entry.Kind}; only files, directories and symbolic links are saved.", entry.Name);
                }
            }
        }

        // Reading the rest drains the blob so its digest is verified at the end.
        await decompressed.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        await blob.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Refuses to write through a symbolic link an earlier entry created (a classic tar escape).</summary>
    private static void EnsureNoSymlinkedParent(string root, string path)
    {
        for (var parent = Path.GetDirectoryName(path); parent is not null && parent.Length > root.Length; parent = Path.GetDirectoryName(parent))
        {
            var info = new DirectoryInfo(parent);
            if (info.Exists && info.LinkTarget is not null)
            {
                throw new OciException("ArtifactPathUnsafe", OciErrorKind.Security, $"'{path}' would be written through the symbolic link '{parent}'; refusing to save it.", path);
            }
        }
    }
}
