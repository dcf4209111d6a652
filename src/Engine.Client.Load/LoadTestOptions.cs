using HdrHistogram;

namespace Engine.Client.Load;

/// <summary>What a load test runs, how sessions arrive, and when it ends.</summary>
public sealed class LoadTestOptions
{
    /// <summary>Closed (a concurrency) or open (a rate). Default closed.</summary>
    public LoadModelKind Model { get; set; } = LoadModelKind.Closed;

    /// <summary>
    /// The start target: concurrent sessions (closed) or sessions per second (open), for the whole
    /// run, or until <see cref="Stages"/> ramp it. Default 1. For a shard, the whole run's target:
    /// each shard takes its share. The open model's rate is at most 10^9 sessions per second
    /// (<see cref="Validate"/> refuses more).
    /// </summary>
    public double Target { get; set; } = 1;

    /// <summary>
    /// The highest rate of the open model (<see cref="Target"/> and every stage's target), in
    /// sessions per second: 10^9. Its due starts are counted exactly (below 2^53) for about 104 days.
    /// </summary>
    internal const double MaximumRate = 1e9;

    /// <summary>
    /// How the open model spaces its starts: evenly (<see cref="LoadArrivals.Uniform"/>, the
    /// default) or as a Poisson process (<see cref="LoadArrivals.Poisson"/>, exponential gaps from
    /// the seeded generator). Either way each session's latency counts from its intended start. The
    /// closed model takes <see cref="LoadArrivals.Uniform"/> only.
    /// </summary>
    public LoadArrivals Arrivals { get; set; } = LoadArrivals.Uniform;

    /// <summary>Stages that ramp the target after warm-up; <see langword="null"/> or empty keeps <see cref="Target"/>. Their total length is the measured duration.</summary>
    public IReadOnlyList<LoadStage>? Stages { get; set; }

    /// <summary>How long to start sessions after warm-up (when there are no stages). <see langword="null"/>: until <see cref="Sessions"/> or the caller's cancellation.</summary>
    public TimeSpan? Duration { get; set; }

    /// <summary>
    /// How many measured sessions to start at most, over all shards: each shard starts its share
    /// (the bound over the shard count, the remainder to the first shards); <see langword="null"/>
    /// for no bound.
    /// </summary>
    public long? Sessions { get; set; }

    /// <summary>This shard's share of <see cref="Sessions"/>: the bound over the shard count, the remainder to the first shards.</summary>
    internal long? ShardSessions => Sessions is { } bound
        ? (bound / Shard.Count) + (Shard.Index < bound % Shard.Count ? 1 : 0)
        : null;

    /// <summary>
    /// A warm-up at the start target before measuring: sessions whose (intended) start falls in it run
    /// but are left out of every figure except <see cref="LoadSessionCounts.Warmup"/>. Default none.
    /// </summary>
    public TimeSpan Warmup { get; set; }

    /// <summary>
    /// How long to wait for sessions still running when starts stop; then they are cancelled (and
    /// counted as <see cref="LoadSessionCounts.Abandoned"/>). Default 30 s.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The most sessions in flight at once in the open model. A start due while that many run waits
    /// for one to end: it runs behind schedule, its latency counted from its intended start (as a
    /// task of a real engine queues for a slot); starts still waiting when the run ends count as
    /// <see cref="LoadSessionCounts.NotStarted"/>. Default 10,000.
    /// </summary>
    public int MaxInFlight { get; set; } = 10_000;

