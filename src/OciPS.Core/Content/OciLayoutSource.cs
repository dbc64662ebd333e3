using System.Globalization;
using OciPS.Core.Model;
using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>
/// Reads an OCI image layout, as a directory (<c>oci:</c>) or as a tar archive (<c>oci-archive:</c>):
/// <c>index.json</c> names the images (by <c>org.opencontainers.image.ref.name</c>), blobs live in
/// <c>blobs/&lt;algorithm&gt;/&lt;hash&gt;</c>.
/// </summary>
public sealed class OciLayoutSource : IImageSource
{
    private readonly ILayoutStorage _storage;

    private OciLayoutSource(ImageLocation location, ILayoutStorage storage)
    {
        Location = location;
        _storage = storage;
    }

    public ImageLocation Location { get; }

    public string Name => Location.ToString();

    /// <summary>Opens a layout directory or archive; fails at once when the path holds no layout.</summary>
    public static OciLayoutSource Open(ImageLocation location)
    {
        var path = location.Path ?? throw new ArgumentException("The location has no path.", nameof(location));
        ILayoutStorage storage = location.Transport switch
        {
            LocationTransport.OciLayout => Directory.Exists(path)
                ? new DirectoryStorage(path)
                : throw new LocationNotFoundException(location.Original, File.Exists(path) ? $"'{path}' is a file, not a layout directory (use oci-archive: for tarred layouts)" : $"the directory '{path}' does not exist"),
            LocationTransport.OciArchive => new ArchiveStorage(ArchiveIndex.Open(path, location.Original)),
            _ => throw new ArgumentException($"{location.Transport} is not an OCI layout transport.", nameof(location)),
        };

        if (!storage.Exists("index.json"))
        {
            throw new LocationNotFoundException(location.Original, $"'{path}' is not an OCI image layout: it has no index.json");
        }

        if (storage.Exists("oci-layout"))
        {
            var header = OciJson.Deserialize(storage.Read("oci-layout", 64 * 1024), OciJsonContext.Default.ImageLayoutHeader, $"The oci-layout file of '{path}'");
            if (!header.ImageLayoutVersion.StartsWith("1.", StringComparison.Ordinal))
            {
                throw new UnsupportedContentException("LayoutVersionUnsupported", $"'{path}' is an image layout of version {header.ImageLayoutVersion}; only 1.x is supported.", location.Original);
            }
        }

        return new OciLayoutSource(location, storage);
    }

    /// <summary>The layout's index.json, exactly as stored.</summary>
    public ManifestContent ReadIndexJson()
    {
        var bytes = _storage.Read("index.json", ImageSourceExtensions.MaxDocumentSize);
        try
        {
            return ManifestContent.FromBytes(bytes, MediaTypes.OciIndex, null, $"index.json of {Name}");
        }
        catch (Exception ex) when (ex is FormatException)
        {
            throw new CorruptContentException("LayoutIndexInvalid", $"The index.json of '{Location.Path}' is not valid: {ex.Message}", Location.Original, ex);
        }
    }

    public async Task<ResolvedManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        var indexJson = ReadIndexJson();
        IReadOnlyList<Descriptor> entries;
        try
        {
            entries = indexJson.Index.Manifests;
        }
        catch (FormatException ex)
        {
            throw new CorruptContentException("LayoutIndexInvalid", $"The index.json of '{Location.Path}' is not valid: {ex.Message}", Location.Original, ex);
        }

