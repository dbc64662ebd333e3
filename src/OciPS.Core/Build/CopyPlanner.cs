using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using OciPS.Core.Build.Context;
using OciPS.Core.Build.Dockerfile;
using OciPS.Core.Build.Layers;
using OciPS.Core.Layers;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Merge;
using OciPS.Core.Model;

namespace OciPS.Core.Build;

/// <summary>Where a COPY or ADD takes its files from, besides the build context.</summary>
internal sealed record CopyFromImage(OciImage Image, string Name);

/// <summary>What a COPY or ADD resolved to: its arguments after substitution and the owner and mode to apply.</summary>
internal sealed record CopyRequest(
    DockerfileInstruction Instruction,
    IReadOnlyList<string> Sources,
    string Destination,
    (long Uid, long Gid)? Owner,
    int? Mode,
    string? Checksum,
    CopyFromImage? From,
    bool IsAdd);

/// <summary>A planned COPY or ADD: its layer's entries, its history kind, and the entries recorded while they stream (null: all known already).</summary>
internal sealed record CopyPlan(Func<CancellationToken, IAsyncEnumerable<LayerItem>> Items, string Kind, List<(string Path, TreeNode Node)>? Recorded);

/// <summary>
/// Turns a COPY or ADD into the entries of its layer, following Docker's rules: a directory source
/// copies its contents; several sources (or a glob) need a destination ending in '/'; a relative
/// destination is under WORKDIR; files are root-owned unless --chown; --chmod sets every mode; ADD
/// unpacks local tar archives and downloads URLs (checked with --checksum).
/// </summary>
internal sealed partial class CopyPlanner(BuildContext context, ImageBuildOptions options, string downloadDirectory)
{
    private readonly string _file = options.DockerfilePath is null ? "Dockerfile" : Path.GetFileName(options.DockerfilePath);

    /// <summary>
    /// Resolves everything that can fail early (missing sources, bad destinations, downloads) and
    /// returns the layer's entries as a lazy stream plus the history description (<c>file</c>, <c>dir</c>, <c>multi</c>).
    /// The destination is resolved in the stage's files as Docker does: its symbolic links followed, an
    /// existing directory copied into and left untouched, missing directories written 0755 and owned by --chown.
    /// </summary>
    /// <param name="tree">The files the destination is resolved in: the stage's, or an empty tree for --link.</param>
    public async Task<CopyPlan> PlanAsync(BuildStage stage, CopyRequest request, StageTree tree, CancellationToken cancellationToken)
    {
        var line = request.Instruction.StartLine;
        var syntaxDirectory = IsDirectorySyntax(request.Destination);
        var target = Normalise(request.Destination.StartsWith('/') ? request.Destination : stage.WorkingDirectory.TrimEnd('/') + "/" + request.Destination);
        var heredocs = request.Instruction.Heredocs.ToDictionary(h => h.Name, StringComparer.Ordinal);
        var several = request.Sources.Count > 1 || request.Sources.Any(s => !IsHeredoc(s, heredocs) && PathPatterns.HasWildcards(s));
        if (several && !syntaxDirectory)
        {
            throw new DockerfileSyntaxException(_file, line, $"When using {request.Instruction.Keyword} with more than one source file, the destination must be a directory and end with a /");
        }

        if (request.From is not null && request.IsAdd)
        {
            throw new DockerfileSyntaxException(_file, line, "ADD has no --from; use COPY --from");
        }

        var planned = new SortedDictionary<string, LayerItem>(StringComparer.Ordinal);
        var archives = new List<(string Path, string Target)>();
        var kind = several ? "multi" : "file";
        var epoch = options.SourceDateEpoch is { } sde ? new UnixTime(sde, 0) : (UnixTime?)null;
        var now = epoch ?? UnixTime.FromDateTimeOffset(DateTimeOffset.UtcNow);
        var owner = request.Owner ?? (0, 0);

        // Docker (BuildKit's copy) first makes the destination directory, or the destination's parent,
        // then copies into the destination when it is (or leads by links to) a directory.
        await tree.EnsureAsync(cancellationToken).ConfigureAwait(false);
        var resolved = tree.Resolve(target, line);
        var destination = resolved.Path;
        AddAll(planned, tree.MakeDirectories(syntaxDirectory ? destination : StageTree.Parent(destination), owner, now, line));
        var intoDirectory = syntaxDirectory || tree.Lookup(destination) is { IsDirectory: true };

        if (request.From is not null)
        {
            var parents = planned.Values.ToArray();
            var (fromItems, recorded) = StageTree.Recording(ct => FromImageAsync(tree, request, destination, intoDirectory, parents, ct));
            return new CopyPlan(fromItems, request.Sources.Count == 1 ? "dir" : "multi", recorded);
        }

        foreach (var source in request.Sources)
        {
            if (IsHeredoc(source, heredocs))
            {
                var heredoc = heredocs[HeredocName(source)];
                var text = heredoc.Expand ? ExpandHeredoc(stage, heredoc.Content, line) : heredoc.Content;
                var bytes = Encoding.UTF8.GetBytes(text);
                var path = intoDirectory ? Join(destination, heredoc.Name) : destination;
                Place(planned, tree, line, new LayerItem
                {
                    Path = path, Kind = TarEntryKind.File, Mode = request.Mode ?? 0x1A4, Size = bytes.Length, ModifiedTime = now,
                    Uid = owner.Uid, Gid = owner.Gid,
                    Open = _ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)),
                });
                continue;
            }

