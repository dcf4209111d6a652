using BenchmarkDotNet.Running;
using Engine.Client.Benchmarks;
using Engine.Client.Benchmarks.Harness;

// Engine.Client.Benchmarks <mode> [options]: see BenchCommandLine.Usage and docs/performance.md.
if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(BenchCommandLine.Usage);
    return 0;
}

var mode = args[0];
var rest = args[1..];
if (mode == "micro")
{
    BenchmarkSwitcher.FromAssembly(typeof(BenchCommandLine).Assembly).Run(rest, MicroConfig.Create());
    return 0;
}

if (!BenchCommandLine.TryParse(rest, out var options, out var error))
{
    await Console.Error.WriteLineAsync(error);
    await Console.Error.WriteLineAsync(BenchCommandLine.Usage);
    return 2;
}

var command = "dotnet run -c Release --project test/Engine.Client.Benchmarks -- " + string.Join(' ', args);
return mode switch
{
    "e2e" => await Runs.EndToEndAsync(options, command),
    "throughput" => await Runs.ThroughputAsync(options, command),
    "churn" => await Runs.ChurnAsync(options, command),
    "alloc-profile" => await AllocationProfile.RunAsync(options, Console.Out),
    "native" => await NativeRun.RunAsync(options, command, Runs.OutputDirectory(options), Console.Out),
    "transport" => await Runs.TransportAsync(options, command),
    "soak" => await Runs.SoakAsync(options),
    "fuzz" => await Runs.FuzzAsync(options, command),
    "fleet" => await FleetRun.RunAsync(options.FuzzSeeds == 5000 ? 800 : options.FuzzSeeds, options.FuzzParallelism == 8 ? 16 : options.FuzzParallelism, Console.Out),
    "load" => await LoadOverheadRun.RunAsync(options.Transports[0], blocks: options.Repetitions == 20 ? 9 : options.Repetitions, sessionsPerBlock: (int)Math.Max(100, 5000 * options.Scale), options.Pin, options.LoadSide, options.AgainstNative, options.WorkerEnvironment, Console.Out),
    "phases" => await PhasesRun.RunAsync(options, (int)Math.Max(100, 5000 * options.Scale), Console.Out),
    "load-memory" => await LoadMemoryRun.RunAsync(options.Transports[0], options.LoadMinutes, options.LoadRate, Console.Out),
    "pool" => await PoolRun.RunAsync(options.Repetitions == 20 ? 3 : options.Repetitions, options.Scale, Console.Out),
    "worker-memory" => await WorkerMemoryRun.RunAsync(options.MemoryStreams, options.MemoryConnections, options.MemoryDuration, 1024 * 1024, options.MemoryReadDelay, options.WorkerArguments, options.WorkerEnvironment, Console.Out),
    _ => Unknown(mode),
};

static int Unknown(string mode)
{
    Console.Error.WriteLine($"unknown mode '{mode}'.");
    Console.Error.WriteLine(BenchCommandLine.Usage);
    return 2;
}
