namespace OciPS.Bench;

/// <summary>
/// One thing the benchmark scripts time: a class per scenario, found by reflection, so each area adds a
/// file and touches nothing shared.
/// </summary>
public interface IBenchScenario
{
    /// <summary>The first command-line argument that selects the scenario, e.g. <c>export-directory</c>.</summary>
    string Name { get; }

    /// <summary>One line for <c>--help</c>: what it does and its arguments.</summary>
    string Usage { get; }

    Task RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken);

    /// <summary>
    /// The arguments of an untimed first run (OCIPS_BENCH_WARM=1) that writes somewhere else; null when
    /// the scenario has no warm mode.
    /// </summary>
    IReadOnlyList<string>? WarmUpArguments(IReadOnlyList<string> arguments) => null;
}
