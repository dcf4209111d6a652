using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using HdrHistogram;

namespace Engine.Client.Load;

/// <summary>The run's counters, written with interlocked adds from every session.</summary>
internal sealed class LoadCounters
{
    public long Started;
    public long Finished;
    public long Cancelled;
    public long Failed;
    public long NotStarted;
    public long BehindSchedule;
    public long Warmup;
    public long Abandoned;
    public long InFlight;
    public long BatchesSent;
    public long RowsSent;
    public long BytesSent;
    public long BatchesReceived;
    public long RowsReceived;
    public long BytesReceived;

    /// <summary>Measured open-model starts that found every slot of the cap on sessions in flight taken, waited for one and got it.</summary>
    public long CapReached;

    /// <summary>
    /// Measured open-model starts not made because they still waited for a slot under the cap when
    /// the schedule ended (not those an interrupt stopped): the not-started warning names the cap from it.
    /// </summary>
    public long NotStartedAtCap;

    /// <summary>
    /// Whether a measured start finds the cap on sessions in flight reached (no slot free in
    /// <paramref name="slots"/>) as it begins to wait for one. Counted by <see cref="NoteCapWaited"/>
    /// once it got its slot: a start never made is counted as not started, not here.
    /// </summary>
    public static bool FindsCapReached(bool measured, SemaphoreSlim slots) => measured && slots.CurrentCount == 0;

    /// <summary>Counts a measured start that waited for a slot under the cap and then got one: the behind-schedule warning names the cap from it.</summary>
    public void NoteCapWaited() => Interlocked.Increment(ref CapReached);

    /// <summary>
    /// The counters now, read in the reverse of the order a session writes them (its start, then
    /// whether it started late, then its outcome): a snapshot never shows an outcome or a late start
    /// without the start, so an interval never ends more sessions than have started.
    /// </summary>
    public Snapshot Take()
    {
        var finished = Interlocked.Read(ref Finished);
        var cancelled = Interlocked.Read(ref Cancelled);
        var failed = Interlocked.Read(ref Failed);
        var behindSchedule = Interlocked.Read(ref BehindSchedule);
        var warmup = Interlocked.Read(ref Warmup);
        var started = Interlocked.Read(ref Started);
        return new(
            started, finished, cancelled, failed,
            Interlocked.Read(ref NotStarted), behindSchedule, Interlocked.Read(ref InFlight),
            Interlocked.Read(ref BatchesSent), Interlocked.Read(ref RowsSent), Interlocked.Read(ref BytesSent),
            Interlocked.Read(ref BatchesReceived), Interlocked.Read(ref RowsReceived), Interlocked.Read(ref BytesReceived),
            warmup, Interlocked.Read(ref CapReached), Interlocked.Read(ref NotStartedAtCap));
    }

    internal readonly record struct Snapshot(
        long Started, long Finished, long Cancelled, long Failed, long NotStarted, long BehindSchedule, long InFlight,
        long BatchesSent, long RowsSent, long BytesSent, long BatchesReceived, long RowsReceived, long BytesReceived,
        long Warmup, long CapReached = 0, long NotStartedAtCap = 0)
    {
        public LoadTraffic TrafficSince(Snapshot before) => new()
        {
            BatchesSent = BatchesSent - before.BatchesSent,
            RowsSent = RowsSent - before.RowsSent,
            BytesSent = BytesSent - before.BytesSent,
            BatchesReceived = BatchesReceived - before.BatchesReceived,
            RowsReceived = RowsReceived - before.RowsReceived,
            BytesReceived = BytesReceived - before.BytesReceived,
        };
    }
}

/// <summary>What one measured session did, added to the totals when it ends.</summary>
internal sealed class SessionTally
{
    public long BatchesSent;
    public long RowsSent;
    public long BytesSent;
    public long BatchesReceived;
    public long RowsReceived;
    public long BytesReceived;
}

/// <summary>Per-worker figures, one lock per worker.</summary>
internal sealed class WorkerTable
{
    private readonly ConcurrentDictionary<string, Entry> _workers = new(StringComparer.Ordinal);

    public void Add(string worker, string result, SessionTally tally, long sessionMicros)
    {
        var entry = _workers.GetOrAdd(worker, static _ => new Entry());
        lock (entry)
        {
            entry.Sessions++;
            switch (result)
            {
                case "finished": entry.Finished++; break;
                case "cancelledOnPurpose": entry.Cancelled++; break;
                case "abandoned": entry.Abandoned++; break;
                default: entry.Failed++; break;
            }

            entry.BatchesSent += tally.BatchesSent;
            entry.RowsSent += tally.RowsSent;
            entry.BytesSent += tally.BytesSent;
            entry.BatchesReceived += tally.BatchesReceived;
            entry.RowsReceived += tally.RowsReceived;
            entry.BytesReceived += tally.BytesReceived;
            if (sessionMicros > 0)
            {
                entry.Histogram.RecordValue(LatencyHistograms.Clamp(sessionMicros));
            }
        }
    }

