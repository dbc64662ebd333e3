using OciPS.Core.Model;

namespace OciPS.Core.Sinks;

/// <summary>
/// Where a merged root filesystem goes: a directory, a tar, a squashfs or an ext4 image. Every source
/// feeds every sink through this interface.
/// </summary>
/// <remarks>
/// The contract a sink can rely on:
/// <list type="bullet">
/// <item>Entries arrive in merge order, not sorted and not known in advance. Each path comes once, except
/// when a layer itself holds a path twice (malformed, but real images have it): the later entry then
/// replaces the earlier (for a directory, its metadata). A parent directory may come after its children,
/// or never: the sink creates missing parents (mode 0755, root-owned) and applies a directory's own
/// metadata when it arrives. The root itself (".") never comes.</item>
/// <item>Paths are normalised (<see cref="EntryName.Normalize"/>), never absolute, never contain "..",
/// and never lead through a symlink: the merge has already rejected or neutralised hostile entries.</item>
/// <item>A <see cref="OciFileType.Hardlink"/> entry's <see cref="OciFileEntry.LinkTarget"/> names a
/// regular file added earlier in the same stream.</item>
/// <item>No whiteouts reach a sink.</item>
/// <item><c>content</c> is the regular file's bytes, exactly <see cref="OciFileEntry.Size"/> of them
/// (holes as zeros; <see cref="OciFileEntry.SparseMap"/> says where they are), and null for every other
/// type. It is readable only until <see cref="AddAsync"/> returns: a sink copies what it needs
/// before returning, and never holds a whole file in memory.</item>
/// </list>
/// Nothing appears at the destination until <see cref="CompleteAsync"/> succeeds: output is written
/// under a temporary name and moved into place. Disposing a sink that was not completed deletes
/// the partial output.
/// </remarks>
public interface IRootfsSink : IAsyncDisposable
{
    ValueTask AddAsync(OciFileEntry entry, Stream? content, CancellationToken cancellationToken);

    ValueTask CompleteAsync(CancellationToken cancellationToken);
}
