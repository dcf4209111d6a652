using System.Diagnostics;
using Engine.Client.Load;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// The load tester's own cost and accuracy against one worker: the closed model with one session at
/// a time against the churn suite's hand-written loop (the same short echo session: Init, one 1 KiB
/// batch, Finish), alternating block by block on the same worker; then the open model's achieved
/// rate against its target while the worker keeps up.
/// </summary>
public static class LoadOverheadRun
{
    public static async Task<int> RunAsync(BenchTransport transport, int blocks, int sessionsPerBlock, bool pin, string? only, bool againstNative, IReadOnlyDictionary<string, string> workerEnvironment, TextWriter log)
    {
        var batch = ThroughputSuite.NewBatch(1024);
        await using var worker = await ReferenceWorker.StartAsync(transport, environment: workerEnvironment, executable: await NativeBinaries.WorkerOrDefaultAsync(againstNative, log).ConfigureAwait(false)).ConfigureAwait(false);
        log.WriteLine($"worker: {(againstNative ? "the native gRPC C++ echo worker" : "the reference worker")} over {transport}{string.Concat(workerEnvironment.Select(v => $", {v.Key}={v.Value}"))}");
        using var clients = ClientSet.Create(worker, batch.Length);
        if (pin)
        {
            await CpuPinning.PinEngineAndWorkerAsync(worker.Process.Id, log).ConfigureAwait(false);
        }

        // Warm-up: every side long enough for tiered compilation to settle, and the connections.
        for (var i = 0; i < 3000; i++)
        {
            await EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch).ConfigureAwait(false);
            await EchoLoops.SdkShortAsync(clients.Sdk, batch).ConfigureAwait(false);
        }

        await ClosedAsync(clients.Sdk, batch, 3000).ConfigureAwait(false);

