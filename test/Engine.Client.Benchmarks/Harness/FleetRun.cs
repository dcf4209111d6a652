using System.Diagnostics;
using System.Globalization;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// Fleet measurements (docs/performance.md): four workers, one slow (<c>--batch-delay-ms</c>),
/// least-loaded placement against round robin in one run; then the cost of placing a session and
/// the memory per worker in a fleet of 1,000 workers.
/// </summary>
public static class FleetRun
{
    private const int Workers = 4;
    private const int SlowDelayMs = 50;

    public static async Task<int> RunAsync(int sessions, int concurrency, TextWriter output)
    {
        output.WriteLine($"Fleet: {Workers} reference workers on loopback TCP, one with --batch-delay-ms {SlowDelayMs}; {sessions} echo sessions (Init, 4 batches of 1 KiB, Finish), {concurrency} at a time, per placement.");
        var started = new List<ReferenceWorker>();
        try
        {
            for (var i = 0; i < Workers; i++)
            {
                started.Add(await ReferenceWorker.StartAsync(BenchTransport.Tcp, i == 0 ? ["--batch-delay-ms", SlowDelayMs.ToString(CultureInfo.InvariantCulture)] : null));
            }

            var slow = started[0].Address;
            output.WriteLine("| placement | p50 ms | p99 ms | max ms | share on the slow worker |");
            output.WriteLine("|---|---|---|---|---|");
            foreach (var placement in new[] { FleetPlacement.RoundRobin, FleetPlacement.LeastLoaded, FleetPlacement.RoundRobin, FleetPlacement.LeastLoaded })
            {
                var (latencies, onSlow) = await MeasureAsync(started.Select(w => w.Address), placement, sessions, concurrency, slow);
                latencies.Sort();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {placement} | {Percentile(latencies, 0.50):0.0} | {Percentile(latencies, 0.99):0.0} | {latencies[^1]:0.0} | {100.0 * onSlow / sessions:0.0}% |"));
            }
        }
        finally
        {
            foreach (var worker in started)
            {
                await worker.DisposeAsync();
            }
        }

        await PlacementCostAsync(1000, output);
        return 0;
    }

    private static async Task<(List<double> Latencies, int OnSlow)> MeasureAsync(IEnumerable<string> addresses, FleetPlacement placement, int sessions, int concurrency, string slow)
    {
        await using var fleet = WorkerFleet.Create(addresses, new WorkerFleetOptions
        {
            Placement = placement,
            Connection = { MaxSendMessageSize = 128 * 1024 * 1024 },
            HeartbeatInterval = TimeSpan.FromSeconds(1),
        });
        await fleet.HeartbeatAllAsync();
        var latencies = new List<double>(sessions);
        var onSlow = 0;
        var next = -1;
        var payload = new byte[1024];
        async IAsyncEnumerable<ReadOnlyMemory<byte>> Input()
        {
            for (var i = 0; i < 4; i++)
            {
                await Task.Yield();
                yield return payload;
            }
        }

        async Task LoopAsync()
        {
            while (Interlocked.Increment(ref next) < sessions)
            {
                var clock = Stopwatch.StartNew();
                await using var session = await fleet.OpenSessionAsync();
                await session.InitAsync(new SessionInit("x"u8.ToArray(), "echo"));
                await foreach (var _ in session.ProcessAsync(Input()))
                {
                }

                var outcome = await session.CloseAsync();
                if (outcome.Kind != SessionOutcomeKind.Finished)
                {
                    throw new InvalidOperationException("A session did not finish: " + outcome);
                }

                var elapsed = clock.Elapsed.TotalMilliseconds;
                lock (latencies)
                {
                    latencies.Add(elapsed);
                    if (session.Worker == slow)
                    {
                        onSlow++;
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(LoopAsync)));
        return (latencies, onSlow);
    }

    private static async Task PlacementCostAsync(int workers, TextWriter output)
    {
        // Addresses nobody listens on: placement does no I/O, and the heartbeat interval is long.
        var addresses = Enumerable.Range(0, workers).Select(i => string.Create(CultureInfo.InvariantCulture, $"http://127.0.{1 + (i / 250)}.{1 + (i % 250)}:7070")).ToList();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        await using var fleet = WorkerFleet.Create(addresses, new WorkerFleetOptions { HeartbeatInterval = TimeSpan.FromHours(1), FailuresToEject = 1000 });
        await fleet.WaitForWorkersAsync();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Fleet of {workers} workers: {(after - before) / (double)workers / 1024:0.0} KiB of managed memory per worker (its client and channel, ring points, state)."));

        output.WriteLine("| placement | threads | sessions | µs per open+close | sessions/s |");
        output.WriteLine("|---|---|---|---|---|");
        foreach (var (keyed, threads) in new[] { (false, 1), (false, 8), (true, 1), (true, 8) })
        {
            const int PerThread = 20_000;
            await RunOpensAsync(fleet, keyed, threads, 2_000);
            var clock = Stopwatch.StartNew();
            await RunOpensAsync(fleet, keyed, threads, PerThread);
            var elapsed = clock.Elapsed;
            var total = threads * PerThread;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {(keyed ? "affinity key" : "least loaded")} | {threads} | {total} | {elapsed.TotalMilliseconds * 1000 / total * threads:0.00} | {total / elapsed.TotalSeconds:N0} |"));
        }
    }

    private static async Task RunOpensAsync(WorkerFleet fleet, bool keyed, int threads, int perThread)
    {
        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < perThread; i++)
            {
                var session = await fleet.OpenSessionAsync(null, keyed ? "key-" + (i % 512).ToString(CultureInfo.InvariantCulture) : null);
                await session.DisposeAsync();
            }
        })));
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
