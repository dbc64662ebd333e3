namespace OciPS.TestSupport;

/// <summary>
/// Finds the peer tools the tests run. They are installed by .ci/run; a missing tool fails the test
/// with the package to install, it never skips it.
/// </summary>
public static class PeerTools
{
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["umoci"] = "umoci",
        ["skopeo"] = "skopeo",
        ["docker-registry"] = "docker-registry",
        ["mksquashfs"] = "squashfs-tools",
        ["unsquashfs"] = "squashfs-tools",
        ["e2fsck"] = "e2fsprogs",
        ["debugfs"] = "e2fsprogs",
        ["mkfs.ext4"] = "e2fsprogs",
        ["git"] = "git",
        ["podman"] = "podman",
        ["buildah"] = "buildah",
        ["tar"] = "tar",
        ["setfattr"] = "attr",
        ["getfattr"] = "attr",
        ["htpasswd"] = "apache2-utils",
        ["tinyproxy"] = "tinyproxy",
        ["microsocks"] = "microsocks",
    };

    /// <summary>The full path of a program on PATH (or the argument itself when it is already a path).</summary>
    public static string Resolve(string program)
    {
        if (program.Contains('/'))
        {
            return program;
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        var package = Packages.TryGetValue(program, out var name) ? name : program;
        throw new InvalidOperationException($"The test needs '{program}', which is not installed (apt-get install {package}; .ci/run installs it).");
    }
}