    /// <summary>
    /// How late a start may be, in the open model, before it counts as behind schedule. Default
    /// 10 ms. Its latency counts from the intended start either way.
    /// </summary>
    public TimeSpan ScheduleTolerance { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>The scenarios; at least one. Each session picks one at random by weight.</summary>
    public IList<LoadScenario> Scenarios { get; } = [];

    /// <summary>The session options; <see langword="null"/> uses the source's defaults.</summary>
    public SessionOptions? SessionOptions { get; set; }

    /// <summary>This process's shard of a run spread over hosts. Default the whole run.</summary>
    public LoadShard Shard { get; set; } = LoadShard.Whole;

    /// <summary>The seed of the scenario picks, cancel points and Poisson arrival gaps; <see langword="null"/> for a random one (reported).</summary>
    public int? Seed { get; set; }

    /// <summary>The length of a reporting interval. Default 1 s; at most about 49.7 days (the longest wait of a timer).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Starts a session's task: <see cref="Task.Run(Func{Task}, CancellationToken)"/> unless a test
    /// holds it back, to put a start between its slot and its count.
    /// </summary>
    internal Func<Func<Task>, Task>? SessionLauncher { get; set; }

    /// <summary>
    /// Called in the open model when a due start holds its slot, before it is counted in flight:
    /// a test interrupts the run there, to put the stop between a start's slot and its count.
    /// </summary>
    internal Action? StartHoldsSlot { get; set; }

    /// <summary>Heartbeat probes sampled during the run, one call per probe per <see cref="HeartbeatInterval"/>; a fixed set (see <see cref="HeartbeatProbes"/> for workers that change). Default none.</summary>
    public IList<LoadHeartbeatProbe> Heartbeats { get; } = [];

    /// <summary>
    /// Heartbeat probes of workers that come and go during the run (a fleet whose discovery adds and
    /// drops workers): called at every round of heartbeats (each <see cref="HeartbeatInterval"/>, from
    /// one thread, never during a probe's call), its probes are called after <see cref="Heartbeats"/>
    /// in that round. A worker that joined is sampled from the next round; one that left is probed no
    /// more. <see langword="null"/> (the default) for none; an exception it throws counts as a
    /// <c>heartbeatFailed</c> error of that round.
    /// </summary>
    public Func<IReadOnlyList<LoadHeartbeatProbe>>? HeartbeatProbes { get; set; }

    /// <summary>How often each heartbeat probe is called. Default 1 s; at most about 49.7 days (the longest wait of a timer).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether output batches are decoded as Arrow to count their rows. Default true.</summary>
    public bool CountOutputRows { get; set; } = true;

    /// <summary>Receives each interval as it closes (from a timer thread); <see langword="null"/> for none.</summary>
    public ILoadObserver? Observer { get; set; }

    /// <summary>
    /// What the run targets, as <see cref="LoadResult.Sources"/> names it: worker addresses, a DNS
    /// name, a specification file. Default empty: the sources' names
    /// (<see cref="WorkerSessionSource.Name"/>), which for a pool or a fleet is the name it was given.
    /// </summary>
    public IList<string> Targets { get; } = [];

    /// <summary>Free-form settings echoed in the report's configuration (the command line that ran, for example).</summary>
    public IDictionary<string, string> Labels { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Checks the options; <see cref="LoadTest.RunAsync(WorkerSessionSource, LoadTestOptions, CancellationToken)"/> does too.</summary>
    /// <exception cref="ArgumentException">An option is not valid; the message says which and why.</exception>
    public void Validate()
    {
        if (Scenarios.Count == 0)
        {
            throw new ArgumentException("A load test needs at least one scenario.");
        }

        if (Scenarios.FirstOrDefault(s => !(s.Weight > 0) || double.IsInfinity(s.Weight)) is { } badWeight)
        {
            throw new ArgumentException($"Scenario '{badWeight.Name}' has weight {badWeight.Weight.ToString(System.Globalization.CultureInfo.InvariantCulture)}: every scenario's weight must be a positive, finite number.");
        }

        if (Scenarios.FirstOrDefault(s => s.CancelShare is < 0 or > 1 || double.IsNaN(s.CancelShare)) is { } badShare)
        {
            throw new ArgumentException($"Scenario '{badShare.Name}' has cancel share {badShare.CancelShare.ToString(System.Globalization.CultureInfo.InvariantCulture)}: a cancel share must be from 0 to 1.");
        }

        if (Scenarios.GroupBy(s => s.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            throw new ArgumentException($"{duplicate.Count()} scenarios are named '{duplicate.Key}': scenario names must be unique, because the reports give figures by scenario name.");
        }

        if (!(Target >= 0) || double.IsInfinity(Target))
        {
            throw new ArgumentException("The target must be zero or a positive number.");
        }

        if (Stages is { } stages && stages.Select((s, i) => (Stage: s, Number: i + 1)).FirstOrDefault(p => p.Stage.Duration <= TimeSpan.Zero || !(p.Stage.Target >= 0) || double.IsInfinity(p.Stage.Target)) is { Stage: { } badStage } bad)
        {
            throw new ArgumentException($"Stage {bad.Number} (duration {badStage.Duration.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} s, target {badStage.Target.ToString(System.Globalization.CultureInfo.InvariantCulture)}): every stage needs a positive duration and a finite target of zero or more.");
        }

        if (Model == LoadModelKind.Open && Math.Max(Target, Stages is { Count: > 0 } rates ? rates.Max(s => s.Target) : 0) is var fastest && fastest > MaximumRate)
        {
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"A rate of {fastest} sessions per second is above the most a load test takes ({MaximumRate:0.#e0}): the count of due starts is exact only below 2^53, about 104 days at that rate."));
        }

        if (Model == LoadModelKind.Closed && (Target != Math.Floor(Target) || (Stages?.Any(s => s.Target != Math.Floor(s.Target)) ?? false)))
        {
            throw new ArgumentException("A closed model's concurrency must be a whole number.");
        }

        if (!Enum.IsDefined(Arrivals))
        {
            throw new ArgumentException("The arrivals must be uniform or Poisson.");
        }

        if (Model == LoadModelKind.Closed && Arrivals != LoadArrivals.Uniform)
        {
            throw new ArgumentException("Poisson arrivals are for the open model (a rate); the closed model starts a session when one ends.");
        }

        if (Model == LoadModelKind.Closed && Shard.Count >= 1 && Shard.Index >= 0)
        {
            // The concurrency is split over the shards, the remainder to the first ones: a shard
            // whose share is 0 throughout never starts a session, and a run bounded only by its
            // session count would never end.
            var highest = Math.Max(Target, Stages is { Count: > 0 } ramp ? ramp.Max(s => s.Target) : 0);
            if (highest <= Shard.Index)
            {
                throw new ArgumentException(Shard.Count == 1
                    ? "A closed model whose concurrency is 0 throughout starts no session: give a concurrency (or a stage target) of at least 1."
                    : $"Shard {Shard.Index}/{Shard.Count} of a closed model whose highest concurrency is {highest.ToString(System.Globalization.CultureInfo.InvariantCulture)} gets no session (the concurrency is split over the shards, the remainder to the first ones): give a concurrency of at least {Shard.Count} (one session per shard), or fewer shards.");
            }
        }

        if (Duration is null && Sessions is null && (Stages is null || Stages.Count == 0))
        {
            throw new ArgumentException("A load test needs a bound: a duration, a session count or stages.");
        }

        if (Duration is { } d && d <= TimeSpan.Zero)
        {
            throw new ArgumentException("The duration must be positive.");
        }

        if (Sessions is <= 0)
        {
            throw new ArgumentException("The session count must be positive.");
        }


        if (Warmup < TimeSpan.Zero || DrainTimeout < TimeSpan.Zero || Interval <= TimeSpan.Zero || HeartbeatInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("Warm-up and drain must not be negative; intervals must be positive.");
        }

        if (Interval > LongWait.Longest || HeartbeatInterval > LongWait.Longest)
        {
            throw new ArgumentException("The interval and the heartbeat interval must be at most 4,294,967 s (about 49.7 days), the longest wait of a timer.");
        }

        if (MaxInFlight <= 0)
        {
            throw new ArgumentException("The cap on sessions in flight must be positive.");
        }

        if (Shard.Count < 1 || Shard.Index < 0 || Shard.Index >= Shard.Count)
        {
            throw new ArgumentException("The shard index must be from 0 to the shard count minus 1.");
        }

        if (Sessions is { } sessions && ShardSessions == 0)
        {
            // Its share would be none: it would measure nothing.
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"Shard {Shard.Index}/{Shard.Count} of a session bound of {sessions} gets no session (the bound is split over the shards, the remainder to the first ones): give at least {Shard.Count} sessions (one per shard), or fewer shards."));
        }
    }
}

