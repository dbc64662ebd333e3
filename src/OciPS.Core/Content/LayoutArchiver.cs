using OciPS.Core.Layers.Tar;

namespace OciPS.Core.Content;

/// <summary>Tars a directory (an OCI layout) into an archive, in a stable order, leaving out lock files.</summary>
internal static class LayoutArchiver
{
    public static async Task TarDirectoryAsync(string directory, string archive, CancellationToken cancellationToken)
    {
        var file = new FileStream(archive, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        var tar = new TarWriter(file);
        await using (tar.ConfigureAwait(false))
        {
            foreach (var full in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var name = Path.GetRelativePath(directory, full).Replace('\\', '/');
                if (name.EndsWith(".lock", StringComparison.Ordinal))
                {
                    continue;
                }

                if (Directory.Exists(full))
                {
                    await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.Directory, Mode = 0x1ED }, null, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var content = File.OpenRead(full);
                await using (content.ConfigureAwait(false))
                {
                    await tar.WriteAsync(new TarHeader { Name = name, Kind = TarEntryKind.File, Mode = 0x1A4, Size = content.Length }, content, cancellationToken).ConfigureAwait(false);
                }
            }

            await tar.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
