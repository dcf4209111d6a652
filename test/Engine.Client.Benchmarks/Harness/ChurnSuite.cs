using System.Diagnostics;
using HdrHistogram;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>Session churn of one client kind: rate and latency of whole short sessions.</summary>
public sealed class ChurnResult
{
    public required string Name { get; init; }

    public long Sessions { get; set; }

    /// <summary>Summed durations of this side's sessions.</summary>
    public double Seconds { get; set; }

    /// <summary>Bytes allocated per session (whole process), from a pass of this side alone.</summary>
    public long AllocatedBytes { get; set; }

    /// <summary>Sessions per second of each block (sessions over their summed durations).</summary>
    public List<double> BlockRates { get; } = [];

    /// <summary>Latency of one session, open to outcome, in microseconds.</summary>
    public LongHistogram Latency { get; } = new(TimeStamp.Seconds(60), 3);

    public double SessionsPerSecond => Sessions / Seconds;

    public double MedianBlockRate => Stats.Median(BlockRates);

    public double P50Micros => Latency.GetValueAtPercentile(50) / (double)(Stopwatch.Frequency / 1_000_000);

    public double P99Micros => Latency.GetValueAtPercentile(99) / (double)(Stopwatch.Frequency / 1_000_000);

    public double AllocatedPerSession => AllocatedBytes;
}

/// <summary>The churn comparison on one transport.</summary>
public sealed class ChurnCell
{
    public required string Transport { get; init; }

    public required ChurnResult Sdk { get; init; }

    public required ChurnResult Hand { get; init; }

    /// <summary>SDK / hand-written rate per pair of adjacent blocks.</summary>
    public List<double> Ratios { get; } = [];

    /// <summary>Where a session's time goes, SDK and hand-written (medians).</summary>
    public (PhaseTimes Sdk, PhaseTimes Hand)? Phases { get; set; }
}

/// <summary>
/// Sessions per second on one worker: open, Init, one 1 KiB batch, Finish, outcome, one after the
/// other. The SDK and the hand-written sequential loop (same transport settings) alternate session
/// by session, so both see the same load; a block's rate is its sessions over their summed
/// durations, and its ratio compares the two sides within the block. Each session's latency goes
/// into an HdrHistogram. Allocations are measured in separate passes (the counter is process-wide).
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
            Func<Task> sdk = () => EchoLoops.SdkShortAsync(clients.Sdk, batch);
            Func<Task> hand = () => EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch);

            // Warm-up, then allocations per session, each side on its own.
            for (var i = 0; i < Math.Max(50, sessionsPerBlock / 4); i++)
            {
                await sdk().ConfigureAwait(false);
                await hand().ConfigureAwait(false);
            }

            cell.Sdk.AllocatedBytes = await AllocatedPerSessionAsync(sdk, sessionsPerBlock).ConfigureAwait(false);
            cell.Hand.AllocatedBytes = await AllocatedPerSessionAsync(hand, sessionsPerBlock).ConfigureAwait(false);

            for (var block = 0; block < blocks; block++)
            {
                ThroughputSuite.Settle();
                double sdkSeconds = 0, handSeconds = 0;
                for (var i = 0; i < sessionsPerBlock; i++)
                {
                    if ((i + block) % 2 == 0)
                    {
                        sdkSeconds += await TimeAsync(cell.Sdk, sdk).ConfigureAwait(false);
                        handSeconds += await TimeAsync(cell.Hand, hand).ConfigureAwait(false);
                    }
                    else
                    {
                        handSeconds += await TimeAsync(cell.Hand, hand).ConfigureAwait(false);
                        sdkSeconds += await TimeAsync(cell.Sdk, sdk).ConfigureAwait(false);
                    }
                }

                var sdkRate = Record(cell.Sdk, sessionsPerBlock, sdkSeconds);
                var handRate = Record(cell.Hand, sessionsPerBlock, handSeconds);
                cell.Ratios.Add(sdkRate / handRate);
                log.WriteLine($"  {cell.Transport} churn block {block + 1}: sdk {sdkRate,7:0} sessions/s  hand-written {handRate,7:0} sessions/s");
            }

            cell.Phases = await SessionPhases.RunAsync(clients.Sdk, clients.HandSdkTransport, Math.Max(50, sessionsPerBlock)).ConfigureAwait(false);
            log.WriteLine(
                $"{cell.Transport} churn: sdk/hand {Stats.Median(cell.Ratios):0.000}; p50 {cell.Sdk.P50Micros:0} vs {cell.Hand.P50Micros:0} us, p99 {cell.Sdk.P99Micros:0} vs {cell.Hand.P99Micros:0} us");
            cells.Add(cell);
        }

        return cells;
    }

    private static async Task<long> AllocatedPerSessionAsync(Func<Task> session, int count)
    {
        ThroughputSuite.Settle();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < count; i++)
        {
            await session().ConfigureAwait(false);
        }

        return (GC.GetTotalAllocatedBytes(precise: true) - before) / count;
    }

    private static async Task<double> TimeAsync(ChurnResult result, Func<Task> session)
    {
        var start = Stopwatch.GetTimestamp();
        await session().ConfigureAwait(false);
        var ticks = Stopwatch.GetTimestamp() - start;
        result.Latency.RecordValue(ticks);
        return ticks / (double)Stopwatch.Frequency;
    }

    private static double Record(ChurnResult result, int sessions, double seconds)
    {
        result.Sessions += sessions;
        result.Seconds += seconds;
        var rate = sessions / seconds;
        result.BlockRates.Add(rate);
        return rate;
    }
}
