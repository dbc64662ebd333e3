using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OciPS.Core.Sinks.SquashFs;

/// <summary>
/// The hash that makes two files duplicate candidates. It needs to be fast, not strong: every candidate
/// is compared byte for byte before anything is shared, so a collision costs a comparison, never a file.
/// </summary>
internal abstract class DuplicateHash
{
    public abstract void Append(ReadOnlySpan<byte> data);

    /// <summary>The hash of everything appended since the last call; starts over.</summary>
    public abstract ulong GetAndReset();
}

/// <summary>
/// Four independent 64-bit multiply–rotate lanes over 32-byte stripes (the structure of xxHash64), about
/// a byte per cycle per lane. Compiled fully optimised on first use: a hash at tier-0 speed for the first
/// few hundred megabytes of a run would cost more than the hash itself.
/// </summary>
internal sealed class LaneHash : DuplicateHash
{
    private const ulong Prime1 = 0x9E3779B185EBCA87;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4F;
    private const ulong Prime3 = 0x165667B19E3779F9;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63;
    private readonly byte[] _pending = new byte[32];
    private int _pendingLength;
    private ulong _a, _b, _c, _d;
    private long _length;

    public LaneHash() => Reset();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Append(ReadOnlySpan<byte> data)
    {
        _length += data.Length;
        if (_pendingLength > 0)
        {
            var take = Math.Min(32 - _pendingLength, data.Length);
            data[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            data = data[take..];
            if (_pendingLength < 32)
            {
                return;
            }

            Stripes(_pending);
            _pendingLength = 0;
        }

        var whole = data.Length & ~31;
        Stripes(data[..whole]);
        data[whole..].CopyTo(_pending);
        _pendingLength = data.Length - whole;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override ulong GetAndReset()
    {
        var hash = BitOperations.RotateLeft(_a, 1) + BitOperations.RotateLeft(_b, 7) + BitOperations.RotateLeft(_c, 12) + BitOperations.RotateLeft(_d, 18);
        hash = (hash ^ Round(0, _a)) * Prime1;
        hash = (hash ^ Round(0, _b)) * Prime1;
        hash = (hash ^ Round(0, _c)) * Prime1;
        hash = (hash ^ Round(0, _d)) * Prime1;
        hash += (ulong)_length;
        var rest = _pending.AsSpan(0, _pendingLength);
        for (; rest.Length >= 8; rest = rest[8..])
        {
            hash = (BitOperations.RotateLeft(hash ^ Round(0, BinaryPrimitives.ReadUInt64LittleEndian(rest)), 27) * Prime1) + Prime4;
        }

        foreach (var value in rest)
        {
            hash = BitOperations.RotateLeft(hash ^ (value * Prime3), 11) * Prime1;
        }

        hash ^= hash >> 33;
        hash *= Prime2;
        hash ^= hash >> 29;
        hash *= Prime3;
        hash ^= hash >> 32;
        Reset();
        return hash;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Stripes(ReadOnlySpan<byte> data)
    {
        // Native byte order: the hash is only ever compared within one run.
        ulong a = _a, b = _b, c = _c, d = _d;
        ref var stripe = ref MemoryMarshal.GetReference(data);
        for (var left = data.Length / 32; left > 0; left--, stripe = ref Unsafe.Add(ref stripe, 32))
        {
            a = Round(a, Unsafe.ReadUnaligned<ulong>(ref stripe));
            b = Round(b, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref stripe, 8)));
            c = Round(c, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref stripe, 16)));
            d = Round(d, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref stripe, 24)));
        }

        (_a, _b, _c, _d) = (a, b, c, d);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Round(ulong lane, ulong input) => BitOperations.RotateLeft(lane + (input * Prime2), 31) * Prime1;

    private void Reset()
    {
        (_a, _b, _c, _d) = (unchecked(Prime1 + Prime2), Prime2, 0, unchecked(0 - Prime1));
        _length = 0;
        _pendingLength = 0;
    }
}
