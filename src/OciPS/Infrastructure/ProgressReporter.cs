using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using OciPS.Core;

namespace OciPS.Infrastructure;

/// <summary>
/// Turns the engine's progress reports into Write-Progress records: one activity id per unit, children
/// linked to their parent, sizes and rates for people, percent only when the total is known, at most a
/// few updates a second per unit, and always a Completed record.
/// </summary>
internal sealed class ProgressReporter : IProgress<OciProgress>
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(150);
    private readonly Action<ProgressRecord> _write;
    private readonly Dictionary<string, Unit> _units = new(StringComparer.Ordinal);
    private readonly object _sync = new();
    private int _nextId;

    /// <param name="write">Writes a record through the cmdlet (posted to the pipeline thread).</param>
    /// <param name="firstActivityId">The first activity id to use, so several reporters in one cmdlet don't collide.</param>
    public ProgressReporter(Action<ProgressRecord> write, int firstActivityId = 1)
    {
        _write = write;
        _nextId = firstActivityId;
    }

    public void Report(OciProgress value)
    {
        ProgressRecord? record;
        lock (_sync)
        {
            if (!_units.TryGetValue(value.Key, out var unit))
            {
                if (value.Completed)
                {
                    return;
                }

                unit = new Unit(_nextId++, Stopwatch.StartNew());
                _units[value.Key] = unit;
            }

            if (!value.Completed && unit.LastWritten is { } last && last.Elapsed < Interval)
            {
                return;
            }

            var parent = value.ParentKey is not null && _units.TryGetValue(value.ParentKey, out var parentUnit) ? parentUnit.Id : -1;
            record = new ProgressRecord(unit.Id, value.Activity, Describe(value, unit.Clock.Elapsed))
            {
                ParentActivityId = parent,
                RecordType = value.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
                PercentComplete = value.Total is > 0 ? (int)Math.Clamp(value.Current * 100 / value.Total.Value, 0, 100) : -1,
            };
            if (value.Completed)
            {
                _units.Remove(value.Key);
            }
            else
            {
                unit.LastWritten = Stopwatch.StartNew();
            }
        }

        _write(record);
    }

    /// <summary>Completes every unit still open (the work ended, or failed, without reporting their end).</summary>
    public void CompleteAll()
    {
        List<(int Id, string Key)> open;
        lock (_sync)
        {
            open = [];
            foreach (var (key, unit) in _units)
            {
                open.Add((unit.Id, key));
            }

            _units.Clear();
        }

        foreach (var (id, key) in open)
        {
            _write(new ProgressRecord(id, key, "Done") { RecordType = ProgressRecordType.Completed });
        }
    }

    private static string Describe(OciProgress value, TimeSpan elapsed)
    {
        if (!value.IsBytes)
        {
            return value.Total is { } items
                ? string.Format(CultureInfo.CurrentCulture, "{0} ({1:N0} of {2:N0})", value.Status, value.Current, items)
                : string.Format(CultureInfo.CurrentCulture, "{0} ({1:N0})", value.Status, value.Current);
        }

        var rate = elapsed.TotalSeconds > 0.5 ? " at " + Sizes.Format((long)(value.Current / elapsed.TotalSeconds)) + "/s" : string.Empty;
        return value.Total is { } total
            ? $"{value.Status}: {Sizes.Format(value.Current)} of {Sizes.Format(total)}{rate}"
            : $"{value.Status}: {Sizes.Format(value.Current)}{rate}";
    }

    private sealed class Unit(int id, Stopwatch clock)
    {
        public int Id { get; } = id;

        public Stopwatch Clock { get; } = clock;

        public Stopwatch? LastWritten { get; set; }
    }
}

/// <summary>Human-readable sizes in 1024-based units, named as PowerShell names them (1KB = 1024).</summary>
internal static class Sizes
{
    public static string Format(long bytes)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Format(CultureInfo.CurrentCulture, "{0} {1}", bytes, units[0])
            : string.Format(CultureInfo.CurrentCulture, "{0:0.0} {1}", value, units[unit]);
    }
}
