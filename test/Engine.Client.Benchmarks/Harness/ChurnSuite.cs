using System.Diagnostics;
using HdrHistogram;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>Session churn of one client kind: rate and latency of whole short sessions.</summary>
public sealed class ChurnResult
{
    public required string Name { get; init; }

    public long Sessions { get; set; }

    public double Seconds { get; set; }

    public long AllocatedBytes { get; set; }

    /// <summary>Sessions per second of each block (blocks alternate between the clients).</summary>
    public List<double> BlockRates { get; } = [];

    /// <summary>Latency of one session, open to outcome, in microseconds.</summary>
    public LongHistogram Latency { get; } = new(TimeStamp.Seconds(60), 3);

    public double SessionsPerSecond => Sessions / Seconds;

    public double MedianBlockRate => Stats.Median(BlockRates);

    public double P50Micros => Latency.GetValueAtPercentile(50) / (double)(Stopwatch.Frequency / 1_000_000);

    public double P99Micros => Latency.GetValueAtPercentile(99) / (double)(Stopwatch.Frequency / 1_000_000);

    public double AllocatedPerSession => (double)AllocatedBytes / Sessions;
}

/// <summary>The churn comparison on one transport.</summary>
public sealed class ChurnCell
{
    public required string Transport { get; init; }

    public required ChurnResult Sdk { get; init; }

    public required ChurnResult Hand { get; init; }

    /// <summary>SDK / hand-written rate per pair of adjacent blocks.</summary>
    public List<double> Ratios { get; } = [];
}

/// <summary>
/// Sessions per second on one worker: open, Init, one 1 KiB batch, Finish, outcome, one after the
/// other. The SDK and the hand-written sequential loop (same transport settings) alternate in
/// blocks; each session's latency goes into an HdrHistogram.
/// </summary>
public static class ChurnSuite
{
    public static async Task<List<ChurnCell>> RunAsync(IReadOnlyList<BenchTransport> transports, int blocks, int sessionsPerBlock, TextWriter log)
    {
        var cells = new List<ChurnCell>();
        var batch = ThroughputSuite.NewBatch(1024);
        foreach (var transport in transports)
        {
            await using var worker = await ReferenceWorker.StartAsync(transport).ConfigureAwait(false);
            using var clients = ClientSet.Create(worker, batch.Length);
            var cell = new ChurnCell
            {
                Transport = transport.ToString().ToLowerInvariant(),
                Sdk = new ChurnResult { Name = "sdk" },
                Hand = new ChurnResult { Name = "hand-written" },
            };

            // Warm-up.
            for (var i = 0; i < Math.Max(50, sessionsPerBlock / 4); i++)
            {
                await EchoLoops.SdkShortAsync(clients.Sdk, batch).ConfigureAwait(false);
                await EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch).ConfigureAwait(false);
            }

            for (var block = 0; block < blocks; block++)
            {
                double sdkRate, handRate;
                if (block % 2 == 0)
                {
                    sdkRate = await RunBlockAsync(cell.Sdk, () => EchoLoops.SdkShortAsync(clients.Sdk, batch), sessionsPerBlock).ConfigureAwait(false);
                    handRate = await RunBlockAsync(cell.Hand, () => EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch), sessionsPerBlock).ConfigureAwait(false);
                }
                else
                {
                    handRate = await RunBlockAsync(cell.Hand, () => EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch), sessionsPerBlock).ConfigureAwait(false);
                    sdkRate = await RunBlockAsync(cell.Sdk, () => EchoLoops.SdkShortAsync(clients.Sdk, batch), sessionsPerBlock).ConfigureAwait(false);
                }

                cell.Ratios.Add(sdkRate / handRate);
                log.WriteLine($"  {cell.Transport} churn block {block + 1}: sdk {sdkRate,7:0} sessions/s  hand-written {handRate,7:0} sessions/s");
            }

            log.WriteLine(
                $"{cell.Transport} churn: sdk/hand {Stats.Median(cell.Ratios):0.000}; p50 {cell.Sdk.P50Micros:0} vs {cell.Hand.P50Micros:0} us, p99 {cell.Sdk.P99Micros:0} vs {cell.Hand.P99Micros:0} us");
            cells.Add(cell);
        }

        return cells;
    }

    private static async Task<double> RunBlockAsync(ChurnResult result, Func<Task> session, int count)
    {
        ThroughputSuite.Settle();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var blockStart = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await session().ConfigureAwait(false);
            result.Latency.RecordValue(Stopwatch.GetTimestamp() - start);
        }

        var seconds = Stopwatch.GetElapsedTime(blockStart).TotalSeconds;
        result.AllocatedBytes += GC.GetTotalAllocatedBytes(precise: true) - allocated;
        result.Sessions += count;
        result.Seconds += seconds;
        var rate = count / seconds;
        result.BlockRates.Add(rate);
        return rate;
    }
}
