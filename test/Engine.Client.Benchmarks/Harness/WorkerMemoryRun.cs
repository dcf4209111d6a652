using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// The reference worker's memory under many concurrent streams: one worker process (its default
/// settings unless flags or environment variables are given), <c>streams</c> concurrent echo
/// sessions over one connection, each sending ~1 MiB batches for a fixed time while the engine
/// reads the echoes as fast as it can. The worker's resident set (VmRSS) is sampled every 250 ms
/// from before the first stream until some seconds after the last one ended, to show the plateau
/// and whether the memory is given back.
/// </summary>
public static class WorkerMemoryRun
{
    private static readonly byte[] EchoPayload = Encoding.UTF8.GetBytes("echo");

    public static async Task<int> RunAsync(
        int streams,
        TimeSpan duration,
        int batchSize,
        IReadOnlyList<string> workerArguments,
        IReadOnlyDictionary<string, string> workerEnvironment,
        TextWriter log)
    {
        await using var worker = await ReferenceWorker.StartAsync(BenchTransport.Uds, workerArguments, workerEnvironment).ConfigureAwait(false);
        using var client = WorkerClient.Create(worker.Address, ClientSet.SdkOptions());
        var pid = worker.Process.Id;
        var settings = string.Join(' ', workerArguments.Concat(workerEnvironment.Select(e => $"{e.Key}={e.Value}")));
        log.WriteLine($"worker memory: {streams} concurrent echo streams of {Format.Size(batchSize)} batches for {duration.TotalSeconds:0} s; worker settings: {(settings.Length == 0 ? "defaults" : settings)}");

        // One answered heartbeat first: the idle figure is that of a worker that has served a call.
        await client.HeartbeatAsync().ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        var idle = ProcStatus.Read(pid, "VmRSS");
        var samples = new List<(double Seconds, long Rss)>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var sampler = SampleAsync(pid, clock, samples, stop.Token);

        var batch = ThroughputSuite.NewBatch(batchSize);
        var sessions = await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => StreamAsync(client, batch, duration))).ConfigureAwait(false);
        var streamsEnd = clock.Elapsed.TotalSeconds;
        var atEnd = ProcStatus.Read(pid, "VmRSS");

        // Memory the worker keeps after the load: sampled for a while after the last stream ended.
        await Task.Delay(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        await sampler.ConfigureAwait(false);
        var after = ProcStatus.Read(pid, "VmRSS");
        var peak = ProcStatus.Read(pid, "VmHWM");
        var bytes = sessions.Sum(s => s.Bytes);
        var failed = sessions.Count(s => !s.Finished);

        foreach (var group in samples.GroupBy(s => (int)s.Seconds))
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  t={group.Key,3} s  RSS {group.Max(s => s.Rss) / 1048576.0,7:0} MiB"));
        }

        log.WriteLine();
        log.WriteLine("| streams | batch | seconds | echoed | sessions not finished | worker RSS idle | peak (VmHWM) | at the end of the streams | 10 s later |");
        log.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        log.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {streams} | {Format.Size(batchSize)} | {streamsEnd:0.0} | {Format.Size(bytes)} | {failed} | {Mib(idle)} | {Mib(peak)} | {Mib(atEnd)} | {Mib(after)} |"));
        if (worker.Stderr.Length > 0)
        {
            log.WriteLine("worker stderr: " + worker.Stderr);
        }

        return failed == 0 ? 0 : 1;
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

    private static async Task<(long Bytes, bool Finished)> StreamAsync(WorkerClient client, ReadOnlyMemory<byte> batch, TimeSpan duration)
    {
        await using var session = client.OpenSession();
        await session.InitAsync(new SessionInit(EchoPayload, "echo")).ConfigureAwait(false);
        long bytes = 0;
        await foreach (var output in session.ProcessAsync(Until(batch, duration)).ConfigureAwait(false))
        {
            bytes += output.Length;
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
