using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Client;

/// <summary>How a <see cref="WorkerFleet"/> places sessions when the caller gives no affinity key.</summary>
public enum FleetPlacement
{
    /// <summary>
    /// Least outstanding sessions with power-of-two-choices (default): two workers drawn at random,
    /// the less loaded one wins. A worker's load is this engine's sessions on it plus what the
    /// worker reports of other engines' in its heartbeat.
    /// </summary>
    LeastLoaded,

    /// <summary>Each worker in turn, ignoring load (for comparison; not recommended).</summary>
    RoundRobin,
}

/// <summary>
/// Settings of a <see cref="WorkerFleet"/>. Every property documents its default; set them before
/// creating the fleet. <see cref="Validate"/> runs when the fleet is created.
/// </summary>
public sealed class WorkerFleetOptions
{
    /// <summary>The fleet's name in errors, logs and the <c>engine_client.pool.name</c> tag. Default <c>fleet</c>.</summary>
    public string Name { get; set; } = "fleet";

    /// <summary>
    /// The connection to each worker: message limits, keepalive, flow control, transport security
    /// (<see cref="WorkerConnectionOptions.Tls"/>, tokens), Manage calls. Never <see langword="null"/>.
    /// </summary>
    public WorkerConnectionOptions Connection { get; set; } = new();

    /// <summary>Defaults of sessions opened on the fleet (<see cref="WorkerFleet.OpenSessionAsync(SessionOptions?, CancellationToken)"/> with no options). Never <see langword="null"/>.</summary>
    public SessionOptions Session { get; set; } = new();

    /// <summary>Deadline of each heartbeat to a worker: the fleet's health checks and probes, and any other Manage heartbeat. Default 5 s.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Logging for the fleet, its workers and their sessions. Default <see cref="NullLoggerFactory.Instance"/>.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Clock for heartbeats, ejections, retries and every deadline of the fleet and its sessions. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Creates the meter (named <see cref="EngineClientDiagnostics.MeterName"/>) that the fleet, its
    /// workers and their sessions record on; a dependency-injection container's factory, typically.
    /// Default <see langword="null"/>: a meter shared by the process.
    /// </summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>How sessions without an affinity key are placed. Default <see cref="FleetPlacement.LeastLoaded"/>.</summary>
    public FleetPlacement Placement { get; set; } = FleetPlacement.LeastLoaded;

    /// <summary>
    /// Most concurrent sessions of this engine plus those the worker reports, per worker;
    /// <see langword="null"/> (default) for no limit of the engine's own. A worker that reports a
    /// <c>max_sessions</c> metric in its heartbeat is held to the smaller of the two. When every
    /// worker is at its limit, opening a session waits for one to free.
    /// </summary>
    public int? MaxSessionsPerWorker { get; set; }

    /// <summary>
    /// The load bound of affinity placement (consistent hashing with bounded loads): a key stays on
    /// its worker while that worker's load stays under <c>ceil(AffinityLoadFactor × average load)</c>
    /// (the average counting the new session), otherwise the next worker on the ring takes it.
    /// Default 1.25; must be more than 1.
    /// </summary>
    public double AffinityLoadFactor { get; set; } = 1.25;

    /// <summary>Points of each worker on the affinity ring. Default 160; 1 to 10,000.</summary>
    public int AffinityPointsPerWorker { get; set; } = 160;

    /// <summary>Time between two heartbeats of a worker. Default 5 s. Each heartbeat's deadline is <see cref="WorkerClientOptions.HeartbeatTimeout"/>.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Consecutive failures of a worker (a transport failure of a session or an attempt, a missed
    /// heartbeat; any answered heartbeat or clean session resets the count) that eject it.
    /// Default 3; at least 1.
    /// </summary>
    public int FailuresToEject { get; set; } = 3;

    /// <summary>
    /// Ejection time of a worker's first ejection; the n-th lasts n times as long, up to
    /// <see cref="MaxEjectionTime"/>. When it is over, a heartbeat probes the worker: an answer
    /// readmits it, a miss ejects it again. Default 10 s.
    /// </summary>
    public TimeSpan BaseEjectionTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest ejection. Default 5 minutes; at least <see cref="BaseEjectionTime"/>.</summary>
    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The largest share of the fleet's workers ejected at once (one worker may always be); a worker
    /// that would pass it stays in with its failures counted. Default 0.5; 0 to 1.
    /// </summary>
    public double MaxEjectedShare { get; set; } = 0.5;

    /// <summary>
    /// Attempts of a session, on different workers when the fleet has them, while nothing but Init
    /// went out: the first and up to <c>MaxAttempts - 1</c> retries. Default 3; at least 1.
    /// </summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Delay before the first retry; later ones double, with jitter (Polly's exponential backoff). Default 50 ms.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest delay between two attempts. Default 2 s.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long one attempt waits for the worker's first response (its InitResponse) before it is
    /// abandoned and retried on another worker. <see langword="null"/> (default): no per-attempt
    /// bound, only the session's <see cref="SessionOptions.InitResponseTimeout"/>, which counts from
    /// the first attempt and ends the session. Set it below that timeout, and above the slowest Init
    /// a UDF may take.
    /// </summary>
    public TimeSpan? AttemptTimeout { get; set; }

