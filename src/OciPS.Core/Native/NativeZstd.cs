using System.Runtime.InteropServices;

namespace OciPS.Core.Native;

/// <summary>
/// The system's libzstd, when it has one (every Debian and Ubuntu does: apt needs it; Homebrew and
/// vcpkg install it elsewhere), for one-shot compression of independent blocks. Measured here at 1.5×
/// ZstdSharp's speed at the same level on 128 KiB blocks, which is most of a squashfs export's CPU.
/// ZstdSharp remains the portable path and the one used where output must not depend on the machine.
/// Set <c>OCIPS_NATIVE_ZSTD=0</c> to never load it.
/// </summary>
internal static unsafe class NativeZstd
{
    private static readonly Lazy<Exports?> Loaded = new(Load);

    /// <summary>Whether the library was found and is recent enough (1.4 or later).</summary>
    public static bool IsAvailable => Loaded.Value is not null;

    /// <summary>The library's version as zstd numbers it (10504 for 1.5.4); 0 when it is not loaded.</summary>
    public static uint Version => Loaded.Value?.Version ?? 0;

    /// <summary>A compression context; one per thread.</summary>
    public static Context CreateContext(int level) =>
        new(Loaded.Value ?? throw new InvalidOperationException("libzstd is not loaded."), level);

    /// <summary>Decompresses one whole zstd frame into <paramref name="output"/>; returns its length.</summary>
    public static int Decompress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var exports = Loaded.Value ?? throw new InvalidOperationException("libzstd is not loaded.");
        fixed (byte* source = input)
        fixed (byte* target = output)
        {
            var written = exports.Decompress(target, (nuint)output.Length, source, (nuint)input.Length);
            return exports.IsError(written)
                ? throw new InvalidDataException($"libzstd failed to decompress a frame of {input.Length} bytes (error {unchecked((long)(0 - written))}).")
                : (int)written;
        }
    }

    private static Exports? Load()
    {
        if (Environment.GetEnvironmentVariable("OCIPS_NATIVE_ZSTD") == "0")
        {
            return null;
        }

        string[] names = OperatingSystem.IsWindows() ? ["libzstd.dll", "zstd.dll"]
            : OperatingSystem.IsMacOS() ? ["libzstd.1.dylib", "/opt/homebrew/lib/libzstd.1.dylib", "/usr/local/lib/libzstd.1.dylib"]
            : ["libzstd.so.1"];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var library))
            {
                continue;
            }

            if (NativeLibrary.TryGetExport(library, "ZSTD_versionNumber", out var version) &&
                NativeLibrary.TryGetExport(library, "ZSTD_createCCtx", out var create) &&
                NativeLibrary.TryGetExport(library, "ZSTD_freeCCtx", out var free) &&
                NativeLibrary.TryGetExport(library, "ZSTD_compressCCtx", out var compress) &&
                NativeLibrary.TryGetExport(library, "ZSTD_decompress", out var decompress) &&
                NativeLibrary.TryGetExport(library, "ZSTD_isError", out var isError))
            {
                var number = ((delegate* unmanaged<uint>)version)();
                if (number >= 10400)
                {
                    return new Exports(number, (delegate* unmanaged<nint>)create, (delegate* unmanaged<nint, nuint>)free,
                        (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint>)compress, (delegate* unmanaged<byte*, nuint, byte*, nuint, nuint>)decompress,
                        (delegate* unmanaged<nuint, uint>)isError);
                }
            }

            NativeLibrary.Free(library);
        }

        return null;
    }

    internal sealed class Exports(
        uint version,
        delegate* unmanaged<nint> create,
        delegate* unmanaged<nint, nuint> free,
        delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint> compress,
        delegate* unmanaged<byte*, nuint, byte*, nuint, nuint> decompress,
        delegate* unmanaged<nuint, uint> isError)
    {
        public uint Version { get; } = version;

        public nint Create() => create();

        public void Free(nint context) => free(context);

        public nuint Compress(nint context, byte* output, nuint capacity, byte* input, nuint length, int level) =>
            compress(context, output, capacity, input, length, level);

        public nuint Decompress(byte* output, nuint capacity, byte* input, nuint length) => decompress(output, capacity, input, length);

        public bool IsError(nuint code) => isError(code) != 0;
    }

    /// <summary>A ZSTD_CCtx: compresses whole blocks into single zstd frames. Not thread-safe.</summary>
    public sealed class Context : IDisposable
    {
        private readonly Exports _exports;
        private readonly int _level;
        private nint _context;

        internal Context(Exports exports, int level)
        {
            _exports = exports;
            _level = level;
            _context = exports.Create();
            if (_context == 0)
            {
                throw new InvalidOperationException("libzstd could not create a compression context.");
            }
        }

        /// <summary>Compresses <paramref name="input"/> into <paramref name="output"/>; returns the frame's length.</summary>
        public int Compress(ReadOnlySpan<byte> input, Span<byte> output)
        {
            ObjectDisposedException.ThrowIf(_context == 0, this);
            fixed (byte* source = input)
            fixed (byte* target = output)
            {
                var written = _exports.Compress(_context, target, (nuint)output.Length, source, (nuint)input.Length, _level);
                return _exports.IsError(written)
                    ? throw new InvalidOperationException($"libzstd failed to compress a block of {input.Length} bytes (error {unchecked((long)(0 - written))}).")
                    : (int)written;
            }
        }

        public void Dispose()
        {
            if (_context != 0)
            {
                _exports.Free(_context);
                _context = 0;
            }
        }
    }
}
