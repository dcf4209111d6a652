using HdrHistogram;

namespace Engine.Client.Load;

/// <summary>
/// What a load test (or the merge of several shards' results) measured: session counts, latency
/// histograms per phase, throughput, per-worker figures, errors by kind, the generator's own load,
/// the figures of every interval, and the thresholds checked. Written and read by
/// <see cref="LoadReports"/>; several shards' results combine exactly with <see cref="Merge"/>.
/// </summary>
public sealed class LoadResult
{
    /// <summary>The version of the JSON schema this result is written in.</summary>
    public const int CurrentSchemaVersion = 1;

    /// <summary>The JSON schema version this result was read from or is written in.</summary>
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>When the run started (UTC).</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>
    /// The measured time in seconds: from the end of warm-up to the later of the end of the last
    /// measured session and the moment starting stopped (the schedule's end, the session bound
    /// reached, or an interrupt); in the open model at least to the intended time of the first start
    /// not made (each start takes its slot of the schedule); the longest of merged shards. Every
    /// per-second figure divides by it.
    /// </summary>
    public double Seconds { get; init; }

    /// <summary>Closed or open.</summary>
    public LoadModelKind Model { get; init; }

    /// <summary>The start target of the whole run (concurrency or rate), before shard shares.</summary>
    public double Target { get; init; }

    /// <summary>The shards this result covers, as <c>i/N</c> (one for a single run).</summary>
    public IReadOnlyList<string> Shards { get; init; } = [];

    /// <summary>
    /// The runs this result covers: one random identifier (32 hex digits) that each run draws at
    /// its start, in the order of <see cref="Shards"/>. <see cref="Merge"/> refuses results that share
    /// one (the same shard's result given twice, or a merge merged again with one of its parts),
    /// which would count the same sessions twice. Empty for results written before identifiers
    /// were recorded.
    /// </summary>
    public IReadOnlyList<string> Runs { get; init; } = [];

    /// <summary>
    /// What the run targeted (<see cref="LoadTestOptions.Targets"/>: worker addresses, a DNS name, a
    /// specification file), or the names of its session sources when it did not say; for a merge,
    /// those of every result.
    /// </summary>
    public IReadOnlyList<string> Sources { get; init; } = [];

    /// <summary>The host names of the generators.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];

    /// <summary>
    /// The settings of the run, for the report (model, bounds, scenarios, labels). For a merge, a
    /// setting every result shares keeps its value; one that differs (the shards' commands and
    /// seeds, for example) lists each result's value, one line each (<c>result 1: ...</c>); and
    /// <c>mergeWarning</c> says how the results differ when they are not like runs (see
    /// <see cref="Differences"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> Configuration { get; init; } = new Dictionary<string, string>();

    /// <summary>Whether the run was stopped by its caller (Ctrl+C) before its bound.</summary>
    public bool Interrupted { get; init; }

    /// <summary>How many sessions started, ended and how.</summary>
    public LoadSessionCounts Sessions { get; init; } = new();

    /// <summary>The latency histograms by phase (<see cref="LoadPhases"/>), values in microseconds; a phase with no sample has an empty histogram.</summary>
    public IReadOnlyDictionary<string, HistogramBase> Latency { get; init; } = new Dictionary<string, HistogramBase>();

    /// <summary>Payload chunks per Init by scenario (0 when the payload travels inside Init).</summary>
    public IReadOnlyDictionary<string, int> InitChunks { get; init; } = new Dictionary<string, int>();

    /// <summary>Traffic of the measured sessions, both directions.</summary>
    public LoadTraffic Traffic { get; init; } = new();

    /// <summary>Figures per worker (by the address sessions ran on), in order of name.</summary>
    public IReadOnlyList<LoadWorkerFigures> Workers { get; init; } = [];

    /// <summary>Sessions that did not finish, by kind, each with its first messages.</summary>
    public IReadOnlyList<LoadErrorKind> Errors { get; init; } = [];

