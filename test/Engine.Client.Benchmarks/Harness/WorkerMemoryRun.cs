using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// The reference worker's memory under many concurrent streams: one worker process (its default
/// settings unless flags or environment variables are given), <c>streams</c> concurrent echo
/// sessions spread over <c>connections</c> HTTP/2 connections (by default one each, as many
/// engines would), each sending ~1 MiB batches for a fixed time while the engine
/// reads the echoes as fast as it can (or, with a read delay, slowly: the worst case for the
/// worker's output queues). The worker's resident set (VmRSS) is sampled every 250 ms
/// from before the first stream until some seconds after the last one ended, to show the plateau
/// and whether the memory is given back.
/// </summary>
public static class WorkerMemoryRun
{
    private static readonly byte[] EchoPayload = Encoding.UTF8.GetBytes("echo");

    public static async Task<int> RunAsync(
        int streams,
        int connections,
        TimeSpan duration,
        int batchSize,
        TimeSpan readDelay,
        IReadOnlyList<string> workerArguments,
        IReadOnlyDictionary<string, string> workerEnvironment,
        TextWriter log)
    {
        await using var worker = await ReferenceWorker.StartAsync(BenchTransport.Uds, workerArguments, workerEnvironment).ConfigureAwait(false);
        var clients = Enumerable.Range(0, Math.Clamp(connections, 1, streams)).Select(_ => WorkerClient.Create(worker.Address, ClientSet.SdkOptions())).ToArray();
        var client = clients[0];
        var pid = worker.Process.Id;
        var settings = string.Join(' ', workerArguments.Concat(workerEnvironment.Select(e => $"{e.Key}={e.Value}")));
        log.WriteLine($"worker memory: {streams} concurrent echo streams over {clients.Length} connections, {Format.Size(batchSize)} batches, for {duration.TotalSeconds:0} s, {readDelay.TotalMilliseconds:0} ms pause after each output batch read; worker settings: {(settings.Length == 0 ? "defaults" : settings)}");

        // One answered heartbeat first: the idle figure is that of a worker that has served a call.
        await client.HeartbeatAsync().ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        var idle = ProcStatus.Read(pid, "VmRSS");
        var samples = new List<(double Seconds, long Rss)>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var sampler = SampleAsync(pid, clock, samples, stop.Token);

        var batch = ThroughputSuite.NewBatch(batchSize);
        var sessions = await Task.WhenAll(Enumerable.Range(0, streams).Select(i => StreamAsync(clients[i % clients.Length], batch, duration, readDelay))).ConfigureAwait(false);
        var streamsEnd = clock.Elapsed.TotalSeconds;
        var atEnd = ProcStatus.Read(pid, "VmRSS");
        var heapAtEnd = await GcAsync(client).ConfigureAwait(false);

        // Memory the worker keeps after the load: sampled for a while after the last stream ended.
        await Task.Delay(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        await sampler.ConfigureAwait(false);
        var after = ProcStatus.Read(pid, "VmRSS");
        var heapAfter = await GcAsync(client).ConfigureAwait(false);
        var peak = ProcStatus.Read(pid, "VmHWM");
        var bytes = sessions.Sum(s => s.Bytes);
        var failed = sessions.Count(s => !s.Finished);

        foreach (var group in samples.GroupBy(s => (int)s.Seconds))
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  t={group.Key,3} s  RSS {group.Max(s => s.Rss) / 1048576.0,7:0} MiB"));
        }

        log.WriteLine();
        log.WriteLine("| streams | connections | batch | seconds | echoed | sessions not finished | worker RSS idle | peak (VmHWM) | at the end of the streams | 10 s later |");
        log.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        log.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {streams} | {clients.Length} | {Format.Size(batchSize)} | {streamsEnd:0.0} | {Format.Size(bytes)} | {failed} | {Mib(idle)} | {Mib(peak)} | {Mib(atEnd)} | {Mib(after)} |"));
        log.WriteLine($"worker GC heap / committed: at the end {heapAtEnd}, 10 s later {heapAfter}");
        if (worker.Stderr.Length > 0)
        {
            log.WriteLine("worker stderr: " + worker.Stderr);
        }

        // The connections' own buffers go with them: once they closed (and the worker trimmed).
        foreach (var each in clients.Skip(1))
        {
            each.Dispose();
        }

        await Task.Delay(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        log.WriteLine($"worker RSS 5 s after all but one connection closed: {Mib(ProcStatus.Read(pid, "VmRSS"))}; GC heap / committed {await GcAsync(client).ConfigureAwait(false)}");
        client.Dispose();
        return failed == 0 ? 0 : 1;
    }

    private static async Task<string> GcAsync(WorkerClient client)
    {
        var metrics = (await client.HeartbeatAsync().ConfigureAwait(false)).Metrics;
        return $"{Mib(long.Parse(metrics["gc_heap_bytes"], CultureInfo.InvariantCulture))} / {(metrics.TryGetValue("gc_committed_bytes", out var committed) ? Mib(long.Parse(committed, CultureInfo.InvariantCulture)) : "?")}";
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0} MiB");

    private static async Task SampleAsync(int pid, Stopwatch clock, List<(double, long)> samples, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        try
        {
            do
            {
                samples.Add((clock.Elapsed.TotalSeconds, ProcStatus.Read(pid, "VmRSS")));
            }
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task<(long Bytes, bool Finished)> StreamAsync(WorkerClient client, ReadOnlyMemory<byte> batch, TimeSpan duration, TimeSpan readDelay)
    {
        await using var session = await client.OpenSessionAsync();
        await session.InitAsync(new SessionInit(EchoPayload, "echo")).ConfigureAwait(false);
        long bytes = 0;
        await foreach (var output in session.ProcessAsync(Until(batch, duration)).ConfigureAwait(false))
        {
            bytes += output.Length;
            if (readDelay > TimeSpan.Zero)
            {
                // A slow consumer: the worker's output queues fill, the worst case for its memory.
                await Task.Delay(readDelay).ConfigureAwait(false);
            }
        }

        var outcome = await session.CloseAsync().ConfigureAwait(false);
        return (bytes, outcome.Kind == SessionOutcomeKind.Finished);
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Until(ReadOnlyMemory<byte> batch, TimeSpan duration)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end)
        {
            await Task.Yield();
            yield return batch;
        }
    }
}
