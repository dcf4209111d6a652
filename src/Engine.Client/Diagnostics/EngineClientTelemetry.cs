using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Engine.Client.Diagnostics;

/// <summary>
/// The one <see cref="ActivitySource"/> of the library and the instruments of its <see cref="Meter"/>,
/// both named <see cref="EngineClientDiagnostics.MeterName"/>. Instruments follow OpenTelemetry naming;
/// activities exist only when someone listens. A client or pool given an <see cref="IMeterFactory"/>
/// records on that factory's meter (<see cref="For"/>), otherwise on the shared one.
/// </summary>
internal sealed class EngineClientTelemetry
{
    public const string Name = EngineClientDiagnostics.MeterName;

    /// <summary>The pool's name on every measurement a pool's worker makes.</summary>
    public const string PoolTag = "engine_client.pool.name";

    private static readonly string? Version = typeof(EngineClientTelemetry).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    /// <summary>Sessions last from milliseconds (a tiny batch) to minutes (a long stream), in seconds.</summary>
    internal static readonly double[] SessionBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    /// <summary>Init and Manage calls: sub-millisecond on a local socket to seconds for a large payload, in seconds.</summary>
    internal static readonly double[] CallBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    /// <summary>Worker launches: tens of milliseconds (a native worker) to a minute (an interpreter importing much), in seconds.</summary>
    internal static readonly double[] LaunchBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    public static readonly ActivitySource ActivitySource = new(EngineClientDiagnostics.ActivitySourceName, Version);

    public static readonly EngineClientTelemetry Shared = new(new Meter(Name, Version));

    private static readonly ConditionalWeakTable<IMeterFactory, EngineClientTelemetry> ByFactory = [];

    private readonly Lock _poolsGate = new();
    private readonly List<WeakReference<WorkerPool>> _pools = [];
    private readonly List<WeakReference<WorkerFleet>> _fleets = [];

