using OciPS.Core.Model;

namespace OciPS.Core.Content;

/// <summary>Turns what a source resolves to into pipeline objects: an <see cref="OciIndex"/> or an <see cref="OciImage"/> with its config.</summary>
public static class ImageLoader
{
    /// <summary>
    /// Resolves the source's location. An index is returned as <see cref="OciIndex"/> when no platform
    /// is asked for, else the best image for <paramref name="platform"/> (containerd's matching rules).
    /// </summary>
    public static async Task<OciManifest> LoadAsync(IImageSource source, Platform? platform, CancellationToken cancellationToken)
    {
        var resolved = await source.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var reference = resolved.Name ?? source.Name;
        if (resolved.Content.Kind == ManifestKind.Index)
        {
            var index = new OciIndex(source, resolved.Content, reference);
            return platform is null ? index : await SelectAsync(index, platform, cancellationToken).ConfigureAwait(false);
        }

        var image = await LoadImageAsync(source, resolved.Content, reference, null, cancellationToken).ConfigureAwait(false);
        if (platform is not null && image.Platform is { Os.Length: > 0 } actual && platform.Rank(actual) < 0)
        {
            throw new PlatformNotFoundException(source.Name, platform.ToString(), [actual.ToString()]);
        }

        return image;
    }

    /// <summary>The image of <paramref name="index"/> that best runs on <paramref name="platform"/>.</summary>
    public static async Task<OciImage> SelectAsync(OciIndex index, Platform platform, CancellationToken cancellationToken)
    {
        var best = index.Manifests
            .Where(entry => entry.Platform is not null && !entry.IsAttestation)
            .Select(entry => (Entry: entry, Rank: platform.Rank(entry.Platform!)))
            .Where(candidate => candidate.Rank >= 0)
            .OrderBy(candidate => candidate.Rank)
            .ThenBy(candidate => candidate.Entry.Position)
            .Select(candidate => candidate.Entry)
            .FirstOrDefault();
        if (best is null)
        {
            // An index whose only image declares no platform is a plain wrapper (as some layouts are).
            var images = index.Manifests.Where(m => !m.IsAttestation).ToArray();
            if (images.Length == 1 && images[0].Platform is null)
            {
                best = images[0];
            }
            else
            {
                throw new PlatformNotFoundException(index.Location, platform.ToString(), index.Platforms);
            }
        }

        var content = await index.Source.GetManifestAsync(best.Descriptor, cancellationToken).ConfigureAwait(false);
        if (content.Kind == ManifestKind.Index)
        {
            var nested = new OciIndex(index.Source, content, index.Reference);
            return await SelectAsync(nested, platform, cancellationToken).ConfigureAwait(false);
        }

        return await LoadImageAsync(index.Source, content, index.Reference, best.Descriptor, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every image an index lists (attestations left out), in index order.</summary>
    public static async Task<IReadOnlyList<OciImage>> LoadAllAsync(OciIndex index, CancellationToken cancellationToken)
    {
        var images = new List<OciImage>();
        foreach (var entry in index.Manifests.Where(m => !m.IsAttestation))
        {
            var content = await index.Source.GetManifestAsync(entry.Descriptor, cancellationToken).ConfigureAwait(false);
            if (content.Kind == ManifestKind.Index)
            {
                images.AddRange(await LoadAllAsync(new OciIndex(index.Source, content, index.Reference), cancellationToken).ConfigureAwait(false));
            }
            else
            {
                images.Add(await LoadImageAsync(index.Source, content, index.Reference, entry.Descriptor, cancellationToken).ConfigureAwait(false));
            }
        }

        return images;
    }

    private static async Task<OciImage> LoadImageAsync(IImageSource source, ManifestContent content, string reference, Descriptor? indexEntry, CancellationToken cancellationToken)
    {
        ImageManifest manifest;
        try
        {
            manifest = content.Manifest;
        }
        catch (FormatException ex)
        {
            throw new CorruptContentException("ManifestInvalid", ex.Message, source.Name, ex);
        }

        ImageConfig? config = null;
        byte[]? configBytes = null;
        var configType = manifest.Config.MediaType;
        if (MediaTypes.IsImageConfig(configType) || string.IsNullOrEmpty(configType))
        {
            configBytes = await source.ReadBlobAsync(manifest.Config, cancellationToken).ConfigureAwait(false);
            try
            {
                config = OciJson.Deserialize(configBytes, OciJsonContext.Default.ImageConfig, $"The config {manifest.Config.Digest} of {source.Name}");
            }
            catch (FormatException ex)
            {
                throw new CorruptContentException("ConfigInvalid", ex.Message, manifest.Config.Digest.ToString(), ex);
            }
        }

        return new OciImage(source, content, reference, indexEntry, config, configBytes);
    }
}