        // The three sides run one after the other in each block, in an order that rotates from
        // block to block, so that drift on a shared machine does not favour one side.
        var sides = new (string Name, Func<Task<double>> Run)[]
        {
            ("hand-written", () => TimeAsync(sessionsPerBlock, () => EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch))),
            ("SDK", () => TimeAsync(sessionsPerBlock, () => EchoLoops.SdkShortAsync(clients.Sdk, batch))),
            ("load", async () =>
            {
                var watch = Stopwatch.StartNew();
                var result = await ClosedAsync(clients.Sdk, batch, sessionsPerBlock).ConfigureAwait(false);
                var seconds = watch.Elapsed.TotalSeconds;
                if (result.Sessions.Finished != sessionsPerBlock)
                {
                    throw new InvalidOperationException($"load finished {result.Sessions.Finished} of {sessionsPerBlock} sessions.");
                }

                return seconds;
            }),
        };
        if (only is not null)
        {
            // One side alone: no other side's threads, allocations or compiled code in between.
            var (name, run) = sides.Single(side => side.Name == only);
            var alone = new List<double>();
            for (var block = 0; block < blocks; block++)
            {
                ThroughputSuite.Settle();
                var cost = Cost.Start();
                var seconds = await run().ConfigureAwait(false);
                var (cpu, bytes, items) = cost.Per(sessionsPerBlock);
                var switches = cost.SwitchesPer(sessionsPerBlock);
                alone.Add(sessionsPerBlock / seconds);
                log.WriteLine($"  block {block + 1}: {name} alone {sessionsPerBlock / seconds,7:0} sessions/s; engine CPU per session {cpu:0} us, allocated {bytes:0} B, thread-pool work items {items:0.0}, context switches {switches:0.0}");
            }

            log.WriteLine($"{name} alone, one session at a time: median {Stats.Median(alone):0} sessions/s ({alone.Min():0}-{alone.Max():0}; {blocks} blocks of {sessionsPerBlock} sessions)");
            return 0;
        }

        var ratios = new List<double>();
        var sdkRatios = new List<double>();
        var sdkHandRatios = new List<double>();
        for (var block = 0; block < blocks; block++)
        {
            var rates = new Dictionary<string, double>();
            var costs = new Dictionary<string, (double CpuMicros, double Bytes, double WorkItems)>();
            for (var k = 0; k < sides.Length; k++)
            {
                var (name, run) = sides[(block + k) % sides.Length];
                ThroughputSuite.Settle();
                var cost = Cost.Start();
                var seconds = await run().ConfigureAwait(false);
                costs[name] = cost.Per(sessionsPerBlock);
                rates[name] = sessionsPerBlock / seconds;
            }

            double loadRate = rates["load"], handRate = rates["hand-written"], sdkRate = rates["SDK"];
            ratios.Add(loadRate / handRate);
            sdkRatios.Add(loadRate / sdkRate);
            sdkHandRatios.Add(sdkRate / handRate);
            log.WriteLine($"  block {block + 1}: load --concurrency 1 {loadRate,7:0} sessions/s  hand-written loop {handRate,7:0}  SDK loop {sdkRate,7:0}  load/hand {loadRate / handRate:0.000}  load/sdk {loadRate / sdkRate:0.000}  sdk/hand {sdkRate / handRate:0.000}");
            log.WriteLine($"    engine CPU per session: load {costs["load"].CpuMicros:0} us, hand-written {costs["hand-written"].CpuMicros:0} us, SDK {costs["SDK"].CpuMicros:0} us; allocated per session: load {costs["load"].Bytes:0} B, hand-written {costs["hand-written"].Bytes:0} B, SDK {costs["SDK"].Bytes:0} B; thread-pool work items per session: load {costs["load"].WorkItems:0.0}, hand-written {costs["hand-written"].WorkItems:0.0}, SDK {costs["SDK"].WorkItems:0.0}");
        }

        log.WriteLine($"closed model, one session at a time: load / hand-written = {Stats.Median(ratios):0.000} ({ratios.Min():0.000}-{ratios.Max():0.000}), load / SDK loop = {Stats.Median(sdkRatios):0.000} ({sdkRatios.Min():0.000}-{sdkRatios.Max():0.000}), SDK loop / hand-written = {Stats.Median(sdkHandRatios):0.000} (medians of {blocks} blocks of {sessionsPerBlock} sessions per side)");

        foreach (var rate in new[] { 50.0, 200.0 })
        {
            var options = Options(batch, LoadModelKind.Open, rate);
            options.Duration = TimeSpan.FromSeconds(10);
            options.Warmup = TimeSpan.FromSeconds(2);
            var result = await LoadTest.RunAsync(clients.Sdk, options).ConfigureAwait(false);
            var achieved = result.Sessions.Started / 10.0;
            log.WriteLine($"open model at {rate:0}/s for 10 s: achieved {achieved:0.##}/s ({achieved / rate:0.0000} of the target); behind schedule {result.Sessions.BehindSchedule}, not started {result.Sessions.NotStarted}; session p50 {result.Latency[LoadPhases.Session].GetValueAtPercentile(50) / 1000.0:0.###} ms, p99 {result.Latency[LoadPhases.Session].GetValueAtPercentile(99) / 1000.0:0.###} ms; from the actual start p50 {result.Latency[LoadPhases.SessionFromActualStart].GetValueAtPercentile(50) / 1000.0:0.###} ms, p99 {result.Latency[LoadPhases.SessionFromActualStart].GetValueAtPercentile(99) / 1000.0:0.###} ms; generator CPU mean {result.Generators[0].CpuPercentMean:0.#}% of {result.Generators[0].Cores} cores");
        }

        return 0;
    }

    /// <summary>This process's CPU time and allocations since <see cref="Start"/>.</summary>
    private readonly record struct Cost(TimeSpan Cpu, long Allocated, long WorkItems, long Switches)
    {
        public static Cost Start() => new(Process.GetCurrentProcess().TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: true), ThreadPool.CompletedWorkItemCount, ContextSwitches());

        public double SwitchesPer(int sessions) => (ContextSwitches() - Switches) / (double)sessions;

        private static long ContextSwitches()
        {
            long total = 0;
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            total += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (IOException)
                {
                }
            }

            return total;
        }

        public (double CpuMicros, double Bytes, double WorkItems) Per(int sessions) =>
            ((Process.GetCurrentProcess().TotalProcessorTime - Cpu).TotalMicroseconds / sessions,
             (GC.GetTotalAllocatedBytes(precise: true) - Allocated) / (double)sessions,
             (ThreadPool.CompletedWorkItemCount - WorkItems) / (double)sessions);
    }

    private static async Task<double> TimeAsync(int sessions, Func<Task> session)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < sessions; i++)
        {
            await session().ConfigureAwait(false);
        }

        return watch.Elapsed.TotalSeconds;
    }

    internal static Task<LoadResult> ClosedAsync(WorkerClient client, byte[] batch, int sessions)
    {
        var options = Options(batch, LoadModelKind.Closed, 1);
        options.Sessions = sessions;
        return LoadTest.RunAsync(client, options);
    }

    private static LoadTestOptions Options(byte[] batch, LoadModelKind model, double target)
    {
        var options = new LoadTestOptions { Model = model, Target = target, CountOutputRows = false, Seed = 1 };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty) { Input = LoadInput.FromMessages([batch], "1 KiB") });
        return options;
    }
}
