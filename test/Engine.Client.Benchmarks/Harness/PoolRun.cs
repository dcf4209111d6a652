using System.Diagnostics;
using System.Globalization;
using System.Text;
using Apache.Arrow;
using Engine.Client.Protocol;
using Engine.Samples;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// Eight sessions of the same work opened at once on a <see cref="WorkerPool"/> of reference
/// workers (reuse and concurrent UDFs, 4 sessions per worker, the pool's other defaults): how many
/// workers the pool launches, the wall time from the first request to the last outcome, and rows/s.
/// Each session maps the sample dataset through the builtin <c>add x 5; upper name</c>.
/// </summary>
public static class PoolRun
{
    public const int Sessions = 8;
    public const int BatchRows = 10_000;

    public static async Task<int> RunAsync(int repetitions, double scale, TextWriter log)
    {
        var rowsPerSession = Math.Max(BatchRows, (long)(1_000_000 * scale));
        var batches = SampleData.CreateBatches(rowsPerSession, BatchRows).ToList();
        log.WriteLine($"pool: {Sessions} concurrent sessions, {rowsPerSession:N0} rows each in {BatchRows:N0}-row batches, MaxSessionsPerWorker 4; {repetitions} repetitions");
        var results = new List<(string Variant, int Launched, double Seconds, double RowsPerSecond, long WorkerRss)>();
        for (var rep = 0; rep < repetitions; rep++)
        {
            foreach (var inAdvance in new[] { false, true })
            {
                ThroughputSuite.Settle();
                var result = await RunOnceAsync(batches, rowsPerSession, inAdvance).ConfigureAwait(false);
                var variant = inAdvance ? "one worker started in advance" : "no worker in advance";
                results.Add((variant, result.Launched, result.Seconds, result.RowsPerSecond, result.WorkerRss));
                log.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"  {variant}: {result.Launched} workers launched, {result.Seconds:0.00} s, {result.RowsPerSecond:N0} rows/s, workers' peak RSS, summed {result.WorkerRss / 1048576.0:0} MiB"));
            }
        }

        log.WriteLine();
        log.WriteLine("| variant | workers launched | wall time (median) | rows/s (median) | workers' peak RSS, summed (median) |");
        log.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var group in results.GroupBy(r => r.Variant))
        {
            var launched = string.Join("/", group.Select(r => r.Launched).Distinct().Order());
            log.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"| {group.Key} | {launched} | {Stats.Median(group.Select(r => r.Seconds).ToList()):0.00} s | {Stats.Median(group.Select(r => r.RowsPerSecond).ToList()):N0} | {Stats.Median(group.Select(r => (double)r.WorkerRss).ToList()) / 1048576.0:0} MiB |"));
        }

        foreach (var batch in batches)
        {
            batch.Dispose();
        }

        return 0;
    }

    private static async Task<(int Launched, double Seconds, double RowsPerSecond, long WorkerRss)> RunOnceAsync(List<RecordBatch> batches, long rowsPerSession, bool inAdvance)
    {
        var pool = WorkerPool.Create(Specification(), new WorkerPoolOptions { MaxSessionsPerWorker = 4 });
        await using (pool.ConfigureAwait(false))
        {
            var launched = new HashSet<string>();
            if (inAdvance)
            {
                foreach (var worker in await pool.StartWorkersAsync(1).ConfigureAwait(false))
                {
                    launched.Add(worker.Id);
                }
            }

            using var stop = new CancellationTokenSource();
            var peak = SamplePeakAsync(pool, stop.Token);
            var start = Stopwatch.GetTimestamp();
            var opened = await Task.WhenAll(Enumerable.Range(0, Sessions).Select(_ => pool.OpenSessionAsync().AsTask())).ConfigureAwait(false);
            foreach (var worker in pool.Workers)
            {
                launched.Add(worker.Id);
            }

            var rows = await Task.WhenAll(opened.Select(s => RunSessionAsync(s, batches))).ConfigureAwait(false);
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            await stop.CancelAsync().ConfigureAwait(false);
            var rss = await peak.ConfigureAwait(false);
            if (rows.Any(r => r != rowsPerSession))
            {
                throw new InvalidOperationException($"a session returned {string.Join(", ", rows)} rows instead of {rowsPerSession}.");
            }

            return (launched.Count, seconds, rows.Sum() / seconds, rss);
        }
    }

    /// <summary>The largest sum of the workers' resident sets, sampled every 100 ms.</summary>
    private static async Task<long> SamplePeakAsync(WorkerPool pool, CancellationToken stop)
    {
        long peak = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            do
            {
                peak = Math.Max(peak, pool.Workers.Sum(w => ProcStatus.Read(w.ProcessId, "VmRSS")));
            }
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }

        return peak;
    }

    private static async Task<long> RunSessionAsync(WorkerSession session, List<RecordBatch> batches)
    {
        await using (session.ConfigureAwait(false))
        {
            await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("add x 5; upper name"), "builtin", SampleData.Schema)).ConfigureAwait(false);
            long rows = 0;
            await foreach (var batch in session.ProcessAsync(Input(batches)).ConfigureAwait(false))
            {
                rows += batch.Length;
                batch.Dispose();
            }

            var outcome = await session.CloseAsync().ConfigureAwait(false);
            if (outcome.Kind != SessionOutcomeKind.Finished)
            {
                throw new InvalidOperationException($"a session ended {outcome.Kind}: {outcome.Exception?.Message}");
            }

            return rows;
        }
    }

    private static async IAsyncEnumerable<RecordBatch> Input(List<RecordBatch> batches)
    {
        foreach (var batch in batches)
        {
            await Task.Yield();
            yield return batch;
        }
    }

    /// <summary>The reference worker next to the harness, reusable with concurrent UDFs, on a Unix socket.</summary>
    public static WorkerSpecification Specification()
    {
        var runner = new ProcessCallable();
        runner.Command.Add(ReferenceWorker.ExecutablePath);
        return WorkerSpecification.FromProto(new UDFWorkerSpecification
        {
            Capabilities = new WorkerCapabilities
            {
                SupportedDataFormats = { UDFWorkerDataFormat.Arrow },
                SupportedCommunicationPatterns = { UDFProtoCommunicationPattern.BidirectionalStreaming },
                SupportsConcurrentUdfs = true,
                SupportsReuse = true,
            },
            Direct = new DirectWorker
            {
                Runner = runner,
                Properties = new UDFWorkerProperties { Connection = new WorkerConnectionSpec { UnixDomainSocket = new UnixDomainSocket() } },
            },
        });
    }
}
