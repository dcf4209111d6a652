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
    public static async Task<int> RunAsync(BenchTransport transport, int blocks, int sessionsPerBlock, TextWriter log)
    {
        var batch = ThroughputSuite.NewBatch(1024);
        await using var worker = await ReferenceWorker.StartAsync(transport).ConfigureAwait(false);
        using var clients = ClientSet.Create(worker, batch.Length);

        // Warm-up: both sides, JIT and connections.
        for (var i = 0; i < 200; i++)
        {
            await EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch).ConfigureAwait(false);
        }

        await ClosedAsync(clients.Sdk, batch, 200).ConfigureAwait(false);

        var ratios = new List<double>();
        var sdkRatios = new List<double>();
        for (var block = 0; block < blocks; block++)
        {
            ThroughputSuite.Settle();
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < sessionsPerBlock; i++)
            {
                await EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch).ConfigureAwait(false);
            }

            var handRate = sessionsPerBlock / watch.Elapsed.TotalSeconds;
            ThroughputSuite.Settle();
            watch.Restart();
            for (var i = 0; i < sessionsPerBlock; i++)
            {
                await EchoLoops.SdkShortAsync(clients.Sdk, batch).ConfigureAwait(false);
            }

            var sdkRate = sessionsPerBlock / watch.Elapsed.TotalSeconds;
            ThroughputSuite.Settle();
            watch.Restart();
            var result = await ClosedAsync(clients.Sdk, batch, sessionsPerBlock).ConfigureAwait(false);
            var loadRate = sessionsPerBlock / watch.Elapsed.TotalSeconds;
            if (result.Sessions.Finished != sessionsPerBlock)
            {
                throw new InvalidOperationException($"load finished {result.Sessions.Finished} of {sessionsPerBlock} sessions.");
            }

            ratios.Add(loadRate / handRate);
            sdkRatios.Add(loadRate / sdkRate);
            log.WriteLine($"  block {block + 1}: load --concurrency 1 {loadRate,7:0} sessions/s  hand-written loop {handRate,7:0}  SDK loop {sdkRate,7:0}  load/hand {loadRate / handRate:0.000}  load/sdk {loadRate / sdkRate:0.000}");
        }

        log.WriteLine($"closed model, one session at a time: load / hand-written = {Stats.Median(ratios):0.000}, load / SDK loop = {Stats.Median(sdkRatios):0.000} (medians of {blocks} blocks of {sessionsPerBlock} sessions)");

        foreach (var rate in new[] { 50.0, 200.0 })
        {
            var options = Options(batch, LoadModelKind.Open, rate);
            options.Duration = TimeSpan.FromSeconds(10);
            options.Warmup = TimeSpan.FromSeconds(2);
            var result = await LoadTest.RunAsync(clients.Sdk, options).ConfigureAwait(false);
            var achieved = result.Sessions.Started / 10.0;
            log.WriteLine($"open model at {rate:0}/s for 10 s: achieved {achieved:0.##}/s ({achieved / rate:0.0000} of the target); behind schedule {result.Sessions.BehindSchedule}, not started {result.Sessions.NotStarted}; session p50 {result.Latency[LoadPhases.Session].GetValueAtPercentile(50) / 1000.0:0.###} ms, p99 {result.Latency[LoadPhases.Session].GetValueAtPercentile(99) / 1000.0:0.###} ms");
        }

        return 0;
    }

    private static Task<LoadResult> ClosedAsync(WorkerClient client, byte[] batch, int sessions)
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