    private EngineClientTelemetry(Meter meter)
    {
        Meter = meter;
        ActiveSessions = meter.CreateUpDownCounter<long>(
            "engine_client.session.active", "{session}", "Sessions that have started Init and not yet ended.");
        EndedSessions = meter.CreateCounter<long>(
            "engine_client.session.ended", "{session}", "Sessions that ended, by outcome.");
        SessionDuration = meter.CreateHistogram(
            "engine_client.session.duration", "s", "From the start of Init to the settled outcome.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = SessionBuckets });
        InitDuration = meter.CreateHistogram(
            "engine_client.session.init.duration", "s", "From the start of Init to the InitResponse.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = CallBuckets });
        Batches = meter.CreateCounter<long>(
            "engine_client.session.batches", "{batch}", "Data messages, by direction (sent, received).");
        Bytes = meter.CreateCounter<long>(
            "engine_client.session.bytes", "By", "Data message bytes without framing, by direction (sent, received).");
        ManageDuration = meter.CreateHistogram(
            "engine_client.manage.duration", "s", "Manage calls (heartbeat, shutdown), by operation and outcome; readiness probes excluded.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = CallBuckets });
        Launches = meter.CreateCounter<long>(
            "engine_client.pool.worker.launches", "{worker}", "Worker launches by a pool, by outcome (success, failure).");
        LaunchDuration = meter.CreateHistogram(
            "engine_client.pool.worker.launch.duration", "s", "From spawning a worker to its first answered readiness probe, by outcome.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = LaunchBuckets });
        Losses = meter.CreateCounter<long>(
            "engine_client.pool.worker.losses", "{worker}", "Workers a pool marked unhealthy, by reason (exited, heartbeats).");
        MissedHeartbeats = meter.CreateCounter<long>(
            "engine_client.pool.heartbeat.missed", "{heartbeat}", "Heartbeats a pooled worker did not answer in time.");
        FleetEjections = meter.CreateCounter<long>(
            "engine_client.fleet.ejections", "{worker}", "Workers a fleet ejected after consecutive failures.");
        FleetReadmissions = meter.CreateCounter<long>(
            "engine_client.fleet.readmissions", "{worker}", "Ejected workers a fleet readmitted after a probe answered.");
        FleetRetries = meter.CreateCounter<long>(
            "engine_client.fleet.retries", "{attempt}", "Session attempts a fleet retried on another worker before commit.");
        FleetPlacements = meter.CreateCounter<long>(
            "engine_client.fleet.placements", "{session}", "Placement decisions of a fleet, by kind (least_loaded, round_robin, affinity, affinity_spill, panic, retry).");
        meter.CreateObservableUpDownCounter(
            "engine_client.fleet.workers", ObserveFleetWorkers, "{worker}", "Workers of each fleet, by state (healthy, ejected, draining).");
        meter.CreateObservableUpDownCounter(
            "engine_client.pool.workers", ObserveWorkers, "{worker}", "Workers of each pool, by state (idle, busy, unhealthy, stopping).");
    }

    public Meter Meter { get; }

    public UpDownCounter<long> ActiveSessions { get; }

    public Counter<long> EndedSessions { get; }

    public Histogram<double> SessionDuration { get; }

    public Histogram<double> InitDuration { get; }

    public Counter<long> Batches { get; }

    public Counter<long> Bytes { get; }

    public Histogram<double> ManageDuration { get; }

    public Counter<long> Launches { get; }

    public Histogram<double> LaunchDuration { get; }

    public Counter<long> Losses { get; }

    public Counter<long> MissedHeartbeats { get; }

    public Counter<long> FleetEjections { get; }

    public Counter<long> FleetReadmissions { get; }

    public Counter<long> FleetRetries { get; }

    public Counter<long> FleetPlacements { get; }

    /// <summary>The worker's address on a fleet session's measurements (bounded: see <see cref="WorkerFleet"/>).</summary>
    public const string WorkerTag = "engine_client.worker";

    /// <summary>The instruments on <paramref name="factory"/>'s meter, or the shared ones.</summary>
    public static EngineClientTelemetry For(IMeterFactory? factory) =>
        factory is null ? Shared : ByFactory.GetValue(factory, f => new EngineClientTelemetry(f.Create(new MeterOptions(Name) { Version = Version })));

    public static string OutcomeTag(SessionOutcomeKind kind) => kind switch
    {
        SessionOutcomeKind.Finished => "finished",
        SessionOutcomeKind.Cancelled => "cancelled",
        SessionOutcomeKind.Failed => "failed",
        SessionOutcomeKind.TransportFailed => "transport_failed",
        _ => "interrupted",
    };

    /// <summary>
    /// The OpenTelemetry <c>error.type</c> of an outcome: the kind of the worker's error when it
    /// reported one (<c>user</c>, <c>worker</c>, <c>protocol</c>; an error answering Init ends the
    /// session Cancelled, with that error), <c>engine</c> for any other failure on the engine's side
    /// (its callback, its input, output it rejected), the transport failure's reason (<c>rpc</c>,
    /// <c>unreachable</c>, <c>protocol_violation</c>, <c>timeout</c>, <c>send_failed</c>,
    /// <c>worker_lost</c>); <see langword="null"/> for a session without error. A bounded set.
    /// </summary>
    public static string? ErrorTypeTag(SessionOutcome outcome) => outcome.Error?.Kind switch
    {
        SessionErrorKind.User => "user",
        SessionErrorKind.Worker => "worker",
        SessionErrorKind.Protocol => "protocol",
        _ => ErrorTypeWithoutWorkerError(outcome),
    };

    private static string? ErrorTypeWithoutWorkerError(SessionOutcome outcome) => outcome.Kind switch
    {
        SessionOutcomeKind.Failed => "engine",
        SessionOutcomeKind.TransportFailed => (outcome.Exception as WorkerTransportException)?.Reason switch
        {
            TransportFailureReason.Rpc => "rpc",
            TransportFailureReason.Unreachable => "unreachable",
            TransportFailureReason.ProtocolViolation => "protocol_violation",
            TransportFailureReason.Timeout => "timeout",
            TransportFailureReason.SendFailed => "send_failed",
            TransportFailureReason.WorkerLost => "worker_lost",
            _ => "transport",
        },
        _ => null,
    };

    public static string StateTag(PooledWorkerState state) => state switch
    {
        PooledWorkerState.Idle => "idle",
        PooledWorkerState.Busy => "busy",
        PooledWorkerState.Unhealthy => "unhealthy",
        _ => "stopping",
    };

    /// <summary>A pool whose workers <c>engine_client.pool.workers</c> observes until it closes.</summary>
    public void Register(WorkerPool pool)
    {
        lock (_poolsGate)
        {
            _pools.Add(new WeakReference<WorkerPool>(pool));
        }
    }

    public void Unregister(WorkerPool pool)
    {
        lock (_poolsGate)
        {
            _pools.RemoveAll(w => !w.TryGetTarget(out var p) || ReferenceEquals(p, pool));
        }
    }

    /// <summary>A fleet whose workers <c>engine_client.fleet.workers</c> observes until it closes.</summary>
    public void Register(WorkerFleet fleet)
    {
        lock (_poolsGate)
        {
            _fleets.Add(new WeakReference<WorkerFleet>(fleet));
        }
    }

    public void Unregister(WorkerFleet fleet)
    {
        lock (_poolsGate)
        {
            _fleets.RemoveAll(w => !w.TryGetTarget(out var f) || ReferenceEquals(f, fleet));
        }
    }

    public static string StateTag(FleetWorkerState state) => state switch
    {
        FleetWorkerState.Healthy => "healthy",
        FleetWorkerState.Ejected => "ejected",
        _ => "draining",
    };

    private List<Measurement<long>> ObserveFleetWorkers()
    {
        WorkerFleet[] fleets;
        lock (_poolsGate)
        {
            fleets = [.. _fleets.Select(w => w.TryGetTarget(out var f) ? f : null).OfType<WorkerFleet>()];
        }

        var measurements = new List<Measurement<long>>();
        foreach (var fleet in fleets)
        {
            var workers = fleet.Workers;
            foreach (var state in Enum.GetValues<FleetWorkerState>())
            {
                measurements.Add(new Measurement<long>(
                    workers.Count(w => w.State == state),
                    new KeyValuePair<string, object?>(PoolTag, fleet.Name),
                    new KeyValuePair<string, object?>("state", StateTag(state))));
            }
        }

        return measurements;
    }

    private List<Measurement<long>> ObserveWorkers()
    {
        WorkerPool[] pools;
        lock (_poolsGate)
        {
            pools = [.. _pools.Select(w => w.TryGetTarget(out var p) ? p : null).OfType<WorkerPool>()];
        }

        var measurements = new List<Measurement<long>>();
        foreach (var pool in pools)
        {
            var workers = pool.Workers;
            foreach (var state in Enum.GetValues<PooledWorkerState>())
            {
                measurements.Add(new Measurement<long>(
                    workers.Count(w => w.State == state),
                    new KeyValuePair<string, object?>(PoolTag, pool.Name),
                    new KeyValuePair<string, object?>("state", StateTag(state))));
            }
        }

        return measurements;
    }
}
