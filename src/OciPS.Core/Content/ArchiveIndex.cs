using System.Formats.Tar;
using OciPS.Core.References;

namespace OciPS.Core.Content;

/// <summary>
/// The table of contents of an uncompressed tar archive holding an image (an <c>oci-archive</c> or
/// a <c>docker save</c> tarball): member names with their data offsets, so blobs are read in place,
/// several at once, without unpacking the archive.
/// </summary>
internal sealed class ArchiveIndex
{
    private readonly Dictionary<string, Member> _members;

    private ArchiveIndex(string path, Dictionary<string, Member> members)
    {
        Path = path;
        _members = members;
    }

    public string Path { get; }

    public IEnumerable<string> Names => _members.Keys;

    /// <summary>Reads the archive's headers (skipping over the data) and records where each member's data is.</summary>
    public static ArchiveIndex Open(string path, string location)
    {
        if (!File.Exists(path))
        {
            throw new LocationNotFoundException(location, $"'{path}' does not exist");
        }

        var members = new Dictionary<string, Member>(StringComparer.Ordinal);
        var links = new List<(string Name, string Target, bool Symbolic)>();
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess);
        RejectCompressed(file, location);
        try
        {
            using var reader = new TarReader(file, leaveOpen: true);
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                var name = Normalize(entry.Name);
                switch (entry.EntryType)
                {
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        members[name] = new Member(DataOffset(file, entry), entry.Length);
                        break;
                    case TarEntryType.SymbolicLink:
                        links.Add((name, entry.LinkName, true));
                        break;
                    case TarEntryType.HardLink:
                        links.Add((name, entry.LinkName, false));
                        break;
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw new CorruptContentException("ArchiveCorrupt", $"'{path}' is not a valid tar archive: {ex.Message}", location, ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new CorruptContentException("ArchiveCorrupt", $"'{path}' is truncated: {ex.Message}", location, ex);
        }

        // docker save writes one layer.tar per layer and links duplicates to the first copy.
        foreach (var (name, target, symbolic) in links)
        {
            var resolved = symbolic
                ? Normalize(System.IO.Path.GetRelativePath("/", System.IO.Path.GetFullPath(target, "/" + (System.IO.Path.GetDirectoryName(name) ?? string.Empty))).Replace('\\', '/'))
                : Normalize(target);
            if (members.TryGetValue(resolved, out var member))
            {
                members[name] = member;
            }
        }

        return new ArchiveIndex(path, members);
    }

    /// <summary>What an archive file holds: an OCI layout (<c>index.json</c>) or a docker save (<c>manifest.json</c> only).</summary>
    public static LocationTransport? DetectArchiveKind(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess);
            using var reader = new TarReader(file);
            bool hasIndex = false, hasManifest = false;
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                var name = Normalize(entry.Name);
                hasIndex |= name == "index.json";
                hasManifest |= name == "manifest.json";
            }

            return hasIndex ? LocationTransport.OciArchive : hasManifest ? LocationTransport.DockerArchive : null;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    public bool Contains(string name) => _members.ContainsKey(Normalize(name));

    public long SizeOf(string name) => _members.TryGetValue(Normalize(name), out var member) ? member.Length : -1;

    /// <summary>Opens a member's data for reading; each call has its own file handle, so readers run in parallel.</summary>
    public Stream OpenMember(string name)
    {
        if (!_members.TryGetValue(Normalize(name), out var member))
        {
            throw new FileNotFoundException($"'{Path}' has no member '{name}'.");
        }

        var file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        file.Seek(member.Offset, SeekOrigin.Begin);
        return new BoundedStream(file, member.Length);
    }

    public byte[] ReadMember(string name, long maxSize)
    {
        var size = SizeOf(name);
        if (size > maxSize)
        {
            throw new CorruptContentException("ArchiveMemberTooLarge", $"'{name}' in '{Path}' is {size} bytes, more than the {maxSize} allowed.", Path);
        }

        using var stream = OpenMember(name);
        var buffer = new byte[size];
        stream.ReadExactly(buffer);
        return buffer;
    }

    private static string Normalize(string name)
    {
        var trimmed = name.Replace('\\', '/');
        while (trimmed.StartsWith("./", StringComparison.Ordinal))
        {
            trimmed = trimmed[2..];
        }

        return trimmed.TrimStart('/');
    }

    private static long DataOffset(FileStream file, TarEntry entry)
    {
        // A member read without copying is a window on the archive; reading its first byte positions
        // the archive there. Zero-length members have no data to find.
        if (entry.Length == 0 || entry.DataStream is null)
        {
            return 0;
        }

        var before = file.Position;
        entry.DataStream.Position = 0;
        if (entry.DataStream.ReadByte() < 0)
        {
            throw new EndOfStreamException($"The data of '{entry.Name}' is missing.");
        }

        var offset = file.Position - 1;
        file.Position = before;
        return offset;
    }

    private static void RejectCompressed(FileStream file, string location)
    {
        Span<byte> magic = stackalloc byte[4];
        var read = file.Read(magic);
        file.Position = 0;
        if (read >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        {
            throw new UnsupportedContentException("ArchiveCompressed", $"'{file.Name}' is gzip-compressed; image archives are plain tar files (decompress it first, e.g. with gzip -d).", location);
        }

        if (read == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        {
            throw new UnsupportedContentException("ArchiveCompressed", $"'{file.Name}' is zstd-compressed; image archives are plain tar files (decompress it first, e.g. with zstd -d).", location);
        }
    }

    private readonly record struct Member(long Offset, long Length);
}