    /// <summary>One answered heartbeat of a measured interval, sampled from <paramref name="worker"/>.</summary>
    public void AddHeartbeat(string worker, bool answered)
    {
        var entry = _workers.GetOrAdd(worker, static _ => new Entry());
        lock (entry)
        {
            if (answered)
            {
                entry.Heartbeats++;
            }
            else
            {
                entry.HeartbeatsFailed++;
            }
        }
    }

    public List<LoadWorkerFigures> Figures() => [.. _workers.Select(p =>
    {
        lock (p.Value)
        {
            var e = p.Value;
            return new LoadWorkerFigures
            {
                Worker = p.Key,
                Sessions = e.Sessions,
                Finished = e.Finished,
                Cancelled = e.Cancelled,
                Failed = e.Failed,
                Abandoned = e.Abandoned,
                Heartbeats = e.Heartbeats,
                HeartbeatsFailed = e.HeartbeatsFailed,
                Traffic = new LoadTraffic
                {
                    BatchesSent = e.BatchesSent, RowsSent = e.RowsSent, BytesSent = e.BytesSent,
                    BatchesReceived = e.BatchesReceived, RowsReceived = e.RowsReceived, BytesReceived = e.BytesReceived,
                },
                Session = e.Histogram.Copy(),
            };
        }
    }).OrderBy(w => w.Worker, StringComparer.Ordinal)];

    private sealed class Entry
    {
        public long Sessions;
        public long Finished;
        public long Cancelled;
        public long Failed;
        public long Abandoned;
        public long Heartbeats;
        public long HeartbeatsFailed;
        public long BatchesSent;
        public long RowsSent;
        public long BytesSent;
        public long BatchesReceived;
        public long RowsReceived;
        public long BytesReceived;
        public LongHistogram Histogram { get; } = LatencyHistograms.Create();
    }
}

/// <summary>Failed sessions by kind, with the first messages of each.</summary>
internal sealed class ErrorTable
{
    private readonly ConcurrentDictionary<(string Outcome, string? Kind, string? Status), Entry> _errors = new();

    public void Add(string outcome, string? kind, string? status, string? message)
    {
        var entry = _errors.GetOrAdd((outcome, kind, status), static _ => new Entry());
        lock (entry)
        {
            entry.Count++;
            if (message is not null && entry.Messages.Count < LoadErrorKind.MaxMessages
                && ErrorMessages.Shape(message) is var shape && !entry.Shapes.Contains(shape))
            {
                entry.Messages.Add(message);
                entry.Shapes.Add(shape);
            }
        }
    }

    public Dictionary<string, long> ByOutcome() => _errors.GroupBy(p => p.Key.Outcome, StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.Sum(p => Volatile.Read(ref p.Value.Count)), StringComparer.Ordinal);

    public List<LoadErrorKind> Kinds() => [.. _errors.Select(p =>
    {
        lock (p.Value)
        {
            return new LoadErrorKind
            {
                Outcome = p.Key.Outcome,
                ErrorKind = p.Key.Kind,
                Status = p.Key.Status,
                Count = p.Value.Count,
                Messages = [.. p.Value.Messages],
            };
        }
    }).OrderByDescending(e => e.Count)];

    private sealed class Entry
    {
        public long Count;
        public List<string> Messages { get; } = [];

