using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Engine.Client.HealthChecks;

/// <summary>A pool's health from its workers' states and heartbeats; launches nothing.</summary>
internal sealed class WorkerPoolHealthCheck(IServiceProvider services, string key) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var pool = key.Length == 0 ? services.GetRequiredService<WorkerPool>() : services.GetRequiredKeyedService<WorkerPool>(key);
        return Task.FromResult(Evaluate(pool.Name, pool.IsClosed, pool.Workers, context.Registration.FailureStatus));
    }

    /// <summary>The verdict on a snapshot of a pool.</summary>
    internal static HealthCheckResult Evaluate(string name, bool closed, IReadOnlyList<PooledWorkerInfo> workers, HealthStatus failureStatus)
    {
        if (closed)
        {
            return new HealthCheckResult(failureStatus, $"worker pool '{name}' is closed");
        }

        int Count(PooledWorkerState state) => workers.Count(w => w.State == state);
        var idle = Count(PooledWorkerState.Idle);
        var busy = Count(PooledWorkerState.Busy);
        var unhealthy = Count(PooledWorkerState.Unhealthy);
        var missed = workers.Count == 0 ? 0 : workers.Max(w => w.State is PooledWorkerState.Idle or PooledWorkerState.Busy ? w.MissedHeartbeats : 0);
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["idle"] = idle,
            ["busy"] = busy,
            ["unhealthy"] = unhealthy,
            ["stopping"] = Count(PooledWorkerState.Stopping),
            ["missed_heartbeats"] = missed,
        };

        HealthCheckResult result;
        if (unhealthy > 0 && idle + busy == 0)
        {
            result = new HealthCheckResult(failureStatus, $"worker pool '{name}': every worker is lost ({unhealthy})", data: data);
        }
        else if (unhealthy > 0)
        {
            result = HealthCheckResult.Degraded($"worker pool '{name}': {unhealthy} worker(s) lost, {idle + busy} serving", data: data);
        }
        else if (missed > 0)
        {
            result = HealthCheckResult.Degraded($"worker pool '{name}': a worker missed {missed} heartbeat(s) in a row", data: data);
        }
        else
        {
            result = HealthCheckResult.Healthy(
                idle + busy == 0 ? $"worker pool '{name}': no worker running (launched on demand)" : $"worker pool '{name}': {idle + busy} worker(s) answering heartbeats",
                data);
        }

        return result;
    }
}

/// <summary>
/// A fleet's health from its workers' states, as the fleet sees them (<see cref="WorkerFleet.Workers"/>,
/// what <c>engine-client fleet status</c> shows); heartbeats nothing of its own.
/// </summary>
internal sealed class WorkerFleetHealthCheck(IServiceProvider services, string key, int minimumHealthy) : IHealthCheck
{
    /// <summary>The most ejected workers' addresses listed in the result's data.</summary>
    internal const int MaxListedWorkers = 10;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var fleet = key.Length == 0 ? services.GetRequiredService<WorkerFleet>() : services.GetRequiredKeyedService<WorkerFleet>(key);
        IReadOnlyList<FleetWorkerInfo> workers;
        try
        {
            // At once for a static list; a DNS fleet created by this check waits for its first answer.
            workers = await fleet.WaitForWorkersAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return Evaluate(fleet.Name, closed: true, [], resolveError: null, minimumHealthy, context.Registration.FailureStatus);
        }

        return Evaluate(fleet.Name, closed: false, workers, fleet.ResolveError, minimumHealthy, context.Registration.FailureStatus);
    }

    /// <summary>The verdict on a snapshot of a fleet.</summary>
    internal static HealthCheckResult Evaluate(
        string name,
        bool closed,
        IReadOnlyList<FleetWorkerInfo> workers,
        string? resolveError,
        int minimumHealthy,
        HealthStatus failureStatus)
    {
        if (closed)
        {
            return new HealthCheckResult(failureStatus, $"worker fleet '{name}' is closed");
        }

        int Count(FleetWorkerState state) => workers.Count(w => w.State == state);
        var healthy = Count(FleetWorkerState.Healthy);
        var ejected = Count(FleetWorkerState.Ejected);
        var draining = Count(FleetWorkerState.Draining);
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["healthy"] = healthy,
            ["ejected"] = ejected,
            ["draining"] = draining,
            ["sessions_in_flight"] = workers.Sum(w => w.SessionsInFlight),
            ["ejected_workers"] = workers
                .Where(w => w.State == FleetWorkerState.Ejected)
                .Select(w => w.Address)
                .Order(StringComparer.Ordinal)
                .Take(MaxListedWorkers)
                .ToArray(),
        };
        if (resolveError is not null)
        {
            data["resolve_error"] = resolveError;
        }

        var summary = $"{healthy} of {workers.Count} worker(s) take sessions, {ejected} ejected, {draining} draining";
        if (workers.Count == 0)
        {
            return new HealthCheckResult(
                failureStatus,
                resolveError is null ? $"worker fleet '{name}' has no worker" : $"worker fleet '{name}' has no worker: {resolveError}",
                data: data);
        }

        if (healthy == 0)
        {
            return new HealthCheckResult(failureStatus, $"worker fleet '{name}': no worker takes sessions ({summary})", data: data);
        }

        if (ejected > 0 || draining > 0)
        {
            return HealthCheckResult.Degraded($"worker fleet '{name}': {summary}", data: data);
        }

        if (healthy < minimumHealthy)
        {
            return HealthCheckResult.Degraded($"worker fleet '{name}': {summary}; at least {minimumHealthy} wanted", data: data);
        }

        if (resolveError is not null)
        {
            return HealthCheckResult.Degraded($"worker fleet '{name}': {summary}; its last resolution failed: {resolveError}", data: data);
        }

        return HealthCheckResult.Healthy($"worker fleet '{name}': {summary}", data);
    }
}

/// <summary>A client's worker answers a Manage heartbeat in time.</summary>
internal sealed class WorkerClientHealthCheck(IServiceProvider services, string key, TimeSpan? timeout) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var client = key.Length == 0 ? services.GetRequiredService<WorkerClient>() : services.GetRequiredKeyedService<WorkerClient>(key);
        try
        {
            var heartbeat = await client.HeartbeatAsync(timeout, cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy(
                $"worker {client.Name} answers",
                new Dictionary<string, object>(StringComparer.Ordinal) { ["round_trip_ms"] = heartbeat.RoundTrip.TotalMilliseconds });
        }
        catch (Exception ex) when (ex is WorkerTransportException or ObjectDisposedException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"worker {client.Name} does not answer: {ex.Message}", ex);
        }
    }
}
