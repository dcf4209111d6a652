using System.Diagnostics;

namespace Engine.Client.Diagnostics;

/// <summary>
/// Where a session reports: the instruments it records on, the pool it belongs to (its
/// <c>engine_client.pool.name</c> tag), and the session span its pool started already (so the
/// worker's launch is a child of it), if any.
/// </summary>
internal sealed class SessionTelemetry(EngineClientTelemetry instruments, string? pool, string? worker = null)
{
    public static readonly SessionTelemetry Default = new(EngineClientTelemetry.Shared, pool: null);

    public EngineClientTelemetry Instruments { get; } = instruments;

    public string? Pool { get; } = pool;

    /// <summary>The session span, started by the pool before the worker was acquired; <see langword="null"/> otherwise.</summary>
    public Activity? Started { get; init; }

    /// <summary>The worker tag of a fleet session (a bounded set of values), or <see langword="null"/>.</summary>
    public string? Worker { get; } = worker;

    public KeyValuePair<string, object?>[] Sent { get; } = Tags(pool, new("direction", "sent"), worker);

    public KeyValuePair<string, object?>[] Received { get; } = Tags(pool, new("direction", "received"), worker);

    public KeyValuePair<string, object?>[] PoolOnly { get; } =
        pool is null ? [] : worker is null ? [new(EngineClientTelemetry.PoolTag, pool)] : [new(EngineClientTelemetry.PoolTag, pool), new(EngineClientTelemetry.WorkerTag, worker)];

    /// <summary>Pool tag first, then <paramref name="tag"/>, then the fleet's worker tag when there is one.</summary>
    public static KeyValuePair<string, object?>[] Tags(string? pool, KeyValuePair<string, object?> tag, string? worker = null) =>
        pool is null ? [tag]
        : worker is null ? [new(EngineClientTelemetry.PoolTag, pool), tag]
        : [new(EngineClientTelemetry.PoolTag, pool), tag, new(EngineClientTelemetry.WorkerTag, worker)];

    /// <summary>The same place, with the pool's session span.</summary>
    public SessionTelemetry WithStarted(Activity? started) => new(Instruments, Pool, Worker) { Started = started };
}
