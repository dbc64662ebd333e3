using System.Buffers.Text;
using System.Globalization;
using System.Text;
using OciPS.Core.Model;
using System.Runtime.CompilerServices;

namespace OciPS.Core.Layers.Tar;

/// <summary>Reading and writing the fields of a 512-byte tar header block.</summary>
internal static class TarFields
{
    public const int BlockSize = 512;

    public const int NameOffset = 0;
    public const int NameLength = 100;
    public const int ModeOffset = 100;
    public const int UidOffset = 108;
    public const int GidOffset = 116;
    public const int IdLength = 8;
    public const int SizeOffset = 124;
    public const int SizeLength = 12;
    public const int MtimeOffset = 136;
    public const int ChecksumOffset = 148;
    public const int ChecksumLength = 8;
    public const int TypeFlagOffset = 156;
    public const int LinkNameOffset = 157;
    public const int MagicOffset = 257;
    public const int UserNameOffset = 265;
    public const int GroupNameOffset = 297;
    public const int OwnerNameLength = 32;
    public const int DevMajorOffset = 329;
    public const int DevMinorOffset = 337;
    public const int PrefixOffset = 345;
    public const int PrefixLength = 155;

    // GNU's old-style header reuses the ustar prefix area.
    public const int GnuAtimeOffset = 345;
    public const int GnuCtimeOffset = 357;
    public const int GnuSparseOffset = 386;
    public const int GnuSparseEntries = 4;
    public const int GnuIsExtendedOffset = 482;
    public const int GnuRealSizeOffset = 483;

    public static ReadOnlySpan<byte> UstarMagic => "ustar\0"u8;

    public static ReadOnlySpan<byte> GnuMagic => "ustar "u8;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool IsZero(ReadOnlySpan<byte> block) => !block.ContainsAnyExcept((byte)0);

    /// <summary>Whether the checksum field matches the block (as an unsigned or, as old tars wrote it, signed sum).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool ChecksumMatches(ReadOnlySpan<byte> block, out long stored)
    {
        if (!TryParseNumber(block.Slice(ChecksumOffset, ChecksumLength), out stored))
        {
            return false;
        }

        long unsigned = 0, signed = 0;
        for (var i = 0; i < block.Length; i++)
        {
            var value = i is >= ChecksumOffset and < ChecksumOffset + ChecksumLength ? (byte)' ' : block[i];
            unsigned += value;
            signed += (sbyte)value;
        }

        return stored == unsigned || stored == signed;
    }

    /// <summary>The bytes of a NUL-terminated (or full-length) string field.</summary>
    public static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return end < 0 ? field : field[..end];
    }

    /// <summary>
    /// A numeric field: octal ASCII (leading spaces and trailing NUL/space allowed), or GNU base-256
    /// when the high bit of the first byte is set. An all-empty field is 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParseNumber(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            // Base-256: big-endian two's complement after the marker bit; bit 6 of the first byte is the sign.
            var invert = (field[0] & 0x40) != 0 ? (byte)0xff : (byte)0;
            ulong magnitude = 0;
            for (var i = 0; i < field.Length; i++)
            {
                var b = (byte)(field[i] ^ invert);
                if (i == 0)
                {
                    b &= 0x7f;
                }

                if ((magnitude >> 56) != 0)
                {
                    return false;
                }

                magnitude = (magnitude << 8) | b;
            }

            if ((magnitude >> 63) != 0)
            {
                return false;
            }

            value = invert == 0xff ? ~(long)magnitude : (long)magnitude;
            return true;
        }

        var text = field;
        while (text.Length > 0 && (text[0] == ' ' || text[0] == 0))
        {
            text = text[1..];
        }

        var end = 0;
        while (end < text.Length && text[end] >= '0' && text[end] <= '7')
        {
            end++;
        }

        foreach (var trailing in text[end..])
        {
            if (trailing is not (0 or (byte)' '))
            {
                return false;
            }
        }

        foreach (var digit in text[..end])
        {
            if (value > (long.MaxValue >> 3))
            {
                return false;
            }

            value = (value << 3) | (long)(digit - '0');
        }

        return true;
    }

    /// <summary>Writes an octal field (NUL-terminated), or base-256 when the value does not fit.</summary>
    public static bool TryWriteOctal(Span<byte> field, long value)
    {
        var digits = field.Length - 1;
        if (value < 0 || (digits < 21 && value >= 1L << (3 * digits)))
        {
            return false;
        }

        for (var i = digits - 1; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }

        field[digits] = 0;
        return true;
    }

    /// <summary>Writes GNU base-256 (for values octal cannot hold).</summary>
    public static void WriteBase256(Span<byte> field, long value)
    {
        for (var i = field.Length - 1; i >= 0; i--)
        {
            field[i] = (byte)value;
            value >>= 8;
        }

        field[0] |= 0x80;
    }

    /// <summary>Parses a PAX time: decimal seconds with an optional fraction, possibly negative.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParsePaxTime(ReadOnlySpan<byte> text, out UnixTime time)
    {
        time = default;
        var negative = text.Length > 0 && text[0] == '-';
        if (negative)
        {
            text = text[1..];
        }

        var dot = text.IndexOf((byte)'.');
        var whole = dot < 0 ? text : text[..dot];
        var fraction = dot < 0 ? ReadOnlySpan<byte>.Empty : text[(dot + 1)..];
        if (whole.Length == 0 || !Utf8Parser.TryParse(whole, out long seconds, out var used) || used != whole.Length)
        {
            return false;
        }

        long nanos = 0;
        for (var i = 0; i < 9; i++)
        {
            var digit = i < fraction.Length ? fraction[i] : (byte)'0';
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            nanos = nanos * 10 + (digit - '0');
        }

        foreach (var extra in fraction.Length > 9 ? fraction[9..] : [])
        {
            if (extra is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
        }

        if (negative)
        {
            seconds = -seconds;
            if (nanos > 0)
            {
                seconds--;
                nanos = 1_000_000_000 - nanos;
            }
        }

        time = new UnixTime(seconds, (int)nanos);
        return true;
    }

    /// <summary>Formats a PAX time with as many fraction digits as needed (none for whole seconds).</summary>
    public static string FormatPaxTime(UnixTime time)
    {
        var seconds = time.Seconds;
        long nanos = time.Nanoseconds;
        var sign = string.Empty;
        if (seconds < 0 && nanos > 0)
        {
            seconds++;
            nanos = 1_000_000_000 - nanos;
        }

        if (seconds < 0 || (seconds == 0 && time.Seconds < 0))
        {
            sign = "-";
            seconds = -seconds;
        }

        var text = sign + seconds.ToString(CultureInfo.InvariantCulture);
        return nanos == 0 ? text : text + "." + nanos.ToString("000000000", CultureInfo.InvariantCulture).TrimEnd('0');
    }

    public static string DecodeOwnerName(ReadOnlySpan<byte> bytes) => EntryName.Decode(bytes);

    public static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}
