using Xunit;

namespace OciPS.TestSupport;

/// <summary>
/// A test that needs root and loop devices (loop-mounting the filesystems OciPS writes). Where they are
/// absent the test is reported as skipped with the reason, never silently passed.
/// </summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Privileges.CanLoopMount)
        {
            Skip = "Needs root and loop devices (mount -o loop): " + Privileges.Reason;
        }
    }
}

/// <summary>What the test process may do.</summary>
public static class Privileges
{
    private static readonly Lazy<(bool Ok, string Reason)> LoopMount = new(Probe);

    public static bool IsRoot => Environment.UserName == "root" || NativeMethods.geteuid() == 0;

    public static bool CanLoopMount => LoopMount.Value.Ok;

    public static string Reason => LoopMount.Value.Reason;

    private static (bool, string) Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (false, "not Linux");
        }

        if (!IsRoot)
        {
            return (false, "not running as root");
        }

        return File.Exists("/dev/loop-control") ? (true, string.Empty) : (false, "/dev/loop-control is missing");
    }

    private static class NativeMethods
    {
        [System.Runtime.InteropServices.DllImport("libc")]
        public static extern uint geteuid();
    }
}

/// <summary>A theory that needs root and loop devices; skipped with the reason where they are absent.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!Privileges.CanLoopMount)
        {
            Skip = "Needs root and loop devices (mount -o loop): " + Privileges.Reason;
        }
    }
}
