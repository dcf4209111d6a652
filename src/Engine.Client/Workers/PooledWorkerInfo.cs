namespace Engine.Client;

/// <summary>Where a pooled worker stands.</summary>
public enum PooledWorkerState
{
    /// <summary>Running, serving no session.</summary>
    Idle,

    /// <summary>Serving one or more sessions.</summary>
    Busy,

    /// <summary>Its process exited or it missed its heartbeats; its sessions failed and it is being stopped (a later session gets a fresh worker). Stays so until it leaves the pool.</summary>
    Unhealthy,

    /// <summary>Being stopped by the pool (idle beyond the count kept, its session ended, the pool is closing); not unhealthy.</summary>
    Stopping,
}

/// <summary>A snapshot of one worker of a <see cref="WorkerPool"/>.</summary>
public sealed record PooledWorkerInfo
{
    /// <summary>The worker id passed with <c>--id</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The worker's process id.</summary>
    public required int ProcessId { get; init; }

    /// <summary>Where the worker listens.</summary>
    public required WorkerAddress Address { get; init; }

    /// <summary>Where it stands.</summary>
    public required PooledWorkerState State { get; init; }

    /// <summary>Sessions it serves now.</summary>
    public int ActiveSessions { get; init; }

    /// <summary>Sessions it finished serving.</summary>
    public long SessionsServed { get; init; }

    /// <summary>The worker's metrics from its last answered heartbeat, or <see langword="null"/> before the first.</summary>
    public IReadOnlyDictionary<string, string>? HeartbeatMetrics { get; init; }

    /// <summary>Time since the last answered heartbeat (or since launch, before the first).</summary>
    public TimeSpan SinceLastHeartbeat { get; init; }

    /// <summary>Heartbeats missed in a row.</summary>
    public int MissedHeartbeats { get; init; }

    /// <summary>Why the worker is unhealthy, when it is.</summary>
    public string? UnhealthyReason { get; init; }
}
