namespace OciPS.Core;

/// <summary>
/// A progress report from the engine: one unit of work (an image, a layer, a blob) identified by
/// <see cref="Key"/>, optionally under a parent unit. Hosts turn these into progress bars (PowerShell's
/// Write-Progress: a parent record per image, children per layer).
/// </summary>
/// <param name="Key">Identifies the unit across reports (e.g. a digest).</param>
/// <param name="ParentKey">The enclosing unit, or null for a top-level one.</param>
/// <param name="Activity">What is being done ("Pulling docker.io/library/alpine:3.20").</param>
/// <param name="Status">The current step ("layer 2 of 5", "verifying").</param>
/// <param name="Current">Bytes (or items) done.</param>
/// <param name="Total">Bytes (or items) in all, when known.</param>
/// <param name="IsBytes">Whether <paramref name="Current"/> and <paramref name="Total"/> count bytes (shown with sizes and rates).</param>
/// <param name="Completed">The unit is finished; no more reports for this key follow.</param>
public sealed record OciProgress(
    string Key,
    string? ParentKey,
    string Activity,
    string Status,
    long Current,
    long? Total,
    bool IsBytes,
    bool Completed);
