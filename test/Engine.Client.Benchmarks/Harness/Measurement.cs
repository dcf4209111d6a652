using System.Diagnostics;
using System.Globalization;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>Reads memory figures from <c>/proc/&lt;pid&gt;/status</c> (Linux).</summary>
public static class ProcStatus
{
    /// <summary>A <c>kB</c> field of <c>/proc/&lt;pid&gt;/status</c> (VmHWM, VmRSS, ...) in bytes; 0 when unavailable.</summary>
    public static long Read(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal) && line.Length > field.Length && line[field.Length] == ':')
                {
                    var value = line[(field.Length + 1)..].Trim();
                    var space = value.IndexOf(' ', StringComparison.Ordinal);
                    return long.Parse(space < 0 ? value : value[..space], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return 0;
    }

    /// <summary>CPU time (user + system) a process used so far, from <c>/proc/&lt;pid&gt;/stat</c>; zero when unavailable.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");

            // Fields after the command name (which may hold spaces) start after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>USER_HZ: 100 on every Linux architecture .NET runs on.</summary>
    private const int ClockTicksPerSecond = 100;

    /// <summary>This process's peak resident set (VmHWM) in bytes.</summary>
    public static long SelfPeakWorkingSet() => Read(Environment.ProcessId, "VmHWM");

    /// <summary>This process's peak resident set since it started (before any reset).</summary>
    public static long SelfPeakWorkingSetSinceStart() => Math.Max(s_peakBeforeResets, SelfPeakWorkingSet());

    private static long s_peakBeforeResets;

    /// <summary>
    /// Resets this process's peak resident set to its current one (Linux <c>clear_refs</c> 5), so
    /// the next peak belongs to the next run. Returns <see langword="false"/> when not supported.
    /// </summary>
    public static bool ResetSelfPeakWorkingSet()
    {
        s_peakBeforeResets = Math.Max(s_peakBeforeResets, SelfPeakWorkingSet());
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}

/// <summary>What one measured run did and cost.</summary>
public sealed record RunSample
{
    public required double Seconds { get; init; }

    public required long Bytes { get; init; }

    public required long Batches { get; init; }

    /// <summary>Bytes allocated by the whole process during the run (every thread).</summary>
    public required long AllocatedBytes { get; init; }

    /// <summary>Peak resident set of this process during the run (VmHWM after a reset at its start).</summary>
    public required long PeakWorkingSet { get; init; }

    /// <summary>Largest GC heap size sampled during the run (live and not yet collected objects).</summary>
    public required long PeakGcHeap { get; init; }

    /// <summary>CPU time of this (the engine's) process during the run.</summary>
    public required double ClientCpuSeconds { get; init; }

    /// <summary>CPU time of the worker process during the run; 0 when not measured.</summary>
    public double WorkerCpuSeconds { get; init; }

    /// <summary>Thread-pool work items completed during the run: thread hops, mostly.</summary>
    public required long WorkItems { get; init; }

    public required long LockContentions { get; init; }

    public required int Gen0 { get; init; }

    public required int Gen1 { get; init; }

    public required int Gen2 { get; init; }

    /// <summary>Payload megabytes (10^6 bytes) per second, one direction.</summary>
    public double MBps => Bytes / Seconds / 1e6;

    public double BatchesPerSecond => Batches / Seconds;

    public double AllocatedPerBatch => Batches == 0 ? 0 : (double)AllocatedBytes / Batches;

    /// <summary>Engine-side CPU microseconds per batch: robust to a busy machine where wall time is not.</summary>
    public double ClientCpuMicrosPerBatch => Batches == 0 ? 0 : ClientCpuSeconds * 1e6 / Batches;

    public double WorkItemsPerBatch => Batches == 0 ? 0 : (double)WorkItems / Batches;

    public double WorkerCpuMicrosPerBatch => Batches == 0 ? 0 : WorkerCpuSeconds * 1e6 / Batches;

    /// <summary>The worker's time in response writes (waiting for HTTP/2 flow control, mostly), per batch.</summary>
    public double WorkerSendWaitMicrosPerBatch { get; init; }

    /// <summary>The worker's time waiting for the next request, per batch.</summary>
    public double WorkerReceiveWaitMicrosPerBatch { get; init; }
}

/// <summary>
/// Measures one run: wall time, process-wide allocations (<see cref="GC.GetTotalAllocatedBytes(bool)"/>
/// deltas, since the session's work spans thread-pool threads), GC counts, peak working set and a
/// sampled peak GC heap.
/// </summary>
public sealed class RunMeter : IDisposable
{
    private readonly long _startAllocated;
    private readonly int _gen0, _gen1, _gen2;
    private readonly Stopwatch _clock;
    private readonly TimeSpan _startCpu;
    private readonly long _startWorkItems;
    private readonly long _startContentions;
    private readonly int _workerPid;
    private readonly TimeSpan _startWorkerCpu;
    private readonly Thread _sampler;
    private volatile bool _stop;
    private long _peakHeap;

    private RunMeter(int workerPid)
    {
        _workerPid = workerPid;
        ProcStatus.ResetSelfPeakWorkingSet();
        _peakHeap = GC.GetTotalMemory(false);
        _sampler = new Thread(Sample) { IsBackground = true, Name = "bench-memory-sampler" };
        _sampler.Start();
        _gen0 = GC.CollectionCount(0);
        _gen1 = GC.CollectionCount(1);
        _gen2 = GC.CollectionCount(2);
        _startAllocated = GC.GetTotalAllocatedBytes(precise: true);
        _startWorkerCpu = workerPid > 0 ? ProcStatus.CpuTime(workerPid) : TimeSpan.Zero;
        _startCpu = Environment.CpuUsage.TotalTime;
        _startWorkItems = ThreadPool.CompletedWorkItemCount;
        _startContentions = Monitor.LockContentionCount;
        _clock = Stopwatch.StartNew();
    }

    /// <summary>Starts measuring; <paramref name="workerPid"/> (when positive) also gets its CPU time measured.</summary>
    public static RunMeter Start(int workerPid = 0) => new(workerPid);

    public RunSample Stop(EchoTotals totals) => Stop(totals.Bytes, totals.Batches) with
    {
        WorkerSendWaitMicrosPerBatch = totals.Batches == 0 ? 0 : totals.WorkerSendWallNanos / 1e3 / totals.Batches,
        WorkerReceiveWaitMicrosPerBatch = totals.Batches == 0 ? 0 : totals.WorkerReceiveWallNanos / 1e3 / totals.Batches,
    };

    public RunSample Stop(long bytes, long batches)
    {
        var seconds = _clock.Elapsed.TotalSeconds;
        var cpu = Environment.CpuUsage.TotalTime - _startCpu;
        var workItems = ThreadPool.CompletedWorkItemCount - _startWorkItems;
        var contentions = Monitor.LockContentionCount - _startContentions;
        var workerCpu = _workerPid > 0 ? ProcStatus.CpuTime(_workerPid) - _startWorkerCpu : TimeSpan.Zero;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - _startAllocated;
        _stop = true;
        _sampler.Join();
        return new RunSample
        {
            Seconds = seconds,
            Bytes = bytes,
            Batches = batches,
            AllocatedBytes = allocated,
            PeakWorkingSet = ProcStatus.SelfPeakWorkingSet(),
            ClientCpuSeconds = cpu.TotalSeconds,
            WorkItems = workItems,
            LockContentions = contentions,
            WorkerCpuSeconds = workerCpu.TotalSeconds,
            PeakGcHeap = Math.Max(Interlocked.Read(ref _peakHeap), GC.GetTotalMemory(false)),
            Gen0 = GC.CollectionCount(0) - _gen0,
            Gen1 = GC.CollectionCount(1) - _gen1,
            Gen2 = GC.CollectionCount(2) - _gen2,
        };
    }

    public void Dispose()
    {
        _stop = true;
    }

    private void Sample()
    {
        while (!_stop)
        {
            var heap = GC.GetTotalMemory(false);
            if (heap > Interlocked.Read(ref _peakHeap))
            {
                Interlocked.Exchange(ref _peakHeap, heap);
            }

            // The sampling period of the peak heap, on a dedicated thread: no synchronisation rides on it.
            Thread.Sleep(5);
        }
    }
}

/// <summary>Medians and spreads.</summary>
public static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>The <paramref name="percent"/>th percentile, linearly interpolated between ranks.</summary>
    public static double Percentile(IEnumerable<double> values, double percent)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = percent / 100 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }
}
