using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Client;

/// <summary>
/// Settings of a <see cref="WorkerPool"/>. Every property documents its default; set them before
/// creating the pool. <see cref="Validate"/> runs when the pool is created.
/// </summary>
public sealed class WorkerPoolOptions
{
    /// <summary>
    /// Reusable workers kept running while idle (specifications with <c>supports_reuse</c>); an idle
    /// worker beyond this count is stopped. Default 2; 0 stops every worker when its last session ends.
    /// </summary>
    public int MaxIdleWorkers { get; set; } = 2;

    /// <summary>
    /// Sessions one worker serves at once when its specification sets both <c>supports_reuse</c> and
    /// <c>supports_concurrent_udfs</c>; otherwise a worker serves one session at a time. Default 4.
    /// </summary>
    public int MaxSessionsPerWorker { get; set; } = 4;

    /// <summary>
    /// The default of <see cref="MaxWorkers"/>: twice the processors this process may use
    /// (<see cref="Environment.ProcessorCount"/>, which honours container CPU limits), at least 4.
    /// </summary>
    /// <remarks>
    /// A worker is a whole process (the reference worker idles at about 60 MB and takes some
    /// 100 MB under load) whose UDFs compete for the same processors as the engine: workers beyond
    /// the processors add memory and context switches, not throughput. Twice the processors leaves
    /// room for a task that holds two sessions at once (two UDFs in one stage) and for UDFs that
    /// wait on I/O; the floor of 4 keeps a one- or two-processor container from serialising
    /// sessions of workers that serve one session at a time.
    /// </remarks>
    internal static int DefaultMaxWorkers => Math.Max(4, 2 * System.Environment.ProcessorCount);

    /// <summary>
    /// Workers alive at once (starting, serving, idle or stopping). Default
    /// twice the processor count, at least 4 (the remarks say why);
    /// <see langword="null"/>: no cap. At the cap, session requests wait for a worker to become free
    /// or to stop. <see cref="WorkerPool.StartWorkersAsync"/> launches the count it is asked for
    /// regardless of the cap.
    /// </summary>
    public int? MaxWorkers { get; set; } = DefaultMaxWorkers;

    /// <summary>Time between heartbeats to each worker. Default 2 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Deadline of each heartbeat to a launched worker: the monitor's, and any other Manage heartbeat on it. Default 2 s.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Heartbeats in a row a worker may miss before it is marked unhealthy: its sessions then fail at
    /// once and it is replaced. Default 3.
    /// </summary>
    public int MaxMissedHeartbeats { get; set; } = 3;

    /// <summary>
    /// When a session's stream breaks, how long to wait to learn whether its worker process died (so
    /// the error can name the exit code or signal). Default 500 ms.
    /// </summary>
    public TimeSpan WorkerExitGrace { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Whether disposing the pool asks workers to cancel their in-flight sessions at once (Manage shutdown with <c>cancel_sessions</c>). Default true.</summary>
    public bool CancelSessionsOnDispose { get; set; } = true;

    /// <summary>How workers are launched (socket directory, readiness polling, stopping, output kept). Never <see langword="null"/>.</summary>
    public WorkerProcessOptions Process { get; set; } = new();

    /// <summary>The connection to each launched worker: message limits, keepalive, flow control, Manage calls. Never <see langword="null"/>.</summary>
    public WorkerConnectionOptions Connection { get; set; } = new();

    /// <summary>Time limits of environment verification, installation and cleanup.</summary>
    public WorkerEnvironmentOptions Environment { get; set; } = new();

    /// <summary>Defaults of sessions opened on the pool (<see cref="WorkerPool.OpenSessionAsync"/> with no options). Never <see langword="null"/>.</summary>
    public SessionOptions Session { get; set; } = new();

    /// <summary>Logging for the pool, its workers and their sessions. Default <see cref="NullLoggerFactory.Instance"/>.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Clock for heartbeats and every deadline of the pool, its workers and their sessions. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Creates the meter (named <see cref="EngineClientDiagnostics.MeterName"/>) that the pool, its
    /// workers and their sessions record on; a dependency-injection container's factory, typically.
    /// Default <see langword="null"/>: a meter shared by the process.
    /// </summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>
    /// The pool's name: the <c>engine_client.pool.name</c> tag of every measurement of the pool, its
    /// workers and their sessions, and of its health check. Keep it to a handful of fixed values
    /// (one per pool). Default <see langword="null"/>: <c>default</c>. Must not be empty or blank.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>
    /// Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.
    /// Every timeout and interval must be at most 24.8 days (2^31 - 1 ms, the longest wait of a timer or a socket timeout).
    /// </summary>
    public void Validate()
    {
        if (MaxIdleWorkers < 0)
        {
            throw new ArgumentException($"{nameof(MaxIdleWorkers)} is {MaxIdleWorkers}; it must not be negative.");
        }

        if (MaxSessionsPerWorker < 1)
        {
            throw new ArgumentException($"{nameof(MaxSessionsPerWorker)} is {MaxSessionsPerWorker}; it must be at least 1.");
        }

        if (MaxWorkers is < 1)
        {
            throw new ArgumentException($"{nameof(MaxWorkers)} is {MaxWorkers}; it must be at least 1 (or null for no cap).");
        }

        WorkerClientOptions.RequirePositive(HeartbeatInterval, nameof(HeartbeatInterval));
        WorkerClientOptions.RequirePositive(HeartbeatTimeout, nameof(HeartbeatTimeout));
        WorkerClientOptions.RequirePositive(WorkerExitGrace, nameof(WorkerExitGrace));
        if (MaxMissedHeartbeats < 1)
        {
            throw new ArgumentException($"{nameof(MaxMissedHeartbeats)} is {MaxMissedHeartbeats}; it must be at least 1.");
        }

        if (Name is not null && string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException($"{nameof(Name)} is blank; set a name or leave it null.");
        }

        ArgumentNullException.ThrowIfNull(Process, nameof(Process));
        ArgumentNullException.ThrowIfNull(Environment, nameof(Environment));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        ArgumentNullException.ThrowIfNull(Connection, nameof(Connection));
        ArgumentNullException.ThrowIfNull(Session, nameof(Session));
        Process.Validate();
        Environment.Validate();
        Connection.Validate();
        Session.Validate(Connection.MaxSendMessageSize);
    }

    /// <summary>The pool name used when <see cref="Name"/> is <see langword="null"/>.</summary>
    internal const string DefaultName = "default";

    /// <summary>
    /// A copy in which the settings made once at this root reach every part: each worker's client
    /// gets the connection, heartbeat deadline, session defaults, logging, clock and meters; the
    /// environment setup gets the logging and clock.
    /// </summary>
    internal WorkerPoolOptions Effective()
    {
        var clone = (WorkerPoolOptions)MemberwiseClone();
        clone.Name = Name ?? DefaultName;
        clone.Connection = Connection.Clone();
        clone.Session = Session.Clone();
        clone.Process = Process.Clone();
        clone.Process.Client = new WorkerClientOptions
        {
            Connection = clone.Connection,
            HeartbeatTimeout = HeartbeatTimeout,
            Session = clone.Session,
            LoggerFactory = LoggerFactory,
            TimeProvider = TimeProvider,
            MeterFactory = MeterFactory,
            PoolName = clone.Name,
        };
        clone.Environment = Environment.Clone();
        clone.Environment.LoggerFactory = LoggerFactory;
        clone.Environment.TimeProvider = TimeProvider;
        return clone;
    }
}