    /// <summary>The generator's own load, one entry per shard.</summary>
    public IReadOnlyList<LoadGeneratorFigures> Generators { get; init; } = [];

    /// <summary>The figures of every interval, in order (for a merge: summed by index).</summary>
    public IReadOnlyList<LoadInterval> Intervals { get; init; } = [];

    /// <summary>The thresholds checked against this result.</summary>
    public IReadOnlyList<LoadThresholdResult> Thresholds { get; init; } = [];

    /// <summary>Whether every threshold passed (true when there are none).</summary>
    public bool ThresholdsPassed => Thresholds.All(t => t.Passed);

    /// <summary>Sessions ended with an error, over the measured sessions that ended (0 when none ended).</summary>
    public double ErrorRatio
    {
        get
        {
            var ended = Sessions.Finished + Sessions.Cancelled + Sessions.FailedTotal;
            return ended == 0 ? 0 : (double)Sessions.FailedTotal / ended;
        }
    }

    /// <summary>A copy with <paramref name="thresholds"/> evaluated against it.</summary>
    /// <param name="thresholds">The thresholds.</param>
    public LoadResult WithThresholds(IEnumerable<LoadThreshold> thresholds)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        return Copy(this, Configuration, [.. thresholds.Select(t => t.Evaluate(this))]);
    }

    /// <summary>A copy whose <see cref="Configuration"/> has <paramref name="labels"/> added (replacing entries of the same key).</summary>
    /// <param name="labels">Keys and values, for example the command line of a merge.</param>
    public LoadResult WithLabels(IEnumerable<KeyValuePair<string, string>> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var configuration = new Dictionary<string, string>(Configuration, StringComparer.Ordinal);
        foreach (var (key, value) in labels)
        {
            configuration[key] = value;
        }

        return Copy(this, configuration, Thresholds);
    }

    /// <summary>
    /// Pairs of results that cover the same run (<see cref="Runs"/>): the same shard's result given
    /// twice, or a merged result given with one of its parts.
    /// </summary>
    /// <param name="results">The results, in order.</param>
    /// <returns>One entry per repeated run: the 0-based indexes of the first result that covers it and of a later one, and the run's identifier; empty when every run appears once.</returns>
    public static IReadOnlyList<(int First, int Second, string Run)> DuplicateRuns(IReadOnlyList<LoadResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var duplicates = new List<(int First, int Second, string Run)>();
        for (var i = 0; i < results.Count; i++)
        {
            foreach (var run in results[i].Runs.Distinct(StringComparer.Ordinal))
            {
                if (!seen.TryAdd(run, i))
                {
                    duplicates.Add((seen[run], i, run));
                }
            }
        }

        return duplicates;
    }

    /// <summary>
    /// The settings in which <paramref name="results"/> differ so that they are not like runs (the
    /// shards of one run differ in none): the <c>model</c>, the <c>target</c>, the <c>sources</c>,
    /// and the configuration's <c>stages</c>, <c>duration</c>, <c>sessions</c>, <c>warmup</c> and
    /// <c>scenarios</c>. A merge of unlike runs is still exact arithmetic, but its figures pool runs
    /// that measured different things.
    /// </summary>
    /// <param name="results">The results, in order.</param>
    /// <returns>One entry per differing setting, in the order above; empty for like runs.</returns>
    public static IReadOnlyList<LoadResultDifference> Differences(IReadOnlyList<LoadResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var differences = new List<LoadResultDifference>();
        void Compare(string setting, Func<LoadResult, string> value)
        {
            var values = results.Select(value).ToList();
            if (values.Distinct(StringComparer.Ordinal).Skip(1).Any())
            {
                differences.Add(new LoadResultDifference(setting, values));
            }
        }

        Compare("model", r => ModelText(r.Model));
        Compare("target", r => r.Target.ToString(System.Globalization.CultureInfo.InvariantCulture) + (r.Model == LoadModelKind.Open ? " sessions/s" : " concurrent sessions"));
        Compare("sources", r => string.Join(", ", r.Sources.Order(StringComparer.Ordinal)));
        foreach (var key in LikeRunSettings)
        {
            Compare(key, r => r.Configuration.TryGetValue(key, out var v) ? v : NotRecorded);
        }

        return differences;
    }

    /// <summary>
    /// Combines the results of several shards (or runs) exactly: counts and traffic add up, the
    /// histograms add up (so every percentile equals that of one histogram of all values),
    /// intervals add up by index, workers by name, errors by kind. Thresholds are dropped: evaluate
    /// them on the merge. The merge is exact for like runs (the shards of one run); for results that
    /// are not (<see cref="Differences"/>: an open and a closed model, other targets or sources) it
    /// still adds everything up, keeps the first result's <see cref="Model"/> and
    /// <see cref="Target"/>, and records the differences in the <see cref="Configuration"/>
    /// (<c>mergeWarning</c>, and each result's value of every setting that differs).
    /// </summary>
    /// <param name="results">At least one result, all of the current schema version.</param>
    /// <exception cref="ArgumentException">
    /// No result was given, or two results cover the same run (<see cref="Runs"/>): their sessions
    /// would be counted twice. <see cref="DuplicateRuns"/> names them.
    /// </exception>
    public static LoadResult Merge(IReadOnlyList<LoadResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count == 0)
        {
            throw new ArgumentException("Give at least one result to merge.", nameof(results));
        }

        if (DuplicateRuns(results) is { Count: > 0 } duplicates)
        {
            var (first, second, run) = duplicates[0];
            throw new ArgumentException(
                $"Results {first + 1} and {second + 1} both cover run {run}: merging them would count its sessions twice. Give each shard's result once.",
                nameof(results));
        }

        var latency = new Dictionary<string, HistogramBase>(StringComparer.Ordinal);
        foreach (var result in results)
        {
            foreach (var (phase, histogram) in result.Latency)
            {
                if (!latency.TryGetValue(phase, out var total))
                {
                    latency[phase] = total = LatencyHistograms.Create();
                }

                total.Add(histogram);
            }
        }

        var workers = results.SelectMany(r => r.Workers).GroupBy(w => w.Worker, StringComparer.Ordinal)
            .Select(g => LoadWorkerFigures.Merge(g.ToList())).OrderBy(w => w.Worker, StringComparer.Ordinal).ToList();
        var errors = results.SelectMany(r => r.Errors).GroupBy(e => e.Key, StringComparer.Ordinal)
            .Select(g => new LoadErrorKind
            {
                Outcome = g.First().Outcome,
                ErrorKind = g.First().ErrorKind,
                Status = g.First().Status,
                Count = g.Sum(e => e.Count),
                Messages = [.. g.SelectMany(e => e.Messages).DistinctBy(ErrorMessages.Shape, StringComparer.Ordinal).Take(LoadErrorKind.MaxMessages)],
            }).OrderByDescending(e => e.Count).ToList();
        var intervals = new List<LoadInterval>();
        var count = results.Max(r => r.Intervals.Count);
        for (var i = 0; i < count; i++)
        {
            // Each ends where the next begins: the shards' intervals of one index start and end a
            // few milliseconds apart, and merged ones must not overlap.
            var next = i + 1 < count ? results.Where(r => r.Intervals.Count > i + 1).Min(r => r.Intervals[i + 1].StartSeconds) : (double?)null;

            // The whole run's target: a shard whose intervals ended before this one (its drain was
            // shorter) still counts its last target.
            var target = results.Where(r => r.Intervals.Count > 0).Sum(r => r.Intervals[Math.Min(i, r.Intervals.Count - 1)].Target);
            intervals.Add(LoadInterval.Merge([.. results.Where(r => r.Intervals.Count > i).Select(r => r.Intervals[i])], next, target));
        }

        return new LoadResult
        {
            StartedAt = results.Min(r => r.StartedAt),
            Seconds = results.Max(r => r.Seconds),
            Model = results[0].Model,
            Target = results[0].Target,
            Shards = [.. results.SelectMany(r => r.Shards)],
            Runs = [.. results.SelectMany(r => r.Runs)],
            Sources = [.. results.SelectMany(r => r.Sources).Distinct(StringComparer.Ordinal)],
            Hosts = [.. results.SelectMany(r => r.Hosts).Distinct(StringComparer.Ordinal)],
            Configuration = MergeConfiguration(results),
            Interrupted = results.Any(r => r.Interrupted),
            Sessions = LoadSessionCounts.Merge(results.Select(r => r.Sessions)),
            Latency = latency,
            InitChunks = results.SelectMany(r => r.InitChunks).GroupBy(p => p.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Value, StringComparer.Ordinal),
            Traffic = LoadTraffic.Sum(results.Select(r => r.Traffic)),
            Workers = workers,
            Errors = errors,
            Generators = [.. results.SelectMany(r => r.Generators)],
            Intervals = intervals,
        };
    }

    private const string NotRecorded = "(not recorded)";

    /// <summary>The configuration settings that like runs share (besides model, target and sources).</summary>
    private static readonly string[] LikeRunSettings = ["stages", "duration", "sessions", "warmup", "scenarios"];

    private static string ModelText(LoadModelKind model) => model == LoadModelKind.Open ? "open" : "closed";

    /// <summary>
    /// The results' shared settings as they are; a setting that differs as one line per distinct
    /// value (<c>results 1, 3: x</c>); <c>mergeWarning</c> when the results are not like runs.
    /// </summary>
    private static Dictionary<string, string> MergeConfiguration(IReadOnlyList<LoadResult> results)
    {
        var configuration = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in results.SelectMany(r => r.Configuration.Keys).Distinct(StringComparer.Ordinal))
        {
            var values = results.Select(r => r.Configuration.TryGetValue(key, out var v) ? v : NotRecorded).ToList();
            configuration[key] = values.Distinct(StringComparer.Ordinal).Skip(1).Any() ? PerResult(values, "\n") : values[0];
        }

        var differences = Differences(results);
        if (differences.Count > 0)
        {
            configuration["mergeWarning"] = "the results are not like runs, so the merged figures pool runs that measured different things; they differ in "
                + string.Join(", ", differences.Select(d => $"{d.Setting} ({PerResult(d.Values, "; ")})")) + ".";
        }

        return configuration;
    }

    /// <summary>Each distinct value with the (1-based) numbers of the results that have it: <c>results 1, 3: open; result 2: closed</c>.</summary>
    private static string PerResult(IReadOnlyList<string> values, string separator) =>
        string.Join(separator, values.Select((v, i) => (Value: v, Number: i + 1)).GroupBy(p => p.Value, StringComparer.Ordinal)
            .Select(g => $"{(g.Count() == 1 ? "result" : "results")} {string.Join(", ", g.Select(p => p.Number))}: {g.Key}"));

    private static LoadResult Copy(LoadResult r, IReadOnlyDictionary<string, string> configuration, IReadOnlyList<LoadThresholdResult> thresholds) => new()
    {
        SchemaVersion = r.SchemaVersion,
        StartedAt = r.StartedAt,
        Seconds = r.Seconds,
        Model = r.Model,
        Target = r.Target,
        Shards = r.Shards,
        Runs = r.Runs,
        Sources = r.Sources,
        Hosts = r.Hosts,
        Configuration = configuration,
        Interrupted = r.Interrupted,
        Sessions = r.Sessions,
        Latency = r.Latency,
        InitChunks = r.InitChunks,
        Traffic = r.Traffic,
        Workers = r.Workers,
        Errors = r.Errors,
        Generators = r.Generators,
        Intervals = r.Intervals,
        Thresholds = thresholds,
    };
}