/// <summary>A heartbeat call sampled during a run: its round trip is recorded in the <c>heartbeat</c> phase.</summary>
/// <param name="Worker">The worker it asks, as reports name it.</param>
/// <param name="Call">Sends one heartbeat and waits for the answer; throws when it fails.</param>
public sealed record LoadHeartbeatProbe(string Worker, Func<CancellationToken, Task> Call);

/// <summary>Receives a load test's start and its intervals as they close.</summary>
public interface ILoadObserver
{
    /// <summary>
    /// The run started: called once, before the first interval, on the thread that started the
    /// run, before its first start is made (keep it short: the starts wait for it). Interval times
    /// (<see cref="LoadInterval.StartSeconds"/>, the histograms' time stamps) count from
    /// <paramref name="startedAt"/>, which <see cref="LoadResult.StartedAt"/> repeats. Does
    /// nothing unless implemented.
    /// </summary>
    /// <param name="startedAt">The run's start (UTC).</param>
    void OnStarted(DateTimeOffset startedAt)
    {
    }

    /// <summary>
    /// One interval closed. Called from one thread at a time, in order; keep it short (it delays
    /// the next interval, not the sessions).
    /// </summary>
    /// <param name="interval">The interval's figures.</param>
    /// <param name="histograms">The interval's latency histograms by phase (see <see cref="LoadPhases"/>), values in microseconds; valid during the call only.</param>
    void OnInterval(LoadInterval interval, IReadOnlyDictionary<string, HistogramBase> histograms);
}
