namespace Engine.Client;

/// <summary>A snapshot of one worker of a <see cref="WorkerFleet"/>.</summary>
public sealed record FleetWorkerInfo
{
    /// <summary>The worker's address (<c>unix:///path</c>, <c>http://host:port</c>, <c>https://host:port</c>).</summary>
    public required string Address { get; init; }

    /// <summary>
    /// The worker's identity from its last answered heartbeat (its <c>worker_id</c> metric), or
    /// <see langword="null"/> before any answer.
    /// </summary>
    public string? Identity { get; init; }

    /// <summary>The state.</summary>
    public required FleetWorkerState State { get; init; }

    /// <summary>Sessions this engine has on the worker now (opened and not yet released).</summary>
    public required int SessionsInFlight { get; init; }

    /// <summary>
    /// Active sessions the worker reported in its last heartbeat (its <c>active_sessions</c> metric,
    /// every engine's), or <see langword="null"/> when it reported none.
    /// </summary>
    public int? ReportedLoad { get; init; }

    /// <summary>
    /// The most concurrent sessions this worker takes: the least of
    /// <see cref="WorkerFleetOptions.MaxSessionsPerWorker"/> and the worker's own <c>max_sessions</c>
    /// metric; <see langword="null"/> for no limit.
    /// </summary>
    public int? SessionLimit { get; init; }

    /// <summary>Time since the last answered heartbeat, or <see langword="null"/> when none answered yet.</summary>
    public TimeSpan? LastHeartbeatAge { get; init; }

    /// <summary>How many times the worker was ejected.</summary>
    public int Ejections { get; init; }

    /// <summary>How many incarnations were seen at this address (a restart is a new one); 0 before any heartbeat answered.</summary>
    public int Incarnations { get; init; }

    /// <summary>Why the worker was last ejected or last failed, when it did.</summary>
    public string? LastFailure { get; init; }
}