/// <summary>A setting in which results differ so that they are not like runs (<see cref="LoadResult.Differences"/>).</summary>
/// <param name="Setting">The setting: <c>model</c>, <c>target</c>, <c>sources</c>, or a configuration key (<c>stages</c>, <c>duration</c>, <c>sessions</c>, <c>warmup</c>, <c>scenarios</c>).</param>
/// <param name="Values">Its value in each result, in the results' order (<c>(not recorded)</c> when a result's configuration lacks it).</param>
public sealed record LoadResultDifference(string Setting, IReadOnlyList<string> Values);

/// <summary>Session counts of a load test. Warm-up sessions count only in <see cref="Warmup"/>.</summary>
public sealed class LoadSessionCounts
{
    /// <summary>Measured sessions started.</summary>
    public long Started { get; init; }

    /// <summary>Measured sessions that finished (FinishResponse without error).</summary>
    public long Finished { get; init; }

    /// <summary>Measured sessions cancelled on purpose (a scenario's cancel share) that the worker acknowledged.</summary>
    public long Cancelled { get; init; }

    /// <summary>
    /// Measured sessions that ended otherwise, by kind: <c>cancelled</c> (the worker reported an
    /// error), <c>failed</c>, <c>transportFailed</c>, <c>interrupted</c>, <c>openFailed</c> (the source
    /// gave no session).
    /// </summary>
    public IReadOnlyDictionary<string, long> Failed { get; init; } = new Dictionary<string, long>();

