using OciPS.Core.Content;
using OciPS.Core.Layers.Tar;
using OciPS.Core.Model;
using OciPS.TestSupport;
using OciPS.TestSupport.Fixtures;
using Xunit;

namespace OciPS.Module.Tests;

public sealed class ExportOciRootfsTests(FixtureImages images) : IClassFixture<FixtureImages>, IDisposable
{
    private readonly TempDirectory _output = new("export");

    public void Dispose() => _output.Dispose();

    private ModuleSession Session() => new(images.WorkingDirectory);

    private static async Task<Dictionary<string, (TarEntryKind Kind, string? Link, long Size)>> ReadTarAsync(string path)
    {
        var entries = new Dictionary<string, (TarEntryKind, string?, long)>();
        await using var reader = new TarReader(File.OpenRead(path));
        while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
        {
            entries[EntryName.Normalize(header.Name)] = (header.Kind, header.LinkName, header.Size);
        }

        return entries;
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void Directory_HoldsTheMergedTree()
    {
        using var session = Session();
        var target = _output.Combine("rootfs");
        var result = session.Run("Export-OciRootfs oci:./layout:1.0 -Format Directory -Path $args[0] -PassThru", target);
        result.ThrowIfFailed();
        Assert.Equal(target, ((DirectoryInfo)Assert.Single(result.Output).BaseObject).FullName);
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(target, "etc", "hello")));
        Assert.Equal("new\n", File.ReadAllText(Path.Combine(target, "etc", "new")));
        Assert.False(File.Exists(Path.Combine(target, "etc", "old")));
        Assert.Equal("tool", new FileInfo(Path.Combine(target, "bin", "alias")).LinkTarget);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, File.GetUnixFileMode(Path.Combine(target, "bin", "tool")));
    }

    [Fact]
    public async Task Tar_IsReproducibleWithASourceDateEpoch()
    {
        using var session = Session();
        var first = _output.Combine("a.tar.gz");
        var second = _output.Combine("b.tar.gz");
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Tar -Compression Gzip -SourceDateEpoch 1000 -Path $args[0]", first).ThrowIfFailed();
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Tar -Compression Gzip -SourceDateEpoch 1000 -Path $args[0]", second).ThrowIfFailed();
        Assert.Equal(await File.ReadAllBytesAsync(first), await File.ReadAllBytesAsync(second));

        var plain = _output.Combine("plain.tar");
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Tar -Path $args[0]", plain).ThrowIfFailed();
        var entries = await ReadTarAsync(plain);
        Assert.Equal(["bin", "bin/alias", "bin/tool", "etc", "etc/hello", "etc/new"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("tool", entries["bin/alias"].Link);
    }

    [Fact]
    public async Task FilteredEntries_KeepHardlinkGroupsWhole()
    {
        using var layoutDirectory = new TempDirectory("hardlinks");
        var layout = OciLayoutWriter.Open(layoutDirectory.Combine("layout"));
        await new ImageBuilder().Layer(new LayerBuilder().File("data/original", "shared bytes").Hardlink("data/link1", "data/original").Hardlink("data/link2", "data/original")).WriteAsync(layout, "links");

        using var session = new ModuleSession(layoutDirectory.Path);
        var target = _output.Combine("filtered.tar");
        session.Run("Merge-OciLayer oci:./layout:links | Where-Object Path -ne 'data/original' | Export-OciRootfs -Format Tar -Path $args[0]", target).ThrowIfFailed();

        var entries = await ReadTarAsync(target);
        Assert.False(entries.ContainsKey("data/original"));
        Assert.Equal(TarEntryKind.File, entries["data/link1"].Kind);
        Assert.Equal(12, entries["data/link1"].Size);
        Assert.Equal((TarEntryKind.Hardlink, "data/link1"), (entries["data/link2"].Kind, entries["data/link2"].Link));
    }

    [Fact]
    public void StoredEntries_AreExportedByReadingTheLayersAgain_WithAWarning()
    {
        using var session = Session();
        var target = _output.Combine("stored");
        var result = session.Run("$entries = @(Merge-OciLayer oci:./layout:1.0); $entries | Export-OciRootfs -Format Directory -Path $args[0]", target);
        result.ThrowIfFailed();
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(target, "etc", "hello")));
        Assert.Contains(result.Warnings, w => w.Contains("read again", StringComparison.Ordinal));
    }

    [Fact]
    public void ExistingOutput_NeedsForce_AndWhatIfWritesNothing()
    {
        using var session = Session();
        var target = _output.Combine("exists.tar");
        File.WriteAllText(target, "keep me");
        var result = session.Run("Export-OciRootfs oci:./layout:1.0 -Format Tar -Path $args[0]", target);
        Assert.Equal("OutputExists,OciPS.Commands.ExportOciRootfsCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
        Assert.Equal("keep me", File.ReadAllText(target));

        var whatIf = _output.Combine("whatif.tar");
        session.Run("Export-OciRootfs oci:./layout:1.0 -Format Tar -Path $args[0] -WhatIf", whatIf).ThrowIfFailed();
        Assert.False(File.Exists(whatIf));
        Assert.Empty(Directory.GetFileSystemEntries(_output.Path, ".whatif*"));
    }

    [Fact]
    public void FailedExport_LeavesNothingBehind()
    {
        using var copy = new TempDirectory("broken");
        TempDirectory.CopyTree(images.Layout, copy.Combine("layout"));
        using var session = new ModuleSession(copy.Path);
        var digest = session.Run("(Get-OciLayer oci:./layout:1.0 -ExcludeEmpty)[0].Digest.Encoded").Output[0].ToString();
        var blob = Path.Combine(copy.Path, "layout", "blobs", "sha256", digest);
        var bytes = File.ReadAllBytes(blob);
        bytes[^12] ^= 0x55;
        File.WriteAllBytes(blob, bytes);

        var target = _output.Combine("never");
        var result = session.Run("Export-OciRootfs oci:./layout:1.0 -Format Directory -Path $args[0]", target);
        Assert.Contains(result.Errors, e => e.FullyQualifiedErrorId.StartsWith("DigestMismatch", StringComparison.Ordinal) || e.FullyQualifiedErrorId.StartsWith("LayerCorrupt", StringComparison.Ordinal));
        Assert.False(Directory.Exists(target));
        Assert.Empty(Directory.GetFileSystemEntries(_output.Path));
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void SquashFs_WithABlockSize_IsReadByUnsquashfs()
    {
        using var session = Session();
        var target = _output.Combine("rootfs.sqfs");
        var result = session.Run("Export-OciRootfs oci:./layout:1.0 -Format SquashFs -BlockSize 64KB -Path $args[0] -PassThru", target);
        result.ThrowIfFailed();
        Assert.Equal(target, ((FileInfo)Assert.Single(result.Output).BaseObject).FullName);
        var superblock = ProcessRunner.Run("unsquashfs", ["-s", target]).StandardOutput;
        Assert.Contains("Block size 65536", superblock, StringComparison.Ordinal);
        Assert.Contains("Compression gzip", superblock, StringComparison.Ordinal);
        var listing = ProcessRunner.Run("unsquashfs", ["-lls", target]).StandardOutput;
        Assert.Contains("squashfs-root/etc/new", listing, StringComparison.Ordinal);
        Assert.Contains("squashfs-root/bin/alias -> tool", listing, StringComparison.Ordinal);
        Assert.DoesNotContain("etc/old", listing, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public async Task SquashFs_FromFilteredEntries_WithZstd_IsReproducible()
    {
        using var session = Session();
        var first = _output.Combine("a.sqfs");
        var second = _output.Combine("b.sqfs");
        const string Command = "Merge-OciLayer oci:./layout:1.0 | Where-Object Path -like 'etc*' | Export-OciRootfs -Format SquashFs -Compression Zstd -CompressionLevel 19 -SourceDateEpoch 1000 -Path $args[0]";
        session.Run(Command, first).ThrowIfFailed();
        session.Run(Command, second).ThrowIfFailed();
        Assert.Equal(await File.ReadAllBytesAsync(first), await File.ReadAllBytesAsync(second));
        Assert.Contains("Compression zstd", ProcessRunner.Run("unsquashfs", ["-s", first]).StandardOutput, StringComparison.Ordinal);
        var listing = ProcessRunner.Run("unsquashfs", ["-lls", first]).StandardOutput;
        Assert.Contains("squashfs-root/etc/hello", listing, StringComparison.Ordinal);
        Assert.DoesNotContain("bin", listing, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-Format Tar -BlockSize 65536", "ExportParameterNotApplicable")]
    [InlineData("-Format SquashFs -Compression None", "ExportParameterNotApplicable")]
    [InlineData("-Format SquashFs -BlockSize 5000", "SquashFsBlockSizeInvalid")]
    [InlineData("-Format SquashFs -CompressionLevel 12", "SquashFsCompressionLevelInvalid")]
    public void SquashFs_OptionsThatDoNotApply_AreClearErrors(string options, string errorId)
    {
        using var session = Session();
        var target = _output.Combine("out.img");
        var result = session.Run($"Export-OciRootfs oci:./layout:1.0 {options} -Path $args[0]", target);
        Assert.Equal(errorId + ",OciPS.Commands.ExportOciRootfsCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(_output.Path));
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void Ext4_WithSizeLabelAndJournal_IsCleanForE2fsck()
    {
        using var session = Session();
        var target = _output.Combine("rootfs.ext4");
        var result = session.Run("Export-OciRootfs oci:./layout:1.0 -Format Ext4 -Size 64M -Label rootfs -Uuid 11111111-2222-3333-4444-555555555555 -Journal -Path $args[0] -PassThru", target);
        result.ThrowIfFailed();
        var file = (FileInfo)Assert.Single(result.Output).BaseObject;
        Assert.Equal(target, file.FullName);
        Assert.Equal(64L << 20, file.Length);
        var check = ProcessRunner.Run("e2fsck", ["-fn", target], check: false);
        Assert.True(check.ExitCode == 0, check.ToString());
        var header = ProcessRunner.Run("dumpe2fs", ["-h", target]).StandardOutput;
        Assert.Contains("has_journal", header, StringComparison.Ordinal);
        Assert.Contains("Filesystem volume name:   rootfs", header, StringComparison.Ordinal);
        Assert.Contains("11111111-2222-3333-4444-555555555555", header, StringComparison.Ordinal);
        var listing = ProcessRunner.Run("debugfs", ["-R", "ls -p /etc", target]).StandardOutput;
        Assert.Contains("/new/", listing, StringComparison.Ordinal);
        Assert.DoesNotContain("/old/", listing, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Requires", "LinuxPeers")]
    public void Ext4_FromFilteredEntries_HoldsOnlyThoseEntries()
    {
        using var session = Session();
        var target = _output.Combine("etc.ext4");
        session.Run("Merge-OciLayer oci:./layout:1.0 | Where-Object Path -like 'etc*' | Export-OciRootfs -Format Ext4 -BlockSize 1024 -Path $args[0]", target).ThrowIfFailed();
        Assert.True(ProcessRunner.Run("e2fsck", ["-fn", target], check: false).ExitCode == 0);
        Assert.Equal("hello", ProcessRunner.Run("debugfs", ["-R", "cat /etc/hello", target]).StandardOutput.Trim());
        var root = ProcessRunner.Run("debugfs", ["-R", "ls -p /", target]).StandardOutput;
        Assert.DoesNotContain("/bin/", root, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-Format Tar -Journal", "ExportParameterNotApplicable")]
    [InlineData("-Format SquashFs -Size 1G", "ExportParameterNotApplicable")]
    [InlineData("-Format Ext4 -Size lots", "Ext4SizeInvalid")]
    [InlineData("-Format Ext4 -Size 16K", "Ext4SizeTooSmall")]
    [InlineData("-Format Ext4 -Label a-label-of-17-byt", "Ext4LabelTooLong")]
    [InlineData("-Format Ext4 -BlockSize 8192", "Ext4BlockSizeInvalid")]
    public void Ext4_BadOptions_AreClearErrors(string options, string errorId)
    {
        using var session = Session();
        var target = _output.Combine("out.img");
        var result = session.Run($"Export-OciRootfs oci:./layout:1.0 {options} -Path $args[0]", target);
        Assert.Equal(errorId + ",OciPS.Commands.ExportOciRootfsCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(_output.Path));
    }
}