            if (request.IsAdd && IsUrl(source))
            {
                var (downloaded, name, modified) = await DownloadAsync(source, request.Checksum, line, cancellationToken).ConfigureAwait(false);
                var path = intoDirectory ? Join(destination, name) : destination;
                var size = new FileInfo(downloaded).Length;
                Place(planned, tree, line, new LayerItem
                {
                    Path = path, Kind = TarEntryKind.File, Mode = request.Mode ?? 0x180, Size = size, ModifiedTime = epoch ?? modified ?? now,
                    Uid = owner.Uid, Gid = owner.Gid, Open = OpenFile(downloaded),
                });
                continue;
            }

            if (request.Checksum is not null)
            {
                throw new DockerfileSyntaxException(_file, line, "--checksum can only be used with a URL source");
            }

            foreach (var item in context.Resolve(source, _file, line))
            {
                if (item.Kind == TarEntryKind.Directory)
                {
                    // The directory's contents go into the destination; the destination itself is made
                    // like a parent (0755, --chown's owner) when missing, and an existing one is untouched.
                    kind = several ? "multi" : "dir";
                    var root = item.RelativePath == "." ? string.Empty : item.RelativePath + "/";
                    AddAll(planned, tree.MakeDirectories(destination, owner, now, line));
                    foreach (var child in context.Walk(item.RelativePath))
                    {
                        var path = Join(destination, child.RelativePath[root.Length..]);
                        Place(planned, tree, line, FromContext(child, path, request, epoch));
                    }
                }
                else if (request.IsAdd && item.Kind == TarEntryKind.File && await ArchiveDetector.TryOpenTarAsync(item.FullPath, cancellationToken).ConfigureAwait(false) is { } probe)
                {
                    await probe.DisposeAsync().ConfigureAwait(false);
                    AddAll(planned, tree.MakeDirectories(destination, owner, now, line));
                    archives.Add((item.FullPath, destination));
                }
                else
                {
                    var path = intoDirectory ? Join(destination, item.RelativePath.Split('/')[^1]) : destination;
                    Place(planned, tree, line, FromContext(item, path, request, epoch));
                }
            }
        }

        var items = planned.Values.ToArray();
        if (archives.Count == 0)
        {
            return new CopyPlan(ct => ConcatAsync(items, archives, request, epoch, ct), kind, null);
        }

        // What an archive holds is known only while it streams into the layer: recorded then.
        var (withArchives, entries) = StageTree.Recording(ct => ConcatAsync(items, archives, request, epoch, ct));
        return new CopyPlan(withArchives, kind, entries);
    }

    private static bool IsDirectorySyntax(string destination) =>
        destination.EndsWith('/') || destination == "." || destination == ".." || destination.EndsWith("/.", StringComparison.Ordinal);

    private static bool IsUrl(string source) =>
        source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    private static bool IsHeredoc(string source, Dictionary<string, Heredoc> heredocs) =>
        DockerfileParser.TryParseHeredocWord(source, out var parsed) && heredocs.ContainsKey(parsed.Name);

    private static string HeredocName(string source) =>
        DockerfileParser.TryParseHeredocWord(source, out var parsed) ? parsed.Name : source;

    /// <summary>An image path without leading or trailing slashes ('' for the root), '..' clamped at the root.</summary>
    internal static string Normalise(string path)
    {
        var cleaned = PathPatterns.Clean("/" + path.Replace('\\', '/'));
        return cleaned.TrimStart('/');
    }

    private static string Join(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;

    private string ExpandHeredoc(BuildStage stage, string content, int line)
    {
        // Unquoted heredocs expand variables like a shell would, but quotes stay as they are.
        var lexer = new ShellLexer('\\');
        var result = new StringBuilder();
        foreach (var textLine in content.Split('\n'))
        {
            if (result.Length > 0)
            {
                result.Append('\n');
            }

            try
            {
                var escaped = textLine.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
                result.Append(lexer.ProcessWord(escaped, stage.Lookup));
            }
            catch (FormatException ex)
            {
                throw new DockerfileSyntaxException(_file, line, ex.Message);
            }
        }

        return result.ToString();
    }

    private static void AddAll(SortedDictionary<string, LayerItem> planned, IEnumerable<LayerItem> items)
    {
        foreach (var item in items)
        {
            planned[item.Path] = item;
        }
    }

    /// <summary>
    /// Plans one entry over what the stage holds, refusing what Docker refuses: a directory over a file
    /// or link (Docker does not follow links below the destination), a file over a directory.
    /// </summary>
    private void Place(SortedDictionary<string, LayerItem> planned, StageTree tree, int line, LayerItem item)
    {
        if (tree.Lookup(item.Path) is { } existing && !planned.ContainsKey(item.Path) && existing.IsDirectory != (item.Kind == TarEntryKind.Directory))
        {
            throw new BuildException("BuildDestinationConflict", OciErrorKind.InvalidData,
                existing.IsDirectory
                    ? $"{_file}:{line}: cannot replace the directory '/{item.Path}' with a file."
                    : $"{_file}:{line}: cannot copy a directory to '/{item.Path}': it is {(existing.Kind == TarEntryKind.Symlink ? "a symbolic link" : "a file")} in the image, not a directory.",
                "/" + item.Path);
        }

        planned[item.Path] = item;
        tree.Record(item);
    }

    private static LayerItem FromContext(ContextItem item, string path, CopyRequest request, UnixTime? epoch) => new()
    {
        Path = path,
        Kind = item.Kind,
        Mode = item.Kind == TarEntryKind.Symlink ? 0x1FF : request.Mode ?? item.Mode,
        Uid = request.Owner?.Uid ?? 0,
        Gid = request.Owner?.Gid ?? 0,
        Size = item.Size,
        ModifiedTime = epoch ?? item.ModifiedTime,
        LinkTarget = item.LinkTarget,
        Open = item.Kind == TarEntryKind.File ? OpenFile(item.FullPath) : null,
    };

    private static Func<CancellationToken, Task<Stream>> OpenFile(string path) =>
        _ => Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan));

    private static async IAsyncEnumerable<LayerItem> ConcatAsync(LayerItem[] items, List<(string Path, string Target)> archives, CopyRequest request, UnixTime? epoch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var item in items)
        {
            yield return item;
        }

        foreach (var (path, target) in archives)
        {
            var tar = await ArchiveDetector.TryOpenTarAsync(path, cancellationToken).ConfigureAwait(false)
                ?? throw new BuildException("BuildArchiveUnreadable", OciErrorKind.InvalidData, $"'{path}' is no longer a tar archive.", path);
            var reader = new TarReader(tar, path);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadNextAsync(cancellationToken).ConfigureAwait(false) is { } header)
                {
                    var relative = Normalise(header.Name);
                    if (relative.Length == 0 || header.Name.Split('/').Contains(".."))
                    {
                        continue;
                    }

                    var stream = reader.DataStream;
                    yield return new LayerItem
                    {
                        Path = Join(target, relative),
                        Kind = header.Kind,
                        Mode = header.Mode,
                        Uid = header.Uid,
                        Gid = header.Gid,
                        Size = header.Size,
                        ModifiedTime = epoch is { } e && header.ModifiedTime > e ? e : header.ModifiedTime,
                        LinkTarget = header.Kind == TarEntryKind.Hardlink ? Join(target, Normalise(header.LinkName ?? string.Empty)) : header.LinkName,
                        Xattrs = header.Xattrs,
                        Open = _ => Task.FromResult<Stream>(new NonClosingStream(stream)),
                    };
                }
            }
        }
    }

    private async Task<(string Path, string Name, UnixTime? Modified)> DownloadAsync(string url, string? checksum, int line, CancellationToken cancellationToken)
    {
        var client = options.HttpClient ?? SharedClient.Value;
        Directory.CreateDirectory(downloadDirectory);
        var path = Path.Combine(downloadDirectory, Guid.NewGuid().ToString("N"));
        HttpResponseMessage response;
        try
        {
            response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new BuildException("BuildDownloadFailed", OciErrorKind.Connection, $"{_file}:{line}: cannot download '{url}': {ex.Message}", url, ex);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new BuildException("BuildDownloadFailed", OciErrorKind.Connection, $"{_file}:{line}: downloading '{url}' failed: {(int)response.StatusCode} {response.ReasonPhrase}", url);
            }

            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var file = File.Create(path);
            await using (body.ConfigureAwait(false))
            await using (file.ConfigureAwait(false))
            {
                await body.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            }

            if (checksum is not null)
            {
                if (!Digest.TryParse(checksum, out var expected, out var reason) || !expected.IsVerifiable)
                {
                    throw new DockerfileSyntaxException(_file, line, $"invalid --checksum '{checksum}': {(reason.Length > 0 ? reason : "use sha256:<hex> or sha512:<hex>")}");
                }

                var stream = File.OpenRead(path);
                Digest actual;
                await using (stream.ConfigureAwait(false))
                {
                    actual = await Digest.ComputeAsync(stream, expected.Algorithm, cancellationToken).ConfigureAwait(false);
                }

                if (actual != expected)
                {
                    throw new DigestMismatchException($"{_file}:{line}: the download of '{url}'", expected, actual);
                }
            }

            var name = Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.Segments[^1].Trim('/') : string.Empty;
            if (name.Length == 0)
            {
                throw new DockerfileSyntaxException(_file, line, $"cannot work out a file name from '{url}'; give a destination file name");
            }

            var modified = response.Content.Headers.LastModified is { } lastModified ? UnixTime.FromDateTimeOffset(lastModified) : (UnixTime?)null;
            return (path, Uri.UnescapeDataString(name), modified);
        }
    }

    private static readonly Lazy<HttpClient> SharedClient = new(() => new HttpClient());

    /// <summary>Lets the tar writer dispose a content stream it was handed without closing the reader's stream under it.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
