using Engine.Client.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Health checks of the worker pools and clients registered with <c>AddWorkerPool</c> and
/// <c>AddWorkerClient</c>, for <c>services.AddHealthChecks()</c>.
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
