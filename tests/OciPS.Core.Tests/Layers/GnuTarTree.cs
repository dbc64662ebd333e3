using System.Security.Cryptography;
using OciPS.TestSupport;

namespace OciPS.Core.Tests.Layers;

/// <summary>
/// A directory tree with every kind of entry and every awkward name, archived by GNU tar in each of its
/// formats: the reference the tar reader is checked against.
/// </summary>
internal sealed class GnuTarTree : IDisposable
{
    public static readonly byte[] Capability = Convert.FromHexString("0100000280040000000000000000000000000000");
    public static readonly string LongName = "deep/" + string.Join('/', Enumerable.Repeat("directory-with-a-long-name", 8)) + "/file.txt";
    public static readonly string NonUtf8Name = "latin1-caf\udce9.txt";

    private readonly TempDirectory _temp = new("gnutar");

    public GnuTarTree()
    {
        Directory.CreateDirectory(Root);
        Write("plain.txt", "plain content\n");
        Write("exec.sh", "#!/bin/sh\necho hi\n");
        ProcessRunner.Run("chmod", ["4755", Path.Combine(Root, "exec.sh")]);
        Directory.CreateDirectory(Path.Combine(Root, "dir", "sub"));
        ProcessRunner.Run("chmod", ["1777", Path.Combine(Root, "dir")]);
        File.CreateSymbolicLink(Path.Combine(Root, "dir", "link"), "../plain.txt");
        File.CreateSymbolicLink(Path.Combine(Root, "long-target-link"), string.Join('/', Enumerable.Repeat("target-component-that-is-long", 6)));
        ProcessRunner.Run("ln", [Path.Combine(Root, "plain.txt"), Path.Combine(Root, "dir", "hard.txt")]);
        ProcessRunner.Run("mkfifo", [Path.Combine(Root, "fifo")]);
        Write(LongName, "long\n");
        ProcessRunner.Run("sh", ["-c", "printf 'non-utf8\\n' > \"$(printf 'latin1-caf\\351.txt')\""], workingDirectory: Root);
        Write("xattr.bin", "capable\n");
        ProcessRunner.Run("setfattr", ["-n", "user.comment", "-v", "hello world", Path.Combine(Root, "xattr.bin")]);
        ProcessRunner.Run("setcap", ["cap_setuid,cap_net_bind_service+ep", Path.Combine(Root, "xattr.bin")]);
        ProcessRunner.Run("chown", ["1234567:7654321", Path.Combine(Root, "plain.txt")]);
        ProcessRunner.Run("touch", ["-d", "2021-02-03 04:05:06.123456789", Path.Combine(Root, "plain.txt")]);

        // A sparse file: 3 data regions in 64 MiB of holes.
        var sparse = Path.Combine(Root, "sparse.img");
        using (var stream = File.Create(sparse))
        {
            stream.SetLength(64L << 20);
            foreach (var offset in new long[] { 0, 10L << 20, (64L << 20) - 4096 })
            {
                stream.Position = offset;
                stream.Write(Enumerable.Repeat((byte)0x5a, 4096).ToArray());
            }
        }

        var big = new byte[3 << 20];
        new Random(3).NextBytes(big);
        File.WriteAllBytes(Path.Combine(Root, "random.bin"), big);
    }

    public string Root => _temp.Combine("root");

    /// <summary>Archives the tree with GNU tar in a format (gnu, posix, ustar, v7); extra options such as --sparse.</summary>
    public string Archive(string format, params string[] options)
    {
        var archive = _temp.Combine($"{format}-{string.Join('-', options).Replace("=", "_", StringComparison.Ordinal)}.tar");
        ProcessRunner.Run("tar", ["--format=" + format, "--xattrs", "--xattrs-include=*", .. options, "-cf", archive, "-C", Root, "."]);
        return archive;
    }

    public string TempPath(string name) => _temp.Combine(name);

    /// <summary>SHA-256 of a file in the tree, by its raw name bytes.</summary>
    public static string HashOf(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    public void Dispose() => _temp.Dispose();

    private void Write(string relative, string text)
    {
        var full = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
    }
}