    /// <summary>The sum of <see cref="Failed"/>.</summary>
    public long FailedTotal => Failed.Values.Sum();

    /// <summary>Open model: starts later than the schedule tolerance (their latency counts from the intended start).</summary>
    public long BehindSchedule { get; init; }

    /// <summary>Open model: starts that were due before the end but never happened, because the cap on sessions in flight was still reached when the run ended.</summary>
    public long NotStarted { get; init; }

    /// <summary>Sessions started during warm-up (excluded from every other figure).</summary>
    public long Warmup { get; init; }

    /// <summary>Sessions still running when the drain limit expired (or the run was interrupted), cancelled and left out of the latencies.</summary>
    public long Abandoned { get; init; }

    /// <summary>
    /// The measured starts that were due: <see cref="Started"/> plus <see cref="NotStarted"/>. The
    /// base of every percentage of <see cref="NotStarted"/>, <see cref="BehindSchedule"/> and
    /// <see cref="Abandoned"/> (thresholds, the generator's warning).
    /// </summary>
    internal long DueStarts => Started + NotStarted;

    internal static LoadSessionCounts Merge(IEnumerable<LoadSessionCounts> counts)
    {
        var list = counts.ToList();
        return new LoadSessionCounts
        {
            Started = list.Sum(c => c.Started),
            Finished = list.Sum(c => c.Finished),
            Cancelled = list.Sum(c => c.Cancelled),
            Failed = list.SelectMany(c => c.Failed).GroupBy(p => p.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(p => p.Value), StringComparer.Ordinal),
            BehindSchedule = list.Sum(c => c.BehindSchedule),
            NotStarted = list.Sum(c => c.NotStarted),
            Warmup = list.Sum(c => c.Warmup),
            Abandoned = list.Sum(c => c.Abandoned),
        };
    }
}