        // The kept messages' shapes (ErrorMessages.Shape), each masked once.
        public HashSet<string> Shapes { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>
/// The generator's own figures, sampled at each interval: process CPU time, GC pause time,
/// allocated bytes, the thread-pool queue.
/// </summary>
internal sealed class GeneratorMonitor
{
    private readonly Func<long> _timestamp;
    private readonly Func<TimeSpan> _cpu;
    private readonly int _cores;
    private readonly long _startTimestamp;
    private readonly TimeSpan _startCpu;
    private readonly TimeSpan _startPause;
    private readonly long _startAllocated;
    private long _lastTimestamp;
    private TimeSpan _lastCpu;
    private TimeSpan _lastPause;
    private long _lastAllocated;
    private double _cpuMax;
    private double _cpuMaxOfShortSamples;
    private int _longSamples;
    private long _queueMax;
    private double _queueSum;
    private int _samples;

    public GeneratorMonitor()
        : this(Stopwatch.GetTimestamp, ProcessCpu(), Environment.ProcessorCount)
    {
    }

    /// <summary>A monitor reading the time (<see cref="Stopwatch"/> ticks) and the process's CPU time from the given functions.</summary>
    internal GeneratorMonitor(Func<long> timestamp, Func<TimeSpan> cpu, int cores)
    {
        _timestamp = timestamp;
        _cpu = cpu;
        _cores = cores;
        _startTimestamp = _lastTimestamp = _timestamp();
        _startCpu = _lastCpu = Cpu();
        _startPause = _lastPause = GC.GetTotalPauseDuration();
        _startAllocated = _lastAllocated = GC.GetTotalAllocatedBytes();
    }

    /// <summary>The shortest sample whose CPU share counts towards the busiest one (<see cref="LoadGeneratorFigures.CpuPercentMax"/>).</summary>
    internal static readonly TimeSpan ShortestSampleForMax = TimeSpan.FromMilliseconds(50);

    private int Cores => _cores;

    public Sample Next()
    {
        var now = _timestamp();
        var cpu = Cpu();
        var pause = GC.GetTotalPauseDuration();
        var allocated = GC.GetTotalAllocatedBytes();
        var queue = ThreadPool.PendingWorkItemCount;
        var wall = Stopwatch.GetElapsedTime(_lastTimestamp, now);
        var cpuPercent = wall > TimeSpan.Zero ? 100.0 * (cpu - _lastCpu).TotalSeconds / (wall.TotalSeconds * Cores) : 0;
        var sample = new Sample(Math.Max(0, cpuPercent), (pause - _lastPause).TotalMilliseconds, allocated - _lastAllocated, queue);
        _lastTimestamp = now;
        _lastCpu = cpu;
        _lastPause = pause;
        _lastAllocated = allocated;
        // A sample of a few milliseconds (the run's last, cut short) reads the CPU clock's coarse
        // steps as a busy stretch: it counts in the mean, weighted by its length, and in the max
        // only when no sample is longer.
        if (wall >= ShortestSampleForMax)
        {
            _cpuMax = Math.Max(_cpuMax, sample.CpuPercent);
            _longSamples++;
        }
        else
        {
            _cpuMaxOfShortSamples = Math.Max(_cpuMaxOfShortSamples, sample.CpuPercent);
        }

        _queueMax = Math.Max(_queueMax, queue);
        _queueSum += queue;
        _samples++;
        return sample;
    }

    /// <summary>
    /// The run's figures. Every figure covers the same window as the intervals' samples, from the
    /// first interval's start to the last one's end: the CPU mean is the CPU time over that wall
    /// time, a mean of the intervals weighted by their length, so it never exceeds the busiest
    /// one; the GC pause and the allocation rate are those of the intervals added up, over their
    /// time. Work after the last interval (building the result, which allocates its histograms'
    /// copies) is in none of them.
    /// </summary>
    public LoadGeneratorFigures Figures(string host, LoadCounters.Snapshot counters, LoadModelKind model, int maxInFlight = 0)
    {
        if (_samples == 0)
        {
            Next();
        }

        if (_longSamples == 0)
        {
            _cpuMax = Math.Max(_cpuMax, _cpuMaxOfShortSamples);
        }

        var sampled = Stopwatch.GetElapsedTime(_startTimestamp, _lastTimestamp).TotalSeconds;
        var cpuMean = sampled > 0 ? Math.Min(_cpuMax, Math.Max(0, 100.0 * (_lastCpu - _startCpu).TotalSeconds / (sampled * Cores))) : _cpuMax;
        var seconds = Math.Max(sampled, 1e-9);
        var pauseMs = (_lastPause - _startPause).TotalMilliseconds;
        var pausePercent = 100.0 * pauseMs / 1000.0 / seconds;
        var queueMean = _samples == 0 ? 0 : _queueSum / _samples;
        var warnings = new List<string>();
        if (cpuMean >= 80)
        {
            warnings.Add($"the generator used {cpuMean:0}% of its {Cores} cores on average: it may have set the pace; run it on more cores or spread it over shards.");
        }
        else if (_cpuMax >= 95)
        {
            warnings.Add($"the generator used {_cpuMax:0}% of its {Cores} cores in its busiest second: figures of that second may reflect the generator.");
        }

        if (pausePercent >= 5)
        {
            warnings.Add($"garbage collection paused the generator {pausePercent:0.#}% of the time ({pauseMs:0} ms): latencies include those pauses.");
        }

        if (queueMean >= 50 || _queueMax >= 1000)
        {
            warnings.Add($"the generator's thread pool had work waiting (mean {queueMean:0}, max {_queueMax}): it, not the workers, may have set the pace.");
        }

        // The measured due starts: the base of the thresholds' percentages too (LoadSessionCounts.DueStarts).
        var starts = counters.Started + counters.NotStarted;
        if (model == LoadModelKind.Open && starts > 0 && counters.BehindSchedule > starts / 100)
        {
            warnings.Add(BehindScheduleWarning(counters, starts, maxInFlight, cpuMean, queueMean, pausePercent));
        }

        if (model == LoadModelKind.Open && counters.NotStartedAtCap > 0)
        {
            // Any number: a start not made at all is not noise, and without this warning a run whose
            // every start waited for a held slot has counts and no word on why.
            warnings.Add($"{counters.NotStartedAtCap} of {starts} due starts were not made: they were still waiting for a slot under the cap on sessions in flight ({CapOption(maxInFlight)}) when the schedule ended, for no session in flight ended in time; raise the cap, or read the run as one of an overloaded or stalled system (or of a busy generator, when a warning says so).");
        }

        return new LoadGeneratorFigures
        {
            Host = host,
            Cores = Cores,
            CpuPercentMean = Math.Round(cpuMean, 2),
            CpuPercentMax = Math.Round(_cpuMax, 2),
            GcPauseMilliseconds = Math.Round(pauseMs, 3),
            GcPausePercent = Math.Round(pausePercent, 3),
            AllocatedBytesPerSecond = Math.Round((_lastAllocated - _startAllocated) / seconds),
            ThreadPoolQueueMax = _queueMax,
            ThreadPoolQueueMean = Math.Round(queueMean, 2),
            Warnings = warnings,
        };
    }

    /// <summary>
    /// The behind-schedule warning, naming the likely cause from what the run recorded: the cap on
    /// sessions in flight reached (starts waited for a slot: the sessions in flight, that is the
    /// workers, were too slow to end for the rate at that cap); else the generator's own figures
    /// (CPU, thread-pool queue, GC pauses) when they show it busy; else neither, and the scheduler
    /// woke late with the generator otherwise idle.
    /// </summary>
    private string BehindScheduleWarning(LoadCounters.Snapshot counters, long starts, int maxInFlight, double cpuMean, double queueMean, double pausePercent)
    {
        var head = $"{counters.BehindSchedule} of {starts} starts ran behind schedule (their latency counts from the intended start)";
        var waited = counters.CapReached == 1 ? "1 start" : $"{counters.CapReached} starts";

        // The generator first: a busy generator also holds the cap's slots with sessions it has
        // not yet run, and then the cap is not the workers' doing.
        if (cpuMean >= 80 || _cpuMax >= 95 || queueMean >= 50 || _queueMax >= 1000 || pausePercent >= 5)
        {
            var cap = counters.CapReached > 0 ? $"; {waited} also waited for a slot under the cap on sessions in flight ({CapOption(maxInFlight)}), slots the generator's own queued sessions may have held" : string.Empty;
            return $"{head}: the generator was busy (CPU mean {cpuMean:0}%, max {_cpuMax:0}% of {Cores} cores; thread-pool queue max {_queueMax}; GC pauses {pausePercent:0.#}% of the time) and could not keep the rate{cap}.";
        }

        if (counters.CapReached > 0)
        {
            return $"{head}: {waited} found the cap on sessions in flight reached ({CapOption(maxInFlight)}) and waited for a session to end; the workers did not end sessions fast enough for the rate at that cap: raise the cap, or read the latencies as those of an overloaded system.";
        }

        return $"{head}: the cap on sessions in flight was never reached and the generator was not busy (CPU max {_cpuMax:0}% of {Cores} cores, thread-pool queue max {_queueMax}): its scheduler woke late (a stalled process or host, a coarse timer).";
    }

    private static string CapOption(int maxInFlight) => maxInFlight > 0 ? $"--max-in-flight {maxInFlight}" : "--max-in-flight";

    private TimeSpan Cpu() => _cpu();

    private static Func<TimeSpan> ProcessCpu()
    {
        var process = Process.GetCurrentProcess();
        return () =>
        {
            process.Refresh();
            return process.TotalProcessorTime;
        };
    }

    internal readonly record struct Sample(double CpuPercent, double GcPauseMilliseconds, long AllocatedBytes, long ThreadPoolQueue);
}

/// <summary>
/// How the first messages of an error kind are told apart: messages that differ only in the
/// session's number (the SDK's <c>[worker ..., session 12, ...]</c>) are one message, so that the
/// few kept say different things.
/// </summary>
internal static partial class ErrorMessages
{
    /// <summary>The message with its session numbers masked: two messages of one shape differ in nothing else.</summary>
    public static string Shape(string message) => SessionNumber().Replace(message, "session #");

    [GeneratedRegex(@"\bsession [0-9]+\b", RegexOptions.CultureInvariant)]
    private static partial Regex SessionNumber();
}
