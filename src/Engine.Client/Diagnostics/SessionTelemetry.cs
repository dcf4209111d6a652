using System.Diagnostics;

namespace Engine.Client.Diagnostics;

/// <summary>
/// Where a session reports: the instruments it records on, the pool it belongs to (its
/// <c>engine_client.pool.name</c> tag), and the session span its pool started already (so the
/// worker's launch is a child of it), if any.
/// </summary>
internal sealed class SessionTelemetry(EngineClientTelemetry instruments, string? pool, Func<string?>? worker = null)
{
    public static readonly SessionTelemetry Default = new(EngineClientTelemetry.Shared, pool: null);

    private readonly KeyValuePair<string, object?>[] _sent = Tags(pool, new("direction", "sent"));
    private readonly KeyValuePair<string, object?>[] _received = Tags(pool, new("direction", "received"));
    private WorkerTags? _workerTags;

    public EngineClientTelemetry Instruments { get; } = instruments;

    public string? Pool { get; } = pool;

    /// <summary>
    /// The <c>engine_client.worker</c> tag of a fleet session: the worker it runs on now (a retry
    /// before commit moves it; data, Init and outcome measurements come after), from a bounded set
    /// of values; <see langword="null"/> outside a fleet.
    /// </summary>
    public string? Worker => worker?.Invoke();

    /// <summary>The session span, started by the pool before the worker was acquired; <see langword="null"/> otherwise.</summary>
    public Activity? Started { get; init; }

    public KeyValuePair<string, object?>[] Sent => worker is null ? _sent : Current().Sent;

    public KeyValuePair<string, object?>[] Received => worker is null ? _received : Current().Received;

    /// <summary>The pool's tag alone (the active-sessions counter: no worker tag, so that its increments and decrements match).</summary>
    public KeyValuePair<string, object?>[] PoolOnly { get; } = pool is null ? [] : [new(EngineClientTelemetry.PoolTag, pool)];

    /// <summary>Pool tag first, then <paramref name="tag"/>, then the fleet's worker tag when there is one.</summary>
    public static KeyValuePair<string, object?>[] Tags(string? pool, KeyValuePair<string, object?> tag, string? worker = null) =>
        pool is null ? [tag]
        : worker is null ? [new(EngineClientTelemetry.PoolTag, pool), tag]
        : [new(EngineClientTelemetry.PoolTag, pool), tag, new(EngineClientTelemetry.WorkerTag, worker)];

    /// <summary>The same place, with the pool's session span.</summary>
    public SessionTelemetry WithStarted(Activity? started) => new(Instruments, Pool, worker) { Started = started };

    /// <summary>The tag arrays of the current worker, built again only when the worker changed.</summary>
    private WorkerTags Current()
    {
        var name = worker!();
        var tags = Volatile.Read(ref _workerTags);
        if (tags is null || !string.Equals(tags.Worker, name, StringComparison.Ordinal))
        {
            tags = new WorkerTags(name, Tags(Pool, new("direction", "sent"), name), Tags(Pool, new("direction", "received"), name));
            Volatile.Write(ref _workerTags, tags);
        }

        return tags;
    }

    private sealed record WorkerTags(string? Worker, KeyValuePair<string, object?>[] Sent, KeyValuePair<string, object?>[] Received);
}
