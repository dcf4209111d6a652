namespace Engine.Client.Benchmarks.Harness;

/// <summary>One transport setting under test: client options, worker flags or worker environment.</summary>
public sealed record SweepSetting(
    string Group,
    string Name,
    Action<WorkerClientOptions>? Client = null,
    IReadOnlyList<string>? WorkerArguments = null,
    IReadOnlyDictionary<string, string>? WorkerEnvironment = null)
{
    public bool NeedsOwnWorker => WorkerArguments is { Count: > 0 } || WorkerEnvironment is { Count: > 0 };
}

/// <summary>A setting measured against the baseline at one batch size on one transport.</summary>
public sealed class SweepCell
{
    public required string Transport { get; init; }

    public required int BatchSize { get; init; }

    public required SweepSetting Setting { get; init; }

    public List<RunSample> Baseline { get; } = [];

    public List<RunSample> Candidate { get; } = [];

    /// <summary>Candidate / baseline throughput per repetition (adjacent runs).</summary>
    public List<double> Ratios { get; } = [];
}

/// <summary>
/// Transport settings versus throughput: every setting runs the SDK echo session alternately with
/// the baseline (the setting's group defaults) on its own client, and on its own worker process
/// when the setting is a worker flag; ratios are per adjacent pair.
/// </summary>
public static class TransportSweep
{
    public static async Task<List<SweepCell>> RunAsync(
        IReadOnlyList<BenchTransport> transports,
        IReadOnlyList<int> sizes,
        IReadOnlyList<SweepSetting> settings,
        Action<WorkerClientOptions>? baselineClient,
        int repetitions,
        double scale,
        TextWriter log)
    {
        var cells = new List<SweepCell>();
        var volume = new ThroughputSettings { Transports = transports, BatchSizes = sizes, Repetitions = repetitions, Scale = scale };
        foreach (var transport in transports)
        {
            await using var baselineWorker = await ReferenceWorker.StartAsync(transport).ConfigureAwait(false);
            foreach (var setting in settings)
            {
                var own = setting.NeedsOwnWorker
                    ? await ReferenceWorker.StartAsync(transport, setting.WorkerArguments, setting.WorkerEnvironment).ConfigureAwait(false)
                    : null;
                try
                {
                    var candidateWorker = own ?? baselineWorker;
                    foreach (var size in sizes)
                    {
                        var batch = ThroughputSuite.NewBatch(size);
                        var count = Math.Max(1, volume.BytesPerRun(size) / size);
                        using var baseline = ClientSet.Create(baselineWorker, size, baselineClient);
                        using var candidate = ClientSet.Create(candidateWorker, size, o =>
                        {
                            baselineClient?.Invoke(o);
                            setting.Client?.Invoke(o);
                        });
                        var cell = new SweepCell { Transport = transport.ToString().ToLowerInvariant(), BatchSize = size, Setting = setting };
                        await ThroughputSuite.RunOnceAsync(baseline, Variant.Sdk, batch, Math.Max(1, count / 4)).ConfigureAwait(false);
                        await ThroughputSuite.RunOnceAsync(candidate, Variant.Sdk, batch, Math.Max(1, count / 4)).ConfigureAwait(false);
                        for (var rep = 0; rep < repetitions; rep++)
                        {
                            RunSample b, c;
                            if (rep % 2 == 0)
                            {
                                b = await ThroughputSuite.RunOnceAsync(baseline, Variant.Sdk, batch, count, baselineWorker.Process.Id).ConfigureAwait(false);
                                c = await ThroughputSuite.RunOnceAsync(candidate, Variant.Sdk, batch, count, candidateWorker.Process.Id).ConfigureAwait(false);
                            }
                            else
                            {
                                c = await ThroughputSuite.RunOnceAsync(candidate, Variant.Sdk, batch, count, candidateWorker.Process.Id).ConfigureAwait(false);
                                b = await ThroughputSuite.RunOnceAsync(baseline, Variant.Sdk, batch, count, baselineWorker.Process.Id).ConfigureAwait(false);
                            }

                            cell.Baseline.Add(b);
                            cell.Candidate.Add(c);
                            cell.Ratios.Add(c.MBps / b.MBps);
                        }

                        log.WriteLine(
                            $"{cell.Transport} {Format.Size(size),6} {setting.Group,-8} {setting.Name,-28} {Stats.Median(cell.Candidate.Select(s => s.MBps)),7:0.0} MB/s vs {Stats.Median(cell.Baseline.Select(s => s.MBps)),7:0.0}  ratio {Stats.Median(cell.Ratios):0.000}  " +
                            $"work items/batch {Stats.Median(cell.Candidate.Select(s => s.WorkItemsPerBatch)),6:0.0} vs {Stats.Median(cell.Baseline.Select(s => s.WorkItemsPerBatch)),6:0.0}  " +
                            $"cpu us/batch client {Stats.Median(cell.Candidate.Select(s => s.ClientCpuMicrosPerBatch)),7:0} vs {Stats.Median(cell.Baseline.Select(s => s.ClientCpuMicrosPerBatch)),7:0}, worker {Stats.Median(cell.Candidate.Select(s => s.WorkerCpuMicrosPerBatch)),7:0} vs {Stats.Median(cell.Baseline.Select(s => s.WorkerCpuMicrosPerBatch)),7:0}  " +
                            $"worker send wait us/batch {Stats.Median(cell.Candidate.Select(s => s.WorkerSendWaitMicrosPerBatch)),7:0} vs {Stats.Median(cell.Baseline.Select(s => s.WorkerSendWaitMicrosPerBatch)),7:0}");
                        cells.Add(cell);
                    }
                }
                finally
                {
                    if (own is not null)
                    {
                        await own.DisposeAsync().ConfigureAwait(false);
                    }
                }
            }
        }

        return cells;
    }

