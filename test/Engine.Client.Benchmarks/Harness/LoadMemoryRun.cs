using System.Diagnostics;
using System.Globalization;
using Engine.Client.Load;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// The load tester's memory over a long run: <c>LoadTest</c> in the open model at a steady rate
/// (the churn suite's short echo session: Init, one 1 KiB batch, Finish) against one reference
/// worker for some minutes, with a heartbeat probe sampled every second as the command samples its
/// workers. At the end of each minute, this (the engine's) process's working set, GC heap size,
/// gen2 collection count and total allocated bytes are sampled, then the live heap after a full
/// collection (the sampler's one forced collection a minute is left out of the gen2 count); minute 1
/// and the last minute are printed side by side. Memory that stays flat shows the run keeps no
/// per-session state.
/// </summary>
public static class LoadMemoryRun
{
    public static async Task<int> RunAsync(BenchTransport transport, int minutes, double rate, TextWriter log)
    {
        var batch = ThroughputSuite.NewBatch(1024);
        await using var worker = await ReferenceWorker.StartAsync(transport).ConfigureAwait(false);
        using var clients = ClientSet.Create(worker, batch.Length);
        var client = clients.Sdk;
        log.WriteLine($"load memory: open model at {rate:0}/s for {minutes} min against one reference worker ({transport}), the short echo session (1 KiB); sampled at the end of each minute");

        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = rate,
            Duration = TimeSpan.FromMinutes(minutes),
            CountOutputRows = false,
            Seed = 1,
        };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty) { Input = LoadInput.FromMessages([batch], "1 KiB") });
        options.Heartbeats.Add(new LoadHeartbeatProbe(client.Name, token => client.HeartbeatAsync(TimeSpan.FromSeconds(10), token)));
        var sampler = new MinuteSampler(minutes, log);
        options.Observer = sampler;

        var result = await LoadTest.RunAsync(client, options).ConfigureAwait(false);
        var samples = sampler.Samples;
        log.WriteLine();
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sessions started {result.Sessions.Started}, finished {result.Sessions.Finished}, failed {result.Sessions.FailedTotal}, behind schedule {result.Sessions.BehindSchedule}, not started {result.Sessions.NotStarted}; session p50 {result.Latency[LoadPhases.Session].GetValueAtPercentile(50) / 1000.0:0.###} ms, p99 {result.Latency[LoadPhases.Session].GetValueAtPercentile(99) / 1000.0:0.###} ms; heartbeats sampled {result.Latency[LoadPhases.Heartbeat].TotalCount}"));
        if (samples.Count == 0)
        {
            log.WriteLine("no minute closed: nothing to compare.");
            return 1;
        }

        var first = samples[0];
        var last = samples[^1];
        log.WriteLine();
        log.WriteLine($"| engine process | minute {first.Minute} | minute {last.Minute} |");
        log.WriteLine("|---|---:|---:|");
        log.WriteLine($"| working set | {Mib(first.WorkingSet)} | {Mib(last.WorkingSet)} |");
        log.WriteLine($"| GC heap size (as the last collection left it) | {Mib(first.HeapSize)} | {Mib(last.HeapSize)} |");
        log.WriteLine($"| live heap after a full collection | {Mib(first.Live)} | {Mib(last.Live)} |");
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| gen2 collections (total, the sampler's own left out) | {first.Gen2} | {last.Gen2} |"));
        log.WriteLine($"| allocated (total) | {Gib(first.Allocated)} | {Gib(last.Allocated)} |");
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| sessions finished (total) | {first.Finished} | {last.Finished} |"));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"allocated per session over the run: {(last.Allocated - first.Allocated) / (double)Math.Max(1, last.Finished - first.Finished):0} B (minute {first.Minute} to {last.Minute})"));
        return result.Sessions.FailedTotal == 0 ? 0 : 1;
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB");

    private static string Gib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1073741824.0:0.00} GiB");

    internal sealed record Sample(int Minute, long WorkingSet, long HeapSize, long Live, int Gen2, long Allocated, long Finished);

    /// <summary>Samples the process at the end of each minute of the run, from the interval observer (the run's own clock).</summary>
    private sealed class MinuteSampler(int minutes, TextWriter log) : ILoadObserver
    {
        private long _finished;
        private int _forced;

        public List<Sample> Samples { get; } = [];

        public void OnInterval(LoadInterval interval, IReadOnlyDictionary<string, HdrHistogram.HistogramBase> histograms)
        {
            _finished += interval.Finished;
            var end = interval.StartSeconds + interval.Seconds;
            var minute = Samples.Count + 1;
            if (minute > minutes || end < minute * 60.0 - 0.5)
            {
                return;
            }

            using var process = Process.GetCurrentProcess();
            var workingSet = process.WorkingSet64;
            var heapSize = GC.GetGCMemoryInfo().HeapSizeBytes;
            var gen2 = GC.CollectionCount(2) - _forced;
            var allocated = GC.GetTotalAllocatedBytes(precise: false);

            // What the run keeps: the heap after a full collection (one a minute; not counted in gen2 above).
            var before = GC.CollectionCount(2);
            var live = GC.GetTotalMemory(forceFullCollection: true);
            _forced += GC.CollectionCount(2) - before;
            var sample = new Sample(minute, workingSet, heapSize, live, gen2, allocated, _finished);
            Samples.Add(sample);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  minute {minute,2}: working set {Mib(sample.WorkingSet)}, GC heap {Mib(sample.HeapSize)}, live after a full collection {Mib(sample.Live)}, gen2 collections {sample.Gen2}, allocated {Gib(sample.Allocated)}, sessions finished {sample.Finished}, in flight {interval.InFlight}, behind schedule this second {interval.BehindSchedule}"));
        }
    }
}
