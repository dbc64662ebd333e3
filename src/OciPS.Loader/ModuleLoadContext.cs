using System;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace OciPS.Loader;

/// <summary>
/// The module's own assembly load context. OciPS.dll and every dependency it ships (ZstdSharp,
/// YamlDotNet, LibGit2Sharp, SharpCompress…) load here, so a different version of the same library
/// loaded by another module in the same PowerShell process never collides with ours. Assemblies the
/// module does not ship (System.Management.Automation, the framework) come from the default context.
/// </summary>
public sealed class ModuleLoadContext : AssemblyLoadContext
{
    private static ModuleLoadContext? s_instance;
    private static readonly object s_sync = new();

    private readonly string _binPath;

    private ModuleLoadContext(string binPath)
        : base(name: "OciPS", isCollectible: false)
    {
        _binPath = binPath;
    }

    /// <summary>
    /// Creates the context once per process and returns the cmdlet assembly loaded into it; a second
    /// import (Import-Module -Force) gets the same assembly back.
    /// </summary>
    public static Assembly Initialize(string binPath)
    {
        lock (s_sync)
        {
            s_instance ??= new ModuleLoadContext(Path.GetFullPath(binPath));
            return s_instance.LoadFromAssemblyName(new AssemblyName("OciPS"));
        }
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null)
        {
            return null;
        }

        var candidate = Path.Combine(_binPath, assemblyName.Name + ".dll");
        return File.Exists(candidate) ? LoadFromAssemblyPath(candidate) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var candidate in NativeCandidates(unmanagedDllName))
        {
            if (File.Exists(candidate))
            {
                return LoadUnmanagedDllFromPath(candidate);
            }
        }

        return IntPtr.Zero;
    }

    private System.Collections.Generic.IEnumerable<string> NativeCandidates(string name)
    {
        var fileNames = RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? new[] { name, name + ".dll" }
            : RuntimeInformation.IsOSPlatform(OSPlatform.OSX)
                ? new[] { name, "lib" + name + ".dylib", name + ".dylib" }
                : new[] { name, "lib" + name + ".so", name + ".so" };
        // The runtime's own identifier first: it says linux-musl-x64 on Alpine, where glibc builds do not load.
        var rids = new[] { RuntimeInformation.RuntimeIdentifier, RuntimeIdentifier() };
        foreach (var fileName in fileNames)
        {
            foreach (var rid in rids)
            {
                yield return Path.Combine(_binPath, "runtimes", rid, "native", fileName);
            }

            yield return Path.Combine(_binPath, fileName);
        }
    }

    private static string RuntimeIdentifier()
    {
        var os = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "win"
            : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "osx"
            : "linux";
        var arch = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x64",
            Architecture.Arm64 => "arm64",
            Architecture.X86 => "x86",
            Architecture.Arm => "arm",
            var other => other.ToString().ToLowerInvariant(),
        };
        return os + "-" + arch;
    }
}
