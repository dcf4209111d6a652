using Engine.Client.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Health checks of the worker pools, fleets and clients registered with <c>AddWorkerPool</c>,
/// <c>AddWorkerFleet</c> and <c>AddWorkerClient</c>, for <c>services.AddHealthChecks()</c>.
/// </summary>
public static class EngineClientHealthChecksBuilderExtensions
{
    /// <summary>
    /// Checks a registered <see cref="Engine.Client.WorkerPool"/> from its workers' states and heartbeats,
    /// without launching anything: <see cref="HealthStatus.Healthy"/> when no worker is unhealthy and
    /// none missed its last heartbeat (also with no worker running: one is launched on demand);
    /// <see cref="HealthStatus.Degraded"/> when a worker missed heartbeats, or some workers are lost
    /// while others serve; <paramref name="failureStatus"/> when every worker of the pool is lost
    /// (at least one), or the pool is closed. The result's data holds the count of workers in each state
    /// (<c>idle</c>, <c>busy</c>, <c>unhealthy</c>, <c>stopping</c>) and <c>missed_heartbeats</c>
    /// (the most any worker has missed in a row).
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="pool">The pool's registration name; <see langword="null"/> or empty for the default pool.</param>
    /// <param name="name">The check's name. Default <c>engine-client-pool-</c> and the pool's name (<c>default</c> for the default pool).</param>
    /// <param name="failureStatus">The status reported when the pool cannot serve. Default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddWorkerPoolCheck(
        this IHealthChecksBuilder builder,
        string? pool = null,
        string? name = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var key = pool ?? string.Empty;
        return builder.Add(new HealthCheckRegistration(
            name ?? $"engine-client-pool-{(key.Length == 0 ? "default" : key)}",
            sp => new WorkerPoolHealthCheck(sp, key),
            failureStatus,
            tags));
    }

    /// <summary>
    /// Checks a registered <see cref="Engine.Client.WorkerFleet"/> from its workers' states as the fleet
    /// sees them (<see cref="Engine.Client.WorkerFleet.Workers"/>, what <c>engine-client fleet status</c>
    /// shows), without heartbeats of its own: <see cref="HealthStatus.Healthy"/> when every worker takes
    /// sessions and at least <paramref name="minimumHealthyWorkers"/> do;
    /// <see cref="HealthStatus.Degraded"/> when some workers are ejected or draining while others take
    /// sessions, fewer than <paramref name="minimumHealthyWorkers"/> take them, or the fleet's last
    /// DNS resolution failed; <paramref name="failureStatus"/> when no worker takes sessions (every one
    /// ejected or draining, or none found), or the fleet is closed. The result's data holds the count
    /// of workers in each state (<c>healthy</c>, <c>ejected</c>, <c>draining</c>),
    /// <c>sessions_in_flight</c>, <c>ejected_workers</c> (the addresses of the first 10 ejected
    /// workers, in address order) and <c>resolve_error</c> when the last resolution failed. A DNS
    /// fleet the check creates is awaited until its first resolution answered.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="fleet">The fleet's registration name; <see langword="null"/> or empty for the default fleet.</param>
    /// <param name="name">The check's name. Default <c>engine-client-fleet-</c> and the fleet's registration name (<c>default</c> for the default fleet).</param>
    /// <param name="failureStatus">The status reported when the fleet cannot serve. Default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <param name="minimumHealthyWorkers">Fewest workers taking sessions for a healthy fleet; fewer (but some) is degraded. Default 1; at least 1.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minimumHealthyWorkers"/> is less than 1.</exception>
    public static IHealthChecksBuilder AddWorkerFleetCheck(
        this IHealthChecksBuilder builder,
        string? fleet = null,
        string? name = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        int minimumHealthyWorkers = 1)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfLessThan(minimumHealthyWorkers, 1);
        var key = fleet ?? string.Empty;
        return builder.Add(new HealthCheckRegistration(
            name ?? $"engine-client-fleet-{(key.Length == 0 ? "default" : key)}",
            sp => new WorkerFleetHealthCheck(sp, key, minimumHealthyWorkers),
            failureStatus,
            tags));
    }

    /// <summary>
    /// Checks a registered <see cref="Engine.Client.WorkerClient"/> with a Manage heartbeat:
    /// <see cref="HealthStatus.Healthy"/> when the worker answers (data: <c>round_trip_ms</c>),
    /// <paramref name="failureStatus"/> when it is unreachable or does not answer within
    /// <paramref name="timeout"/>.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="client">The client's registration name; <see langword="null"/> or empty for the default client.</param>
    /// <param name="name">The check's name. Default <c>engine-client-worker-</c> and the client's name (<c>default</c> for the default client).</param>
    /// <param name="failureStatus">The status reported when the worker does not answer. Default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by.</param>
    /// <param name="timeout">The heartbeat's deadline. Default <see langword="null"/>: the client's <c>HeartbeatTimeout</c> (5 s).</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddWorkerClientCheck(
        this IHealthChecksBuilder builder,
        string? client = null,
        string? name = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var key = client ?? string.Empty;
        return builder.Add(new HealthCheckRegistration(
            name ?? $"engine-client-worker-{(key.Length == 0 ? "default" : key)}",
            sp => new WorkerClientHealthCheck(sp, key, timeout),
            failureStatus,
            tags));
    }
}