/// <summary>Traffic in both directions: data messages (batches), Arrow rows and bytes.</summary>
public sealed class LoadTraffic
{
    /// <summary>Input batches sent.</summary>
    public long BatchesSent { get; init; }

    /// <summary>Input rows sent.</summary>
    public long RowsSent { get; init; }

    /// <summary>Input bytes sent (data messages).</summary>
    public long BytesSent { get; init; }

    /// <summary>Output batches received.</summary>
    public long BatchesReceived { get; init; }

    /// <summary>Output rows received (when output rows are counted).</summary>
    public long RowsReceived { get; init; }

    /// <summary>Output bytes received (data messages).</summary>
    public long BytesReceived { get; init; }

    internal static LoadTraffic Sum(IEnumerable<LoadTraffic> all)
    {
        var list = all.ToList();
        return new LoadTraffic
        {
            BatchesSent = list.Sum(t => t.BatchesSent),
            RowsSent = list.Sum(t => t.RowsSent),
            BytesSent = list.Sum(t => t.BytesSent),
            BatchesReceived = list.Sum(t => t.BatchesReceived),
            RowsReceived = list.Sum(t => t.RowsReceived),
            BytesReceived = list.Sum(t => t.BytesReceived),
        };
    }
}

/// <summary>A worker's share of a load test.</summary>
public sealed class LoadWorkerFigures
{
    /// <summary>The worker's address as sessions name it.</summary>
    public required string Worker { get; init; }

