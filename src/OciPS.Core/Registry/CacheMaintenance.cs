using OciPS.Core.Model;

namespace OciPS.Core.Registry;

/// <summary>What clearing the cache removed.</summary>
public sealed record CacheClearResult(string Path, int BlobsRemoved, long BytesFreed);

/// <summary>Frees the blob cache: every blob, or those not used for a while; index.json keeps only what is still whole.</summary>
public static class CacheMaintenance
{
    /// <summary>
    /// Removes cached blobs (and abandoned partial downloads) last written or read before
    /// <paramref name="olderThan"/> (all when null). <paramref name="shouldProcess"/> is asked once per
    /// blob and may decline (-WhatIf). Index entries whose manifest is gone are dropped.
    /// </summary>
    public static CacheClearResult Clear(string root, DateTime? olderThan, Func<string, long, bool> shouldProcess)
    {
        var blobs = Path.Combine(root, "blobs");
        if (!Directory.Exists(blobs))
        {
            return new CacheClearResult(root, 0, 0);
        }

        var removed = 0;
        long freed = 0;
        foreach (var file in Directory.EnumerateFiles(blobs, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList())
        {
            var info = new FileInfo(file);
            var lastUsed = info.LastAccessTimeUtc > info.LastWriteTimeUtc ? info.LastAccessTimeUtc : info.LastWriteTimeUtc;
            if (olderThan is { } limit && lastUsed >= limit.ToUniversalTime())
            {
                continue;
            }

            if (!shouldProcess(file, info.Length))
            {
                continue;
            }

            try
            {
                var size = info.Length;
                if (info.Name.Contains(".partial", StringComparison.Ordinal))
                {
                    // A download in progress holds its partial file locked (BlobCache.OpenPartial). On Unix
                    // an open file can be deleted, so the lock is what tells: taking it fails while the
                    // download runs, and holding it while deleting keeps a new download from starting on it.
                    using var unused = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, BlobCache.PartialShare);
                    info.Delete();
                }
                else
                {
                    info.Delete();
                }

                removed++;
                freed += size;
            }
            catch (IOException)
            {
                // In use by a download (this process or another): it stays.
            }
        }

        if (removed > 0 && File.Exists(Path.Combine(root, "index.json")))
        {
            PruneIndex(root);
        }

        return new CacheClearResult(root, removed, freed);
    }

    private static void PruneIndex(string root)
    {
        var indexPath = Path.Combine(root, "index.json");
        var index = OciJson.Deserialize(File.ReadAllBytes(indexPath), OciJsonContext.Default.ImageIndex, $"'{indexPath}'");
        var kept = index.Manifests.Where(m => File.Exists(Path.Combine(root, "blobs", m.Digest.Algorithm, m.Digest.Encoded))).ToList();
        if (kept.Count == index.Manifests.Count)
        {
            return;
        }

        var temporary = indexPath + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllBytes(temporary, OciJson.Serialize(index with { Manifests = kept }, OciJson.Compact.ImageIndex));
        File.Move(temporary, indexPath, overwrite: true);
    }
}