    /// <summary>How often a fleet found through a resolver (DNS) resolves again. Default 30 s; failures resolve again sooner.</summary>
    public TimeSpan ResolveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The scheme of addresses a resolver gives as host and port (DNS): <c>http</c> (default) or
    /// <c>https</c>.
    /// </summary>
    public string Scheme { get; set; } = "http";

    /// <summary>Seed of the random draws of placement, for reproducible tests; <see langword="null"/> (default) for a random seed.</summary>
    internal int? RandomSeed { get; set; }

    /// <summary>
    /// Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.
    /// Every timeout and interval must be at most 24.8 days (2^31 - 1 ms, the longest wait of a timer or a socket timeout).
    /// </summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Name, nameof(Name));
        ArgumentNullException.ThrowIfNull(Connection, nameof(Connection));
        ArgumentNullException.ThrowIfNull(Session, nameof(Session));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        Connection.Validate();
        WorkerClientOptions.RequirePositive(HeartbeatTimeout, nameof(HeartbeatTimeout));
        Session.Validate(Connection.MaxSendMessageSize);
        if (MaxSessionsPerWorker is < 1)
        {
            throw new ArgumentException($"{nameof(MaxSessionsPerWorker)} is {MaxSessionsPerWorker}; it must be at least 1 (or null for no limit).");
        }

        if (!(AffinityLoadFactor > 1) || double.IsInfinity(AffinityLoadFactor))
        {
            throw new ArgumentException($"{nameof(AffinityLoadFactor)} is {AffinityLoadFactor}; it must be more than 1.");
        }

        if (AffinityPointsPerWorker is < 1 or > 10_000)
        {
            throw new ArgumentException($"{nameof(AffinityPointsPerWorker)} is {AffinityPointsPerWorker}; it must be 1 to 10,000.");
        }

        WorkerClientOptions.RequireFinitePositive(HeartbeatInterval, nameof(HeartbeatInterval));
        WorkerClientOptions.RequireFinitePositive(BaseEjectionTime, nameof(BaseEjectionTime));
        WorkerClientOptions.RequireFinitePositive(MaxEjectionTime, nameof(MaxEjectionTime));
        WorkerClientOptions.RequireFinitePositive(ResolveInterval, nameof(ResolveInterval));
        if (MaxEjectionTime < BaseEjectionTime)
        {
            throw new ArgumentException($"{nameof(MaxEjectionTime)} ({MaxEjectionTime}) is shorter than {nameof(BaseEjectionTime)} ({BaseEjectionTime}).");
        }

        if (FailuresToEject < 1)
        {
            throw new ArgumentException($"{nameof(FailuresToEject)} is {FailuresToEject}; it must be at least 1.");
        }

        if (MaxEjectedShare is < 0 or > 1 || double.IsNaN(MaxEjectedShare))
        {
            throw new ArgumentException($"{nameof(MaxEjectedShare)} is {MaxEjectedShare}; it must be 0 to 1.");
        }

        if (MaxAttempts < 1)
        {
            throw new ArgumentException($"{nameof(MaxAttempts)} is {MaxAttempts}; it must be at least 1.");
        }

        WorkerClientOptions.RequireAtMostLongest(RetryBaseDelay, nameof(RetryBaseDelay));
        WorkerClientOptions.RequireAtMostLongest(RetryMaxDelay, nameof(RetryMaxDelay));
        if (RetryBaseDelay < TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            throw new ArgumentException($"{nameof(RetryBaseDelay)} ({RetryBaseDelay}) must be zero or more and at most {nameof(RetryMaxDelay)} ({RetryMaxDelay}).");
        }

        if (AttemptTimeout is { } attempt)
        {
            WorkerClientOptions.RequireFinitePositive(attempt, nameof(AttemptTimeout));
        }

        if (Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"{nameof(Scheme)} is '{Scheme}'; it must be 'http' or 'https'.");
        }
    }

    internal WorkerFleetOptions Clone()
    {
        var clone = (WorkerFleetOptions)MemberwiseClone();
        clone.Connection = Connection.Clone();
        clone.Session = Session.Clone();
        return clone;
    }

    /// <summary>The options of each worker's client: the settings made once at this root.</summary>
    internal WorkerClientOptions ClientOptions() => new()
    {
        Connection = Connection,
        HeartbeatTimeout = HeartbeatTimeout,
        Session = Session,
        LoggerFactory = LoggerFactory,
        TimeProvider = TimeProvider,
        MeterFactory = MeterFactory,
    };
}
