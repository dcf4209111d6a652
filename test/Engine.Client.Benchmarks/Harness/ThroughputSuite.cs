namespace Engine.Client.Benchmarks.Harness;

/// <summary>Results of one batch size on one transport: every repetition of every variant.</summary>
public sealed class ThroughputCell
{
    public required string Transport { get; init; }

    public required int BatchSize { get; init; }

    public required long BatchesPerRun { get; init; }

    public Dictionary<Variant, List<RunSample>> Samples { get; } = new()
    {
        [Variant.Sdk] = [],
        [Variant.HandSdkTransport] = [],
        [Variant.HandGrpcDefaults] = [],
    };

    /// <summary>SDK / hand-written on the same transport settings, per repetition (runs adjacent in time).</summary>
    public List<double> RatiosSameTransport { get; } = [];

    /// <summary>SDK with its defaults / hand-written with Grpc.Net.Client's defaults, per repetition.</summary>
    public List<double> RatiosOwnDefaults { get; } = [];

    public double MedianMBps(Variant variant) => Stats.Median(Samples[variant].Select(s => s.MBps));

    public double MedianBatchesPerSecond(Variant variant) => Stats.Median(Samples[variant].Select(s => s.BatchesPerSecond));

    public double MedianAllocatedPerBatch(Variant variant) => Stats.Median(Samples[variant].Select(s => s.AllocatedPerBatch));

    public long MaxPeakWorkingSet(Variant variant) => Samples[variant].Max(s => s.PeakWorkingSet);

    public long MaxPeakGcHeap(Variant variant) => Samples[variant].Max(s => s.PeakGcHeap);
}

/// <summary>Settings of a throughput run.</summary>
public sealed record ThroughputSettings
{
    public required IReadOnlyList<BenchTransport> Transports { get; init; }

    public required IReadOnlyList<int> BatchSizes { get; init; }

    public required int Repetitions { get; init; }

    /// <summary>Multiplies the data volume of every run (1 = the full run).</summary>
    public double Scale { get; init; } = 1;

    /// <summary>
    /// Payload bytes streamed by one run at a batch size: a quarter to half a second per run here.
    /// Short runs, many repetitions: on a shared machine the two runs of a pair then see the same load.
    /// </summary>
    public long BytesPerRun(int batchSize)
    {
        long bytes = batchSize switch
        {
            <= 4 * 1024 => 8L << 20,
            <= 128 * 1024 => 96L << 20,
            _ => 192L << 20,
        };
        return Math.Max(batchSize, (long)(bytes * Scale));
    }
}

/// <summary>
/// SDK versus hand-written throughput: for each transport one real worker, for each batch size a
/// fresh set of clients, a warm-up of every variant, then repetitions in which every variant runs
/// once, the SDK between the two hand-written loops. Ratios are taken per repetition between
/// adjacent runs, so the noise of a shared machine hits both sides of each ratio alike.
/// </summary>
public static class ThroughputSuite
{
    public static async Task<List<ThroughputCell>> RunAsync(ThroughputSettings settings, TextWriter log)
    {
        var cells = new List<ThroughputCell>();
        foreach (var transport in settings.Transports)
        {
            await using var worker = await ReferenceWorker.StartAsync(transport).ConfigureAwait(false);
            foreach (var size in settings.BatchSizes)
            {
                cells.Add(await RunCellAsync(worker, size, settings, log).ConfigureAwait(false));
            }
        }

        return cells;
    }

    private static async Task<ThroughputCell> RunCellAsync(ReferenceWorker worker, int size, ThroughputSettings settings, TextWriter log)
    {
        var batch = NewBatch(size);
        var count = Math.Max(1, settings.BytesPerRun(size) / size);
        var cell = new ThroughputCell { Transport = worker.Transport.ToString().ToLowerInvariant(), BatchSize = size, BatchesPerRun = count };
        using var clients = ClientSet.Create(worker, size);
        Variant[] variants = [Variant.Sdk, Variant.HandSdkTransport, Variant.HandGrpcDefaults];

        // Warm-up: connections, JIT tiers, pools.
        foreach (var variant in variants)
        {
            await RunOnceAsync(clients, variant, batch, Math.Max(1, count / 4)).ConfigureAwait(false);
        }

        for (var rep = 0; rep < settings.Repetitions; rep++)
        {
            // The SDK runs in the middle, next to each hand-written run it is compared with; the
            // outer two swap places every repetition.
            Variant[] order = rep % 2 == 0
                ? [Variant.HandSdkTransport, Variant.Sdk, Variant.HandGrpcDefaults]
                : [Variant.HandGrpcDefaults, Variant.Sdk, Variant.HandSdkTransport];
            var samples = new Dictionary<Variant, RunSample>();
            foreach (var variant in order)
            {
                samples[variant] = await RunOnceAsync(clients, variant, batch, count, worker.Process.Id).ConfigureAwait(false);
                cell.Samples[variant].Add(samples[variant]);
            }

            var sdk = samples[Variant.Sdk].MBps;
            cell.RatiosSameTransport.Add(sdk / samples[Variant.HandSdkTransport].MBps);
            cell.RatiosOwnDefaults.Add(sdk / samples[Variant.HandGrpcDefaults].MBps);
            log.WriteLine(
                $"  {cell.Transport} {Format.Size(size),6} rep {rep + 1}: MB/s (client cpu us/batch) sdk {sdk,7:0.0} ({samples[Variant.Sdk].ClientCpuMicrosPerBatch,6:0.0} us, {samples[Variant.Sdk].WorkItemsPerBatch:0.00} wi, {samples[Variant.Sdk].AllocatedPerBatch:0} B)  hand(sdk transport) {samples[Variant.HandSdkTransport].MBps,7:0.0} ({samples[Variant.HandSdkTransport].ClientCpuMicrosPerBatch,6:0.0} us, {samples[Variant.HandSdkTransport].WorkItemsPerBatch:0.00} wi, {samples[Variant.HandSdkTransport].AllocatedPerBatch:0} B)  hand(grpc defaults) {samples[Variant.HandGrpcDefaults].MBps,7:0.0} ({samples[Variant.HandGrpcDefaults].ClientCpuMicrosPerBatch,6:0.0})");
        }

        log.WriteLine(
            $"{cell.Transport} {Format.Size(size),6}: sdk/hand same transport {Stats.Median(cell.RatiosSameTransport):0.000}, sdk defaults/hand grpc defaults {Stats.Median(cell.RatiosOwnDefaults):0.000}");
        return cell;
    }

    public static byte[] NewBatch(int size)
    {
        var batch = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i] = (byte)(i * 31);
        }

        return batch;
    }

    public static async Task<RunSample> RunOnceAsync(ClientSet clients, Variant variant, ReadOnlyMemory<byte> batch, long count, int workerPid = 0)
    {
        Settle();
        using var meter = RunMeter.Start(workerPid);
        var totals = variant switch
        {
            Variant.Sdk => await EchoLoops.SdkAsync(clients.Sdk, batch, count).ConfigureAwait(false),
            Variant.HandSdkTransport => await EchoLoops.HandWrittenAsync(clients.HandSdkTransport, batch, count).ConfigureAwait(false),
            _ => await EchoLoops.HandWrittenAsync(clients.HandGrpcDefaults, batch, count).ConfigureAwait(false),
        };
        return meter.Stop(totals);
    }

    /// <summary>Starts every run from a collected heap, so one run's garbage is not the next one's cost.</summary>
    public static void Settle()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    }
}