    /// <summary>The sweep as a Markdown table: one row per setting, batch size and transport.</summary>
    public static string ToMarkdown(IReadOnlyList<SweepCell> cells, Reporting.MachineInfo machine, string command, int repetitions)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var md = new System.Text.StringBuilder();
        md.AppendLine(c, $"Machine: {machine.Cores} cores ({machine.Cpu}), {machine.MemoryGiB} GiB, {machine.Runtime}; {machine.DateUtc}; load average {machine.LoadAverage}.");
        md.AppendLine(c, $"Command: `{command}`; {repetitions} alternating pairs per row; SDK echo session, one per run.");
        md.AppendLine();
        md.AppendLine("| transport | batch | side | setting | MB/s | baseline MB/s | ratio (median [min-max]) | thread-pool items/batch | engine CPU us/batch | worker CPU us/batch | worker send wait us/batch |");
        md.AppendLine("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var cell in cells)
        {
            var ratio = Stats.Median(cell.Ratios);
            md.AppendLine(c,
                $"| {cell.Transport} | {Format.Size(cell.BatchSize)} | {cell.Setting.Group} | {cell.Setting.Name} | {Stats.Median(cell.Candidate.Select(s => s.MBps)):0} | {Stats.Median(cell.Baseline.Select(s => s.MBps)):0} | {ratio:0.00} [{cell.Ratios.Min():0.00}-{cell.Ratios.Max():0.00}] | " +
                $"{Stats.Median(cell.Candidate.Select(s => s.WorkItemsPerBatch)):0.0} vs {Stats.Median(cell.Baseline.Select(s => s.WorkItemsPerBatch)):0.0} | " +
                $"{Stats.Median(cell.Candidate.Select(s => s.ClientCpuMicrosPerBatch)):0} vs {Stats.Median(cell.Baseline.Select(s => s.ClientCpuMicrosPerBatch)):0} | " +
                $"{Stats.Median(cell.Candidate.Select(s => s.WorkerCpuMicrosPerBatch)):0} vs {Stats.Median(cell.Baseline.Select(s => s.WorkerCpuMicrosPerBatch)):0} | " +
                $"{Stats.Median(cell.Candidate.Select(s => s.WorkerSendWaitMicrosPerBatch)):0} vs {Stats.Median(cell.Baseline.Select(s => s.WorkerSendWaitMicrosPerBatch)):0} |");
        }

        return md.ToString();
    }

    private const int KiB = 1024;
    private const int MiB = 1024 * 1024;

    /// <summary>
    /// The settings the sweep measures, each against the baseline: the SDK's defaults on a worker
    /// with its defaults (so the runtime's own stream window appears as a setting).
    /// </summary>
    public static IReadOnlyList<SweepSetting> DefaultSettings() =>
    [
        new("client", "stream window: runtime default", o => o.Connection.Http2InitialStreamWindowSize = null),
        new("client", "stream window 1 MiB", o => o.Connection.Http2InitialStreamWindowSize = 1 * MiB),
        new("client", "stream window 16 MiB", o => o.Connection.Http2InitialStreamWindowSize = 16 * MiB),
        new("client", "socket buffers 256 KiB", o => o.Connection.SocketBufferSize = 256 * KiB),
        new("client", "socket buffers 1 MiB", o => o.Connection.SocketBufferSize = 1 * MiB),
        new("client", "socket buffers 4 MiB", o => o.Connection.SocketBufferSize = 4 * MiB),
        new("worker", "Kestrel windows default", WorkerArguments: ["--http2-connection-window", (1 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), "--http2-stream-window", (768 * KiB).ToString(System.Globalization.CultureInfo.InvariantCulture)]),
        new("worker", "stream window 16 MiB", WorkerArguments: ["--http2-connection-window", (64 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), "--http2-stream-window", (16 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture)]),
        new("worker", "max frame 1 MiB", WorkerArguments: ["--http2-max-frame-size", (1 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture)]),
        new("worker", "workstation GC", WorkerEnvironment: new Dictionary<string, string> { ["DOTNET_gcServer"] = "0" }),
    ];
}
