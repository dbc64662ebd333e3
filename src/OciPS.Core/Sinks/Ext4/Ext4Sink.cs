using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;
using OciPS.Core.Model;

namespace OciPS.Core.Sinks.Ext4;

/// <summary>
/// Writes a merged filesystem as an ext4 image in one pass, without mkfs, loop devices or root.
/// </summary>
/// <remarks>
/// The image is a sparse temporary file. File contents are written as they stream by, to blocks taken
/// one after another from the start of the image (extents, holes of sparse files left unallocated);
/// only metadata stays in memory: per inode its attributes and extents, per directory its names.
/// At completion the directories, the journal, the bitmaps and the inode tables are laid out after
/// the data (flex_bg allows them anywhere), then the group descriptors and the superblock go in front.
/// Because nothing metadata-sized has to precede the data, <c>-Size Auto</c> needs no second pass and
/// no spool: the size is decided at the end, from what was written, and the file is just extended.
/// Only the descriptor room after the superblock is reserved up front (for up to
/// <see cref="Ext4Geometry.MaxAutoBytes"/>); the unused part of it stays free space.
/// Superblock backups are off (sparse_super2 with none), as for a read-only root image.
/// </remarks>
public sealed class Ext4Sink : IRootfsSink
{
    private const int CopyBufferSize = 1 << 20;
    private readonly string _destination;
    private readonly string _temporary;
    private readonly Ext4SinkOptions _options;
    private readonly Action<string>? _warn;
    private readonly SafeFileHandle _file;
    private readonly Ext4Node _root;
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);
    private readonly Ext4Geometry? _fixed;
    private readonly long _limit;
    private readonly UnixTime _implicitTime;
    private long _next;
    private long _directories = 1;
    private long _directoryBytes;
    private bool _completed;

    private Ext4Sink(string destination, string temporary, Ext4SinkOptions options, Action<string>? warn, Ext4Geometry? fixedGeometry, long dataStart, long limit)
    {
        _destination = destination;
        _temporary = temporary;
        _options = options;
        _warn = warn;
        _fixed = fixedGeometry;
        _next = dataStart;
        DataStart = dataStart;
        _limit = limit;
        _implicitTime = Clamp(options.SourceDateEpoch is { } epoch ? new UnixTime(epoch, 0) : UnixTime.FromDateTimeOffset(DateTimeOffset.UtcNow));
        _root = Ext4Node.Directory(0x1ED, 0, 0, _implicitTime, true);
        Uuid = (options.Uuid ?? Guid.NewGuid()).ToByteArray(bigEndian: true);
        // A given UUID fixes the directory hash seed too, so -Uuid with -SourceDateEpoch gives the same bytes every time.
        var seed = options.Uuid is null ? RandomNumberGenerator.GetBytes(16) : SHA256.HashData([.. "ocips-ext4-hash-seed"u8, .. Uuid]);
        HashSeed = [BitConverter.ToUInt32(seed, 0), BitConverter.ToUInt32(seed, 4), BitConverter.ToUInt32(seed, 8), BitConverter.ToUInt32(seed, 12)];
        ChecksumSeed = options.MetadataChecksums ? Ext4Format.Crc32C(~0u, Uuid) : null;
        _file = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous);
    }

    internal byte[] Uuid { get; }

    internal uint[] HashSeed { get; }

    internal uint? ChecksumSeed { get; }

    internal long DataStart { get; }

    private int BlockSize => _options.BlockSize;

    /// <summary>Checks the options (a fixed size too small for even an empty image fails here, before any file exists).</summary>
    /// <param name="warn">Receives what ext4 cannot hold (unknown xattr namespaces), once per kind.</param>
    public static Ext4Sink Create(string path, Ext4SinkOptions options, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var destination = Path.GetFullPath(path);
        if (options.BlockSize is not (1024 or 2048 or 4096))
        {
            throw new OciException("Ext4BlockSizeInvalid", OciErrorKind.InvalidArgument, $"The ext4 block size must be 1024, 2048 or 4096, not {options.BlockSize}.", options.BlockSize);
        }

        if (options.Label is { } label && Encoding.UTF8.GetByteCount(label) > 16)
        {
            throw new OciException("Ext4LabelTooLong", OciErrorKind.InvalidArgument, $"The ext4 label '{label}' is {Encoding.UTF8.GetByteCount(label)} bytes; at most 16 fit.", label);
        }

        if (options.InodeRatio is < 1024 or > 67108864)
        {
            throw new OciException("Ext4InodeRatioInvalid", OciErrorKind.InvalidArgument, $"The inode ratio must be between 1024 and 67108864 bytes per inode, not {options.InodeRatio}.", options.InodeRatio);
        }

        var bs = options.BlockSize;
        Ext4Geometry? geometry = null;
        long dataStart, limit;
        if (options.Size is { } size)
        {
            var blocks = size / bs;
            if (blocks >= uint.MaxValue)
            {
                throw new OciException("Ext4SizeInvalid", OciErrorKind.InvalidArgument, $"{size} bytes is more than ext4 without 64-bit block numbers holds with {bs}-byte blocks.", size);
            }

            geometry = Ext4Geometry.Create(bs, blocks, Math.Max(size / options.InodeRatio, 16));
            dataStart = geometry.FirstDataBlock + 1 + geometry.DescriptorBlocks;
            limit = blocks - geometry.GroupMetadataBlocks - (options.Journal ? Ext4Geometry.JournalBlocks(blocks) : 0);
            if (limit - dataStart < 2)
            {
                throw new Ext4SpaceException(destination, $"An ext4 image of {size} bytes cannot hold even an empty filesystem ({(dataStart + blocks - limit + 2) * bs} bytes of metadata); give a larger -Size or Auto.");
            }
        }
        else
        {
            var maxBlocks = Math.Min(uint.MaxValue - 1L, Ext4Geometry.MaxAutoBytes(bs) / bs);
            dataStart = (bs == 1024 ? 1 : 0) + 1 + Ext4Geometry.DescriptorBlocksFor(Ext4Geometry.GroupsFor(maxBlocks, bs), bs);
            limit = maxBlocks * 9 / 10;
        }

        OutputPlacement.CheckDestination(destination, options.Force);
        return new Ext4Sink(destination, OutputPlacement.TemporarySibling(destination), options, warn, geometry, dataStart, limit);
    }

    public async ValueTask AddAsync(OciFileEntry entry, Stream? content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_completed, this);
        var parent = ParentOf(CheckPath(entry.Path), out var name);
        parent.Children!.TryGetValue(name, out var existing);
        if (existing is null)
        {
            _directoryBytes += (8 + Encoding.UTF8.GetByteCount(name) + 3) & ~3;
        }

        if (entry.Type == OciFileType.Hardlink)
        {
            var target = Find(entry.LinkTarget ?? string.Empty);
            if (target is null || target.Type != OciFileType.File)
            {
                throw new OciException("Ext4HardlinkTargetMissing", OciErrorKind.InvalidData, $"The hardlink '{entry.Path}' points to '{entry.LinkTarget}', which is not a file written before it.", entry.Path);
            }

            parent.Children[name] = target;
            return;
        }

        if (entry.Type == OciFileType.Directory && existing is { IsDirectory: true })
        {
            // A directory that came again (or was made as a parent first) keeps its names and takes the new metadata.
            ApplyMetadata(existing, entry);
            existing.Implicit = false;
            return;
        }

        var node = entry.Type switch
        {
            OciFileType.Directory => Ext4Node.Directory(entry.Mode, 0, 0, default, false),
            OciFileType.File or OciFileType.Symlink or OciFileType.CharDevice or OciFileType.BlockDevice or OciFileType.Fifo or OciFileType.Socket => new Ext4Node { Type = entry.Type },
            _ => throw new ArgumentException($"A {entry.Type} entry ('{entry.Path}') cannot be written to an ext4 image.", nameof(entry)),
        };
        ApplyMetadata(node, entry);
        switch (entry.Type)
        {
            case OciFileType.Directory:
                _directories++;
                break;
            case OciFileType.File:
                await WriteFileAsync(node, entry, content, cancellationToken).ConfigureAwait(false);
                break;
            case OciFileType.Symlink:
                await WriteSymlinkAsync(node, entry, cancellationToken).ConfigureAwait(false);
                break;
            case OciFileType.CharDevice or OciFileType.BlockDevice:
                node.DeviceMajor = entry.DeviceMajor;
                node.DeviceMinor = entry.DeviceMinor;
                break;
        }

        parent.Children[name] = node;
    }

    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var writer = new Ext4ImageWriter(_file, _options, _root, _fixed, _next, Uuid, HashSeed, ChecksumSeed, _implicitTime, _destination);
        await writer.WriteAsync(cancellationToken).ConfigureAwait(false);
        _file.Dispose();
        OutputPlacement.MoveIntoPlace(_temporary, _destination, _options.Force);
        _completed = true;
    }

    public ValueTask DisposeAsync()
    {
        if (!_completed)
        {
            _completed = true;
            _file.Dispose();
            File.Delete(_temporary);
        }

        return ValueTask.CompletedTask;
    }

    private void ApplyMetadata(Ext4Node node, OciFileEntry entry)
    {
        node.Mode = entry.Mode;
        node.Uid = Owner(entry.Uid, entry.Path);
        node.Gid = Owner(entry.Gid, entry.Path);
        node.ModifiedTime = Clamp(entry.ModifiedTime);
        node.AccessTime = Clamp(entry.AccessTime ?? entry.ModifiedTime);
        node.ChangeTime = Clamp(entry.ChangeTime ?? entry.ModifiedTime);
        node.InodeXattrs = null;
        node.XattrBlock = 0;
        if (entry.Xattrs.Count == 0)
        {
            return;
        }

        var (inode, block) = Ext4Xattrs.Place(entry.Xattrs, BlockSize, entry.Path, name => WarnOnce("xattr:" + name, $"ext4 has no place for the extended attribute '{name}'; it is left out (first: '{entry.Path}')."));
        if (inode.Count > 0)
        {
            node.InodeXattrs = Ext4Xattrs.InodeArea(inode);
        }

        if (block.Count > 0)
        {
            var number = (uint)Allocate(1, entry.Path);
            var buffer = new byte[BlockSize];
            Ext4Xattrs.WriteBlock(buffer, block, number, ChecksumSeed);
            RandomAccess.Write(_file, buffer, (long)number * BlockSize);
            node.XattrBlock = number;
        }
    }

    private async Task WriteFileAsync(Ext4Node node, OciFileEntry entry, Stream? content, CancellationToken cancellationToken)
    {
        node.Size = entry.Size;
        if (entry.Size == 0)
        {
            return;
        }

        if (content is null)
        {
            throw new ArgumentException($"'{entry.Path}' has {entry.Size} bytes of content but none was given.", nameof(content));
        }

        // Runs of logical blocks holding data: the whole file, or the blocks a sparse file's regions touch.
        var bs = BlockSize;
        var runs = new List<(long Start, long Count)>();
        foreach (var region in entry.SparseMap ?? [new SparseRegion(0, entry.Size)])
        {
            var from = Math.Clamp(region.Offset, 0, entry.Size);
            var to = Math.Clamp(region.Offset + region.Length, from, entry.Size);
            if (to == from)
            {
                continue;
            }

            long first = from / bs, end = (to + bs - 1) / bs;
            if (runs.Count > 0 && first <= runs[^1].Start + runs[^1].Count)
            {
                var last = runs[^1];
                runs[^1] = (last.Start, Math.Max(last.Start + last.Count, end) - last.Start);
            }
            else
            {
                runs.Add((first, end - first));
            }
        }

        var extents = new List<Ext4Extent>();
        var total = runs.Sum(r => r.Count);
        var physical = total == 0 ? 0 : Allocate(total, entry.Path);
        var placed = new List<(long Start, long Count, long Physical)>(runs.Count);
        foreach (var (start, count) in runs)
        {
            placed.Add((start, count, physical));
            for (long done = 0; done < count; done += Ext4Format.MaxExtentLength)
            {
                extents.Add(new Ext4Extent((uint)(start + done), (uint)(physical + done), (int)Math.Min(Ext4Format.MaxExtentLength, count - done)));
            }

            physical += count;
        }

        if (entry.Size / bs >= uint.MaxValue)
        {
            throw new OciException("Ext4FileTooLarge", OciErrorKind.LimitsExceeded, $"'{entry.Path}' is larger than ext4 holds with {bs}-byte blocks.", entry.Path);
        }

        node.Extents = [.. extents];
        var treeBlocks = Ext4Inodes.TreeBlockCount(extents.Count, bs, entry.Path);
        if (treeBlocks > 0)
        {
            var tree = Allocate(treeBlocks, entry.Path);
            node.TreeBlocks = Enumerable.Range(0, treeBlocks).Select(i => (uint)(tree + i)).ToArray();
        }

        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            long offset = 0;
            var run = 0;
            while (offset < entry.Size)
            {
                var read = await content.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, entry.Size - offset)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new InvalidDataException($"The content of '{entry.Path}' ended after {offset} of its {entry.Size} bytes.");
                }

                // Only the parts of the chunk that fall in allocated blocks are written; holes stay holes.
                var end = offset + read;
                while (run < placed.Count && (placed[run].Start + placed[run].Count) * bs <= offset)
                {
                    run++;
                }

                for (var r = run; r < placed.Count && placed[r].Start * bs < end; r++)
                {
                    var from = Math.Max(offset, placed[r].Start * bs);
                    var to = Math.Min(end, (placed[r].Start + placed[r].Count) * bs);
                    if (to > from)
                    {
                        var position = (placed[r].Physical * bs) + (from - (placed[r].Start * bs));
                        await RandomAccess.WriteAsync(_file, buffer.AsMemory((int)(from - offset), (int)(to - from)), position, cancellationToken).ConfigureAwait(false);
                    }
                }

                offset = end;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteSymlinkAsync(Ext4Node node, OciFileEntry entry, CancellationToken cancellationToken)
    {
        var target = EntryName.Encode(entry.LinkTarget ?? string.Empty);
        if (target.Length == 0 || target.Length >= BlockSize)
        {
            throw new OciException("Ext4SymlinkInvalid", OciErrorKind.LimitsExceeded, $"The symlink '{entry.Path}' has a target of {target.Length} bytes; ext4 with {BlockSize}-byte blocks holds 1 to {BlockSize - 1}.", entry.Path);
        }

        node.Size = target.Length;
        if (target.Length < Ext4Format.InlineSymlinkLimit)
        {
            node.InlineTarget = target;
            return;
        }

        var block = Allocate(1, entry.Path);
        node.Extents = [new Ext4Extent(0, (uint)block, 1)];
        await RandomAccess.WriteAsync(_file, target, block * BlockSize, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes the next blocks; fails as soon as a fixed-size image cannot also hold its metadata.</summary>
    private long Allocate(long count, string path)
    {
        var start = _next;
        _next += count;
        var directoryEstimate = _directories + (_directoryBytes / BlockSize);
        if (_next + directoryEstimate > _limit)
        {
            throw _fixed is null
                ? new Ext4SpaceException(_destination, $"The content passed {Ext4Geometry.MaxAutoBytes(BlockSize) >> 30} GiB, the most -Size Auto plans for; give an explicit -Size.")
                : new Ext4SpaceException(_destination, $"The ext4 image of {_options.Size} bytes is full at '{path}' ({_next * BlockSize} bytes of data written, metadata still to come); give a larger -Size or Auto.");
        }

        return start;
    }

    private Ext4Node ParentOf(string path, out string name)
    {
        var parts = path.Split('/');
        var node = _root;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (!node.Children!.TryGetValue(parts[i], out var child) || !child.IsDirectory)
            {
                child = Ext4Node.Directory(0x1ED, 0, 0, _implicitTime, true);
                node.Children[parts[i]] = child;
                _directories++;
            }

            node = child;
        }

        name = parts[^1];
        return node;
    }

    private Ext4Node? Find(string path)
    {
        var node = _root;
        foreach (var part in path.Split('/'))
        {
            if (node.Children is null || !node.Children.TryGetValue(part, out var child))
            {
                return null;
            }

            node = child;
        }

        return node;
    }

    private UnixTime Clamp(UnixTime time) =>
        _options.SourceDateEpoch is { } epoch && time.Seconds >= epoch ? new UnixTime(epoch, 0) : time;

    private static uint Owner(long id, string path) => id is >= 0 and <= uint.MaxValue
        ? (uint)id
        : throw new OciException("Ext4OwnerInvalid", OciErrorKind.InvalidData, $"'{path}' is owned by {id}, which ext4's 32-bit ids cannot hold.", path);

    private void WarnOnce(string key, string message)
    {
        if (_warned.Add(key))
        {
            _warn?.Invoke(message);
        }
    }

    private static string CheckPath(string path)
    {
        var parts = path.Split('/');
        if (path.Length == 0 || path == "." || parts.Any(part => part is "" or "." or "..") || path.Contains('\0', StringComparison.Ordinal))
        {
            throw new OciException("ExportEntryUnsafe", OciErrorKind.Security, $"'{path}' is not a path inside the root; nothing is written for it.", path);
        }

        if (parts.Any(part => EntryName.Encode(part).Length > 255))
        {
            throw new OciException("Ext4NameTooLong", OciErrorKind.LimitsExceeded, $"'{path}' has a name longer than the 255 bytes ext4 allows.", path);
        }

        return path;
    }
}