    /// <summary>Measured sessions run on it.</summary>
    public long Sessions { get; init; }

    /// <summary>Of which finished.</summary>
    public long Finished { get; init; }

    /// <summary>Of which cancelled on purpose.</summary>
    public long Cancelled { get; init; }

    /// <summary>Of which failed (any kind).</summary>
    public long Failed { get; init; }

    /// <summary>
    /// Of which still running when the drain limit expired or the run was interrupted, then
    /// cancelled (<see cref="LoadSessionCounts.Abandoned"/>): finished, cancelled, failed and
    /// abandoned add up to <see cref="Sessions"/>.
    /// </summary>
    public long Abandoned { get; init; }

    /// <summary>
    /// Heartbeat round trips sampled from it and answered (in the <c>heartbeat</c> phase) while
    /// the run measured; 0 for a worker not probed. A worker that joined a fleet during the run
    /// counts from the round after it joined.
    /// </summary>
    public long Heartbeats { get; init; }

    /// <summary>
    /// Heartbeats sampled from it while the run measured that failed or went unanswered for 10 s
    /// (their messages are among the <c>heartbeatFailed</c> errors); 0 for a worker not probed. A
    /// worker that keeps its sessions but fails its heartbeats is stalled or overloaded.
    /// </summary>
    public long HeartbeatsFailed { get; init; }

    /// <summary>Its traffic.</summary>
    public LoadTraffic Traffic { get; init; } = new();

    /// <summary>Its sessions' whole-session latency (microseconds).</summary>
    public required HistogramBase Session { get; init; }

    internal static LoadWorkerFigures Merge(IReadOnlyList<LoadWorkerFigures> figures)
    {
        var session = LatencyHistograms.Create();
        foreach (var f in figures)
        {
            session.Add(f.Session);
        }

        return new LoadWorkerFigures
        {
            Worker = figures[0].Worker,
            Sessions = figures.Sum(f => f.Sessions),
            Finished = figures.Sum(f => f.Finished),
            Cancelled = figures.Sum(f => f.Cancelled),
            Failed = figures.Sum(f => f.Failed),
            Abandoned = figures.Sum(f => f.Abandoned),
            Heartbeats = figures.Sum(f => f.Heartbeats),
            HeartbeatsFailed = figures.Sum(f => f.HeartbeatsFailed),
            Traffic = LoadTraffic.Sum(figures.Select(f => f.Traffic)),
            Session = session,
        };
    }
}

/// <summary>One kind of failed session: its outcome, the worker's error kind, the gRPC status; how many; the first messages.</summary>
public sealed class LoadErrorKind
{
    /// <summary>Messages kept per kind.</summary>
    public const int MaxMessages = 3;

    /// <summary>The outcome (<c>cancelled</c>, <c>failed</c>, <c>transportFailed</c>, <c>interrupted</c>, <c>openFailed</c>).</summary>
    public required string Outcome { get; init; }

    /// <summary>The worker's error kind (<see cref="SessionErrorKind"/>, in camel case), or <see langword="null"/>.</summary>
    public string? ErrorKind { get; init; }

