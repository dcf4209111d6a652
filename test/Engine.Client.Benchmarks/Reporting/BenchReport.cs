using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Client.Benchmarks.Harness;

namespace Engine.Client.Benchmarks.Reporting;

/// <summary>Summary of one variant's runs in a throughput cell.</summary>
public sealed record VariantSummary(
    double MedianMBps,
    double MedianBatchesPerSecond,
    double MedianAllocatedBytesPerBatch,
    double MedianClientCpuMicrosPerBatch,
    double MedianWorkerCpuMicrosPerBatch,
    double MedianThreadPoolWorkItemsPerBatch,
    long MaxPeakWorkingSetBytes,
    long MaxPeakGcHeapBytes,
    IReadOnlyList<RunSample> Runs);

/// <summary>Median and spread (quartiles, extremes) of per-repetition ratios.</summary>
public sealed record RatioSummary(double Median, double P25, double P75, double Min, double Max, IReadOnlyList<double> Values)
{
    public static RatioSummary Of(IReadOnlyList<double> values) => values.Count == 0
        ? new(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, values)
        : new(Stats.Median(values), Stats.Percentile(values, 25), Stats.Percentile(values, 75), values.Min(), values.Max(), values);
}

public sealed record ThroughputEntry(
    string Transport,
    int BatchSize,
    long BatchesPerRun,
    VariantSummary Sdk,
    VariantSummary HandSdkTransport,
    VariantSummary HandGrpcDefaults,
    RatioSummary SdkOverHandSameTransport,
    RatioSummary SdkOverHandOwnDefaults)
{
    public static ThroughputEntry From(ThroughputCell cell) => new(
        cell.Transport,
        cell.BatchSize,
        cell.BatchesPerRun,
        Summarize(cell, Variant.Sdk),
        Summarize(cell, Variant.HandSdkTransport),
        Summarize(cell, Variant.HandGrpcDefaults),
        RatioSummary.Of(cell.RatiosSameTransport),
        RatioSummary.Of(cell.RatiosOwnDefaults));

    private static VariantSummary Summarize(ThroughputCell cell, Variant variant)
    {
        var runs = cell.Samples[variant];
        return new VariantSummary(
            cell.MedianMBps(variant),
            cell.MedianBatchesPerSecond(variant),
            cell.MedianAllocatedPerBatch(variant),
            Stats.Median(runs.Select(r => r.ClientCpuMicrosPerBatch)),
            Stats.Median(runs.Select(r => r.WorkerCpuMicrosPerBatch)),
            Stats.Median(runs.Select(r => r.WorkItemsPerBatch)),
            cell.MaxPeakWorkingSet(variant),
            cell.MaxPeakGcHeap(variant),
            runs);
    }
}

public sealed record ChurnSide(string Name, long Sessions, double SessionsPerSecond, double MedianBlockRate, double P50Micros, double P99Micros, double AllocatedBytesPerSession, IReadOnlyList<double> BlockRates)
{
    public static ChurnSide From(ChurnResult result) => new(
        result.Name, result.Sessions, result.SessionsPerSecond, result.MedianBlockRate, result.P50Micros, result.P99Micros, result.AllocatedPerSession, result.BlockRates);
}

public sealed record ChurnEntry(string Transport, ChurnSide Sdk, ChurnSide Hand, RatioSummary SdkOverHand, PhaseTimes? SdkPhases, PhaseTimes? HandPhases)
{
    public static ChurnEntry From(ChurnCell cell) =>
        new(cell.Transport, ChurnSide.From(cell.Sdk), ChurnSide.From(cell.Hand), RatioSummary.Of(cell.Ratios), cell.Phases?.Sdk, cell.Phases?.Hand);
}

/// <summary>The SDK's transport settings in effect for the run.</summary>
public sealed record TransportDefaults(int? Http2InitialStreamWindowSize, int? SocketBufferSize, int MaxSendMessageSize, int MaxReceiveMessageSize, int OutputBufferCapacity)
{
    public static TransportDefaults Of(WorkerClientOptions options) => new(
        options.Connection.Http2InitialStreamWindowSize, options.Connection.SocketBufferSize, options.Connection.MaxSendMessageSize, options.Connection.MaxReceiveMessageSize, options.Session.OutputBufferCapacity);
}