        Descriptor? selected;
        if (Location.Tag is { } tag)
        {
            selected = entries.FirstOrDefault(e => e.Annotation(AnnotationKeys.RefName) == tag)
                ?? entries.FirstOrDefault(e => e.Annotation(AnnotationKeys.ContainerdImageName) is { } name &&
                    (name == tag || (ImageReference.TryParse(name, out var parsed, out _) && parsed.Tag == tag && entries.Count(x => x.Annotation(AnnotationKeys.ContainerdImageName) == name) == 1)));
            if (selected is null)
            {
                throw new ManifestNotFoundException(Name, tag, RefNames(entries));
            }
        }
        else if (Location.Digest is { } digest)
        {
            selected = entries.FirstOrDefault(e => e.Digest == digest);
            if (selected is null)
            {
                var blob = BlobPath(digest);
                if (!_storage.Exists(blob))
                {
                    throw new ManifestNotFoundException(Name, digest.ToString(), RefNames(entries));
                }

                selected = new Descriptor { Digest = digest, Size = _storage.Size(blob) };
            }
        }
        else if (Location.Index is { } position)
        {
            selected = position < entries.Count
                ? entries[position]
                : throw new ManifestNotFoundException(Name, "@" + position.ToString(CultureInfo.InvariantCulture), RefNames(entries));
        }
        else if (entries.Count == 1)
        {
            selected = entries[0];
        }
        else if (entries.Count > 1 && entries.All(e => e.Platform is not null && e.Annotation(AnnotationKeys.RefName) is null))
        {
            // index.json itself is the multi-platform index (as buildx and some exporters write it).
            return new ResolvedManifest(indexJson, null);
        }
        else
        {
            throw entries.Count == 0
                ? ManifestNotFoundException.Empty(Name)
                : ManifestNotFoundException.Ambiguous(Name, RefNames(entries));
        }

        var content = await GetManifestAsync(selected, cancellationToken).ConfigureAwait(false);
        return new ResolvedManifest(content, selected.Annotation(AnnotationKeys.RefName) ?? selected.Annotation(AnnotationKeys.ContainerdImageName));
    }

    public Task<ManifestContent> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var path = BlobPath(descriptor.Digest);
        if (!_storage.Exists(path))
        {
            throw new BlobNotFoundException(Name, descriptor);
        }

        var size = _storage.Size(path);
        if (descriptor.Size > 0 && size != descriptor.Size)
        {
            throw new DigestMismatchException($"The manifest {descriptor.Digest} in {Name}", descriptor.Digest, descriptor.Size, size);
        }

        var bytes = _storage.Read(path, ImageSourceExtensions.MaxDocumentSize);
        var mediaType = string.IsNullOrEmpty(descriptor.MediaType) ? null : descriptor.MediaType;
        return Task.FromResult(ManifestContent.FromBytes(bytes, mediaType, descriptor.Digest, $"The manifest {descriptor.Digest} in {Name}"));
    }

    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var path = BlobPath(descriptor.Digest);
        if (!_storage.Exists(path))
        {
            throw new BlobNotFoundException(Name, descriptor);
        }

        Stream stream = new VerifyingStream(_storage.Open(path), descriptor, $"The blob {descriptor.Digest} in {Name}");
        return Task.FromResult(stream);
    }

    internal static string BlobPath(Digest digest) => "blobs/" + digest.Algorithm + "/" + digest.Encoded;

    private static string[] RefNames(IReadOnlyList<Descriptor> entries) =>
        entries.Select((e, i) => e.Annotation(AnnotationKeys.RefName) ?? "@" + i.ToString(CultureInfo.InvariantCulture) + " (" + e.Digest.Short + ")").ToArray();

    /// <summary>Where a layout's files are: a directory or an archive.</summary>
    private interface ILayoutStorage
    {
        bool Exists(string relativePath);

        long Size(string relativePath);

        Stream Open(string relativePath);

        byte[] Read(string relativePath, long maxSize);
    }

    private sealed class DirectoryStorage(string root) : ILayoutStorage
    {
        public bool Exists(string relativePath) => File.Exists(Full(relativePath));

        public long Size(string relativePath) => new FileInfo(Full(relativePath)).Length;

        public Stream Open(string relativePath) =>
            new FileStream(Full(relativePath), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

        public byte[] Read(string relativePath, long maxSize)
        {
            var full = Full(relativePath);
            var size = new FileInfo(full).Length;
            return size > maxSize
                ? throw new CorruptContentException("LayoutFileTooLarge", $"'{full}' is {size} bytes, more than the {maxSize} allowed.", full)
                : File.ReadAllBytes(full);
        }

        private string Full(string relativePath) => Path.Combine(root, relativePath);
    }

    private sealed class ArchiveStorage(ArchiveIndex archive) : ILayoutStorage
    {
        public bool Exists(string relativePath) => archive.Contains(relativePath);

        public long Size(string relativePath) => archive.SizeOf(relativePath);

        public Stream Open(string relativePath) => archive.OpenMember(relativePath);

        public byte[] Read(string relativePath, long maxSize) => archive.ReadMember(relativePath, maxSize);
    }
}