    /// <summary>The gRPC status of a transport failure (<c>Unavailable</c>), or <see langword="null"/>.</summary>
    public string? Status { get; init; }

    /// <summary>How many sessions ended this way.</summary>
    public long Count { get; init; }

    /// <summary>The first distinct messages, at most <see cref="MaxMessages"/>, as received; messages that differ only in a session's number count as one.</summary>
    public IReadOnlyList<string> Messages { get; init; } = [];

    /// <summary>The three parts joined by <c>/</c>, <c>-</c> for a missing one: <c>transportFailed/-/Unavailable</c>.</summary>
    public string Key => $"{Outcome}/{ErrorKind ?? "-"}/{Status ?? "-"}";
}

/// <summary>
/// The generator's own load during a run: if it, not the workers, sets the pace, the figures lie
/// about the workers. <see cref="Warnings"/> says so in words.
/// </summary>
public sealed class LoadGeneratorFigures
{
    /// <summary>The host.</summary>
    public string Host { get; init; } = "";

    /// <summary>Processor cores available to the generator.</summary>
    public int Cores { get; init; }

    /// <summary>
    /// Mean CPU use of the generator process over the run's intervals, in percent of all its cores:
    /// the intervals' CPU use weighted by their length, so never above <see cref="CpuPercentMax"/>.
    /// </summary>
    public double CpuPercentMean { get; init; }

    /// <summary>Highest CPU use of an interval (the same samples as <see cref="CpuPercentMean"/>), in percent of all cores.</summary>
    public double CpuPercentMax { get; init; }

    /// <summary>Total garbage collection pause time, in milliseconds.</summary>
    public double GcPauseMilliseconds { get; init; }

    /// <summary>Garbage collection pauses over the run's wall time, in percent.</summary>
    public double GcPausePercent { get; init; }

    /// <summary>Managed allocation rate, in bytes per second.</summary>
    public double AllocatedBytesPerSecond { get; init; }

    /// <summary>Largest thread-pool queue seen at an interval's end.</summary>
    public long ThreadPoolQueueMax { get; init; }

    /// <summary>Mean thread-pool queue at intervals' ends.</summary>
    public double ThreadPoolQueueMean { get; init; }

    /// <summary>Why the generator may have set the pace; empty when it did not.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>One reporting interval of a run.</summary>
public sealed class LoadInterval
{
    /// <summary>The interval's position, from 0.</summary>
    public int Index { get; init; }

    /// <summary>Its start in seconds from the run's start.</summary>
    public double StartSeconds { get; init; }

    /// <summary>Its length in seconds.</summary>
    public double Seconds { get; init; }

    /// <summary>
    /// Whether it belongs to the warm-up: more of its starts were warm-up starts than measured ones
    /// (or it had none and ended during warm-up). An interval that holds the end of the warm-up
    /// holds both kinds: <see cref="WarmupStarted"/> says how many of each.
    /// </summary>
    public bool Warmup { get; init; }

    /// <summary>The target (concurrency or rate of this shard) at its end.</summary>
    public double Target { get; init; }

    /// <summary>Sessions started in it, warm-up ones included (<see cref="WarmupStarted"/> of them).</summary>
    public long Started { get; init; }

    /// <summary>
    /// Of which started during warm-up: over the intervals, <see cref="Started"/> minus this adds up
    /// to <see cref="LoadSessionCounts.Started"/>, and this to <see cref="LoadSessionCounts.Warmup"/>.
    /// </summary>
    public long WarmupStarted { get; init; }

    /// <summary>Measured sessions finished in it.</summary>
    public long Finished { get; init; }

    /// <summary>Measured sessions cancelled on purpose in it.</summary>
    public long Cancelled { get; init; }

    /// <summary>Measured sessions failed in it.</summary>
    public long Failed { get; init; }