/// <summary>Everything one <c>e2e</c> run measured: written as JSON and rendered as Markdown.</summary>
public sealed class BenchReport
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public required MachineInfo Machine { get; init; }

    public required string Command { get; init; }

    public required int Repetitions { get; init; }

    public required double Scale { get; init; }

    public required TransportDefaults SdkTransport { get; init; }

    public List<ThroughputEntry> Throughput { get; } = [];

    public List<ChurnEntry> Churn { get; } = [];

    public List<SoakResult> Soak { get; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        md.AppendLine(c, $"Machine: {Machine.Cores} cores ({Machine.Cpu}), {Machine.MemoryGiB} GiB, {Machine.Os}, {Machine.Runtime}; {Machine.DateUtc}; 1-minute load average (start/end) {Machine.LoadAverage}.");
        md.AppendLine();
        md.AppendLine(c, $"Command: `{Command}` ({Repetitions} repetitions, data scale {Scale}).");
        md.AppendLine();
        md.AppendLine(c, $"SDK transport settings: stream window {Describe(SdkTransport.Http2InitialStreamWindowSize)}, socket buffers {Describe(SdkTransport.SocketBufferSize)}, max send message {Format.Size(SdkTransport.MaxSendMessageSize)} (the worker's limit), max receive message {Format.Size(SdkTransport.MaxReceiveMessageSize)}, output buffer {SdkTransport.OutputBufferCapacity} batches.");
        md.AppendLine();

        if (Throughput.Count > 0)
        {
            md.AppendLine("#### Throughput: echo through one session per run (medians; a ratio is the median of per-repetition ratios of adjacent runs, interquartile range in brackets)");
            md.AppendLine();
            md.AppendLine("| transport | batch | SDK MB/s | SDK batches/s | hand-written, SDK transport MB/s | hand-written, gRPC defaults MB/s | (a) SDK / hand-written, same transport | (b) SDK defaults / hand-written gRPC defaults |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var e in Throughput)
            {
                md.AppendLine(c, $"| {e.Transport} | {Format.Size(e.BatchSize)} | {e.Sdk.MedianMBps:0.0} | {e.Sdk.MedianBatchesPerSecond:0} | {e.HandSdkTransport.MedianMBps:0.0} | {e.HandGrpcDefaults.MedianMBps:0.0} | {Ratio(e.SdkOverHandSameTransport)} | {Ratio(e.SdkOverHandOwnDefaults)} |");
            }

            md.AppendLine();
            md.AppendLine("#### Cost per batch (medians; allocations are process-wide; peaks are the largest of the runs)");
            md.AppendLine();
            md.AppendLine("| transport | batch | allocated/batch SDK | allocated/batch hand-written | engine CPU us/batch SDK | engine CPU us/batch hand-written | thread-pool items/batch SDK | thread-pool items/batch hand-written | peak working set SDK | peak working set hand-written | peak GC heap SDK |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var e in Throughput)
            {
                md.AppendLine(c, $"| {e.Transport} | {Format.Size(e.BatchSize)} | {Bytes(e.Sdk.MedianAllocatedBytesPerBatch)} | {Bytes(e.HandSdkTransport.MedianAllocatedBytesPerBatch)} | {e.Sdk.MedianClientCpuMicrosPerBatch:0.0} | {e.HandSdkTransport.MedianClientCpuMicrosPerBatch:0.0} | {e.Sdk.MedianThreadPoolWorkItemsPerBatch:0.0} | {e.HandSdkTransport.MedianThreadPoolWorkItemsPerBatch:0.0} | {Format.MiB(e.Sdk.MaxPeakWorkingSetBytes)} | {Format.MiB(e.HandSdkTransport.MaxPeakWorkingSetBytes)} | {Format.MiB(e.Sdk.MaxPeakGcHeapBytes)} |");
            }

            md.AppendLine();
        }

        if (Churn.Count > 0)
        {
            md.AppendLine("#### Session churn: open, Init, one 1 KiB batch, Finish, outcome; one session at a time");
            md.AppendLine();
            md.AppendLine("| transport | SDK sessions/s | hand-written sessions/s | SDK / hand-written | SDK p50 / p99 | hand-written p50 / p99 | allocated/session SDK | allocated/session hand-written |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var e in Churn)
            {
                md.AppendLine(c, $"| {e.Transport} | {e.Sdk.SessionsPerSecond:0} | {e.Hand.SessionsPerSecond:0} | {Ratio(e.SdkOverHand)} | {e.Sdk.P50Micros:0} / {e.Sdk.P99Micros:0} us | {e.Hand.P50Micros:0} / {e.Hand.P99Micros:0} us | {Bytes(e.Sdk.AllocatedBytesPerSession)} | {Bytes(e.Hand.AllocatedBytesPerSession)} |");
            }

            md.AppendLine();
            md.AppendLine("Where a short session's time goes (median microseconds per phase, sessions alternating):");
            md.AppendLine();
            md.AppendLine("| transport | client | Init until the answer is in hand | the echoed batch | FinishResponse | close (half-close to end of stream) | total |");
            md.AppendLine("|---|---|---:|---:|---:|---:|---:|");
            foreach (var e in Churn)
            {
                foreach (var p in new[] { e.SdkPhases, e.HandPhases })
                {
                    if (p is not null)
                    {
                        md.AppendLine(c, $"| {e.Transport} | {p.Name} | {p.InitMicros:0} | {p.EchoMicros:0} | {p.FinishMicros:0} | {p.CloseMicros:0} | {p.TotalMicros:0} |");
                    }
                }
            }

            md.AppendLine();
        }

        if (Soak.Count > 0)
        {
            md.AppendLine("#### One session, many GiB (echo; each row a fresh process)");
            md.AppendLine();
            md.AppendLine("| client | transport | batch | data | MB/s | peak working set (engine, whole process life) | peak GC heap | GC heap after | gen2 GCs | worker peak working set | under 300 MiB |");
            md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (var s in Soak)
            {
                md.AppendLine(c, $"| {s.Client} | {s.Transport} | {Format.Size(s.BatchSize)} | {Format.Size(s.Bytes)} | {s.MBps:0} | {Format.MiB(s.PeakWorkingSetSinceStart)} | {Format.MiB(s.PeakGcHeap)} | {Format.MiB(s.GcHeapAfter)} | {s.Gen2} | {Format.MiB(s.WorkerPeakWorkingSet)} | {(s.PeakWorkingSetSinceStart < Runs.SoakLimit ? "yes" : "NO")} |");
            }

            md.AppendLine();
        }

        AppendTargets(md);
        return md.ToString();
    }

    private void AppendTargets(StringBuilder md)
    {
        var c = CultureInfo.InvariantCulture;
        md.AppendLine("#### Targets");
        md.AppendLine();
        foreach (var e in Throughput)
        {
            md.AppendLine(c, $"- (a) {e.Transport} {Format.Size(e.BatchSize)}: SDK / hand-written, same transport = {e.SdkOverHandSameTransport.Median:0.000} (target >= 0.95): {(e.SdkOverHandSameTransport.Median >= 0.95 ? "met" : "NOT met")}");
        }

        foreach (var e in Throughput.Where(e => e.BatchSize is 64 * 1024 or 1024 * 1024))
        {
            md.AppendLine(c, $"- (b) {e.Transport} {Format.Size(e.BatchSize)}: SDK defaults / hand-written gRPC defaults = {e.SdkOverHandOwnDefaults.Median:0.000} (target >= 1.2): {(e.SdkOverHandOwnDefaults.Median >= 1.2 ? "met" : "NOT met")}");
        }

        foreach (var e in Churn)
        {
            md.AppendLine(c, $"- session rate {e.Transport}: SDK / hand-written = {e.SdkOverHand.Median:0.000} (target >= 0.9): {(e.SdkOverHand.Median >= 0.9 ? "met" : "NOT met")}");
        }

        foreach (var s in Soak.Where(s => s.Client == "sdk"))
        {
            md.AppendLine(c, $"- one SDK session, {Format.Size(s.Bytes)} in {Format.Size(s.BatchSize)} batches: peak working set {Format.MiB(s.PeakWorkingSetSinceStart)} (target < 300 MiB): {(s.PeakWorkingSetSinceStart < Runs.SoakLimit ? "met" : "NOT met")}");
        }

        md.AppendLine();
    }

    private static string Ratio(RatioSummary r) =>
        string.Create(CultureInfo.InvariantCulture, $"{r.Median:0.00} ({r.P25:0.00}-{r.P75:0.00})");

    private static string Bytes(double bytes) => bytes >= 1024 * 1024
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576:0.00} MiB")
        : bytes >= 1024 ? string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024:0.0} KiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes:0} B");

    private static string Describe(int? bytes) => bytes is { } b ? Format.Size(b) : "runtime default";
}
