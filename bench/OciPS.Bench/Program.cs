using System.Diagnostics;
using OciPS.Bench;

var scenarios = typeof(IBenchScenario).Assembly.GetTypes()
    .Where(type => type is { IsClass: true, IsAbstract: false } && typeof(IBenchScenario).IsAssignableFrom(type))
    .Select(type => (IBenchScenario)Activator.CreateInstance(type)!)
    .OrderBy(scenario => scenario.Name, StringComparer.Ordinal)
    .ToDictionary(scenario => scenario.Name, StringComparer.Ordinal);

if (args.Length == 0 || !scenarios.TryGetValue(args[0], out var selected))
{
    Console.Error.WriteLine("usage: OciPS.Bench <scenario> [arguments]");
    foreach (var scenario in scenarios.Values)
    {
        Console.Error.WriteLine($"  {scenario.Name,-24} {scenario.Usage}");
    }

    return args.Length == 0 || args[0] is "--help" or "-h" ? 0 : 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

// OCIPS_BENCH_WARM=1 runs the scenario once first, into "<last argument>.warm", and times only the
// second run: what a PowerShell session that has already run the cmdlet sees (the JIT's work done).
if (Environment.GetEnvironmentVariable("OCIPS_BENCH_WARM") == "1")
{
    var warm = selected.WarmUpArguments(args[1..]) ?? throw new InvalidOperationException(selected.Name + " has no warm mode");
    var warmClock = Stopwatch.StartNew();
    await selected.RunAsync(warm, cancel.Token);
    Console.Error.WriteLine($"{selected.Name} (warm-up): {warmClock.Elapsed.TotalSeconds:F2} s");
}

using var sampler = Environment.GetEnvironmentVariable("OCIPS_BENCH_ALLOC") == "1" ? new AllocationSampler() : null;
var clock = Stopwatch.StartNew();
await selected.RunAsync(args[1..], cancel.Token);
Console.Error.WriteLine($"{selected.Name}: {clock.Elapsed.TotalSeconds:F2} s");
Console.Error.WriteLine($"allocated {GC.GetTotalAllocatedBytes() >> 20} MiB; collections gen0/1/2: {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
sampler?.Print(Console.Error, 25);
return 0;