    /// <summary>Starts not made in it (cap on sessions in flight).</summary>
    public long NotStarted { get; init; }

    /// <summary>Starts behind schedule in it.</summary>
    public long BehindSchedule { get; init; }

    /// <summary>Sessions in flight at its end.</summary>
    public long InFlight { get; init; }

    /// <summary>Traffic in it.</summary>
    public LoadTraffic Traffic { get; init; } = new();

    /// <summary>Median whole-session latency of the sessions that ended in it, ms; <see langword="null"/> when none.</summary>
    public double? SessionP50 { get; init; }

    /// <summary>90th percentile, ms.</summary>
    public double? SessionP90 { get; init; }

    /// <summary>99th percentile, ms.</summary>
    public double? SessionP99 { get; init; }

    /// <summary>Largest, ms.</summary>
    public double? SessionMax { get; init; }

    /// <summary>The generator's CPU use in it, percent of all cores (the mean for a merge).</summary>
    public double CpuPercent { get; init; }

    /// <summary>Garbage collection pauses in it, ms.</summary>
    public double GcPauseMilliseconds { get; init; }

    /// <summary>Managed bytes allocated in it.</summary>
    public long AllocatedBytes { get; init; }

    /// <summary>The thread-pool queue at its end.</summary>
    public long ThreadPoolQueue { get; init; }

    /// <summary>The interval's whole-session histogram, encoded (compressed, base64), for exact merges.</summary>
    internal string? SessionHistogram { get; init; }

    /// <summary>
    /// The intervals of one index of several shards as one: counts and traffic summed, latencies
    /// from their summed histograms, spanning from the earliest start to the latest end, or to
    /// <paramref name="nextStart"/> (the next merged interval's start) when that comes first; its
    /// target is <paramref name="target"/>, the whole run's (a shard past its end counts its last).
    /// </summary>
    internal static LoadInterval Merge(IReadOnlyList<LoadInterval> parts, double? nextStart, double target)
    {
        var session = LatencyHistograms.Create();
        foreach (var part in parts)
        {
            if (part.SessionHistogram is { } encoded)
            {
                session.Add(LatencyHistograms.Decode(encoded));
            }
        }

        var start = parts.Min(p => p.StartSeconds);
        return new LoadInterval
        {
            Index = parts[0].Index,
            StartSeconds = start,
            // Rounded as a run's own intervals are: a difference of rounded times is not.
            Seconds = Math.Round(Math.Max(0, Math.Min(parts.Max(p => p.StartSeconds + p.Seconds), nextStart ?? double.PositiveInfinity) - start), 6),
            Warmup = parts.All(p => p.Warmup),
            Target = target,
            Started = parts.Sum(p => p.Started),
            WarmupStarted = parts.Sum(p => p.WarmupStarted),
            Finished = parts.Sum(p => p.Finished),
            Cancelled = parts.Sum(p => p.Cancelled),
            Failed = parts.Sum(p => p.Failed),
            NotStarted = parts.Sum(p => p.NotStarted),
            BehindSchedule = parts.Sum(p => p.BehindSchedule),
            InFlight = parts.Sum(p => p.InFlight),
            Traffic = LoadTraffic.Sum(parts.Select(p => p.Traffic)),
            SessionP50 = LatencyHistograms.Millis(session, 50),
            SessionP90 = LatencyHistograms.Millis(session, 90),
            SessionP99 = LatencyHistograms.Millis(session, 99),
            SessionMax = LatencyHistograms.MaxMillis(session),
            CpuPercent = Math.Round(parts.Average(p => p.CpuPercent), 2),
            GcPauseMilliseconds = parts.Sum(p => p.GcPauseMilliseconds),
            AllocatedBytes = parts.Sum(p => p.AllocatedBytes),
            ThreadPoolQueue = parts.Sum(p => p.ThreadPoolQueue),
            SessionHistogram = session.TotalCount == 0 ? null : LatencyHistograms.Encode(session),
        };
    }
}
