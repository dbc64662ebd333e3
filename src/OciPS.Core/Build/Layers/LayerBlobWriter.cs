using System.Security.Cryptography;
using OciPS.Core.Content;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;

namespace OciPS.Core.Build.Layers;

/// <summary>
/// Writes a layer blob in one pass: our tar writer → hash (diffID) → gzip or zstd → hash (digest) →
/// a temporary file in the staging blob directory, renamed to its digest when complete. The same
/// items give the same bytes (no host times or owners are read here; items carry them).
/// </summary>
public static class LayerBlobWriter
{
    public static async Task<BuiltLayer> WriteAsync(IAsyncEnumerable<LayerItem> items, BuildCompression compression, string blobDirectory, bool ociMediaTypes, int parallelism, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(blobDirectory);
        var temporary = Path.Combine(blobDirectory, "layer.tmp-" + Guid.NewGuid().ToString("N"));
        try
        {
            Digest diffId;
            Digest digest;
            long size;
            var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                var compressedHash = new HashingWriteStream(file);
                Stream compressor = compression == BuildCompression.Zstd
                    ? Zstd(compressedHash, parallelism)
                    : new ParallelGzipStream(compressedHash, parallelism);
                var tarHash = new HashingWriteStream(compressor);
                var tar = new TarWriter(tarHash, leaveOpen: true);
                await foreach (var item in items.WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    await WriteItemAsync(tar, item, cancellationToken).ConfigureAwait(false);
                }

                await tar.CompleteAsync(cancellationToken).ConfigureAwait(false);
                await compressor.DisposeAsync().ConfigureAwait(false);
                diffId = tarHash.Finish();
                digest = compressedHash.Finish();
                size = compressedHash.Length;
            }

            var path = Path.Combine(blobDirectory, digest.Encoded);
            if (!File.Exists(path))
            {
                File.Move(temporary, path);
            }

            var mediaType = (compression, ociMediaTypes) switch
            {
                (BuildCompression.Zstd, true) => MediaTypes.OciLayerZstd,
                (BuildCompression.Zstd, false) => MediaTypes.DockerLayerZstd,
                (_, true) => MediaTypes.OciLayerGzip,
                _ => MediaTypes.DockerLayerGzip,
            };
            return new BuiltLayer(new Descriptor { MediaType = mediaType, Digest = digest, Size = size }, diffId);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static ZstdSharp.CompressionStream Zstd(Stream output, int parallelism)
    {
        var stream = new ZstdSharp.CompressionStream(output, 3, leaveOpen: true);

        // With one worker or more, zstd's output does not depend on the number of workers: always use the
        // multi-threaded mode so every machine writes the same bytes.
        stream.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_nbWorkers, Math.Max(1, parallelism));
        return stream;
    }

    private static async Task WriteItemAsync(TarWriter tar, LayerItem item, CancellationToken cancellationToken)
    {
        var header = new TarHeader
        {
            Name = item.Path,
            Kind = item.Kind,
            Mode = item.Mode & 0xFFF,
            Uid = item.Uid,
            Gid = item.Gid,
            Size = item.Kind == TarEntryKind.File ? item.Size : 0,
            ModifiedTime = item.ModifiedTime,
            LinkName = item.LinkTarget,
            Xattrs = item.Xattrs ?? new Dictionary<string, byte[]>(),
        };
        if (item.Kind != TarEntryKind.File || item.Size == 0)
        {
            await tar.WriteAsync(header, null, cancellationToken).ConfigureAwait(false);
            return;
        }

        var content = await item.Open!(cancellationToken).ConfigureAwait(false);
        await using (content.ConfigureAwait(false))
        {
            await tar.WriteAsync(header, content, cancellationToken).ConfigureAwait(false);
        }
    }
}
