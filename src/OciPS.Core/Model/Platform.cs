using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace OciPS.Core.Model;

/// <summary>
/// An OCI platform (<c>os/architecture[/variant]</c>). <see cref="Parse"/> and <see cref="Normalize"/>
/// follow containerd's rules, so <c>aarch64</c>, <c>arm64/v8</c> and <c>arm64</c> are the same platform.
/// </summary>
public sealed record Platform
{
    [JsonPropertyName("architecture")]
    public string Architecture { get; init; } = string.Empty;

    [JsonPropertyName("os")]
    public string Os { get; init; } = string.Empty;

    [JsonPropertyName("os.version")]
    public string? OsVersion { get; init; }

    [JsonPropertyName("os.features")]
    public IReadOnlyList<string>? OsFeatures { get; init; }

    [JsonPropertyName("variant")]
    public string? Variant { get; init; }

    [JsonPropertyName("features")]
    public IReadOnlyList<string>? Features { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }

    private static readonly HashSet<string> KnownOperatingSystems = new(StringComparer.OrdinalIgnoreCase)
    {
        "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
        "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos", "wasip1", "macos",
    };

    /// <summary>
    /// The platform images are chosen for when the user names none: linux on the architecture this
    /// process runs on (container images are Linux images, also on Windows and macOS hosts).
    /// </summary>
    public static Platform Default { get; } = new Platform
    {
        Os = "linux",
        Architecture = HostArchitecture(),
    }.Normalize();

    /// <summary>Parses <c>os[/arch[/variant]]</c>, or a lone architecture or OS as containerd does.</summary>
    public static Platform Parse(string text)
    {
        if (!TryParse(text, out var platform, out var reason))
        {
            throw new FormatException($"'{text}' is not a valid platform: {reason}");
        }

        return platform;
    }

    public static bool TryParse(string? text, out Platform platform, out string reason)
    {
        platform = null!;
        if (string.IsNullOrWhiteSpace(text))
        {
            reason = "it is empty";
            return false;
        }

        var parts = text.Trim().Split('/');
        if (parts.Length > 3 || parts.Any(p => p.Length == 0 || p.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))))
        {
            reason = "expected os/architecture[/variant], e.g. linux/arm64/v8";
            return false;
        }

        Platform parsed;
        if (parts.Length == 1)
        {
            parsed = KnownOperatingSystems.Contains(parts[0])
                ? new Platform { Os = parts[0], Architecture = Default.Architecture }
                : new Platform { Os = "linux", Architecture = parts[0] };
        }
        else
        {
            parsed = new Platform
            {
                Os = parts[0],
                Architecture = parts[1],
                Variant = parts.Length == 3 ? parts[2] : null,
            };
        }

        platform = parsed.Normalize();
        reason = string.Empty;
        return true;
    }

    /// <summary>containerd's normalisation: OS and architecture aliases, default ARM variants.</summary>
    public Platform Normalize()
    {
        var os = Os.ToLowerInvariant();
        if (os == "macos")
        {
            os = "darwin";
        }

        var arch = Architecture.ToLowerInvariant();
        var variant = Variant?.ToLowerInvariant() ?? string.Empty;
        switch (arch)
        {
            case "i386":
                arch = "386";
                variant = string.Empty;
                break;
            case "x86_64" or "x86-64" or "amd64":
                arch = "amd64";
                if (variant == "v1")
                {
                    variant = string.Empty;
                }

                break;
            case "aarch64" or "arm64":
                arch = "arm64";
                variant = variant switch
                {
                    "8" or "v8" or "v8.0" => string.Empty,
                    "9" or "9.0" or "v9.0" => "v9",
                    _ => variant,
                };
                break;
            case "armhf":
                arch = "arm";
                variant = "v7";
                break;
            case "armel":
                arch = "arm";
                variant = "v6";
                break;
            case "arm":
                variant = variant switch
                {
                    "" or "7" => "v7",
                    "5" or "6" or "8" => "v" + variant,
                    _ => variant,
                };
                break;
        }

        return this with { Os = os, Architecture = arch, Variant = variant.Length == 0 ? null : variant };
    }

    /// <summary>
    /// The platforms this one can run, best first (containerd's <c>platforms.Only</c>): arm64 also runs
    /// arm/v8…v5, arm/v7 runs v6 and v5, amd64/vN runs lower amd64 levels and 386.
    /// </summary>
    public IReadOnlyList<Platform> CompatibleWith()
    {
        var self = Normalize();
        var vector = new List<Platform> { self };
        switch (self.Architecture)
        {
            case "amd64":
                if (TryVariantNumber(self.Variant, out var level) && level > 1)
                {
                    for (level--; level >= 1; level--)
                    {
                        vector.Add((self with { Variant = "v" + level }).Normalize());
                    }
                }

                vector.Add(self with { Architecture = "386", Variant = null });
                break;
            case "arm":
                if (TryVariantNumber(self.Variant, out var arm) && arm > 5)
                {
                    for (arm--; arm >= 5; arm--)
                    {
                        vector.Add(self with { Variant = "v" + arm });
                    }
                }

                break;
            case "arm64":
                var armVariant = self.Variant ?? "v8";
                if (TryVariantNumber(armVariant, out var arm64) && arm64 == 8)
                {
                    for (var v = 8; v >= 5; v--)
                    {
                        vector.Add(self with { Architecture = "arm", Variant = "v" + v });
                    }
                }

                break;
        }

        return vector;
    }

    /// <summary>Whether <paramref name="candidate"/> (normalised) is exactly this platform (normalised).</summary>
    public bool Matches(Platform candidate)
    {
        var a = Normalize();
        var b = candidate.Normalize();
        if (a.Os != b.Os || a.Architecture != b.Architecture || (a.Variant ?? string.Empty) != (b.Variant ?? string.Empty))
        {
            return false;
        }

        // Windows images also carry an OS build; when one is asked for, the major.minor.build must agree.
        return a.Os != "windows" || string.IsNullOrEmpty(a.OsVersion) || string.IsNullOrEmpty(b.OsVersion) ||
            WindowsBuild(a.OsVersion) == WindowsBuild(b.OsVersion);
    }

    /// <summary>
    /// The rank of <paramref name="candidate"/> for this platform: 0 for an exact match, higher for
    /// less preferred compatible platforms, -1 when it cannot run here.
    /// </summary>
    public int Rank(Platform candidate)
    {
        var vector = CompatibleWith();
        for (var i = 0; i < vector.Count; i++)
        {
            if (vector[i].Matches(candidate))
            {
                return i;
            }
        }

        return -1;
    }

    public override string ToString()
    {
        var text = Os + "/" + Architecture;
        return string.IsNullOrEmpty(Variant) ? text : text + "/" + Variant;
    }

    private static bool TryVariantNumber(string? variant, out int number)
    {
        number = 0;
        return variant is { Length: > 1 } && variant[0] == 'v' && int.TryParse(variant.AsSpan(1), out number);
    }

    private static string WindowsBuild(string osVersion)
    {
        var parts = osVersion.Split('.');
        return string.Join('.', parts.Take(3));
    }

    private static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        System.Runtime.InteropServices.Architecture.S390x => "s390x",
        System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
        System.Runtime.InteropServices.Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };
}
