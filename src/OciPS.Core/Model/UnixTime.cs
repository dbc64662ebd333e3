namespace OciPS.Core.Model;

/// <summary>
/// A file time as Unix filesystems and PAX headers keep it: seconds since the epoch and nanoseconds.
/// <see cref="DateTimeOffset"/> only holds 100 ns ticks, so entries carry this instead and convert for display.
/// </summary>
public readonly record struct UnixTime(long Seconds, int Nanoseconds) : IComparable<UnixTime>
{
    public static UnixTime Epoch => default;

    public static UnixTime FromDateTimeOffset(DateTimeOffset value)
    {
        var ticks = value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += TimeSpan.TicksPerSecond;
        }

        return new UnixTime(seconds, (int)(remainder * 100));
    }

    /// <summary>The time as a <see cref="DateTimeOffset"/> (UTC), clamped to its range and truncated to 100 ns.</summary>
    public DateTimeOffset ToDateTimeOffset()
    {
        const long MinSeconds = -62135596800L;
        const long MaxSeconds = 253402300799L;
        if (Seconds < MinSeconds)
        {
            return DateTimeOffset.MinValue;
        }

        if (Seconds > MaxSeconds)
        {
            return DateTimeOffset.MaxValue;
        }

        return DateTimeOffset.FromUnixTimeSeconds(Seconds).AddTicks(Nanoseconds / 100);
    }

    public int CompareTo(UnixTime other)
    {
        var bySeconds = Seconds.CompareTo(other.Seconds);
        return bySeconds != 0 ? bySeconds : Nanoseconds.CompareTo(other.Nanoseconds);
    }

    public override string ToString() => ToDateTimeOffset().ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    public static bool operator <(UnixTime left, UnixTime right) => left.CompareTo(right) < 0;

    public static bool operator >(UnixTime left, UnixTime right) => left.CompareTo(right) > 0;

    public static bool operator <=(UnixTime left, UnixTime right) => left.CompareTo(right) <= 0;

    public static bool operator >=(UnixTime left, UnixTime right) => left.CompareTo(right) >= 0;
}
