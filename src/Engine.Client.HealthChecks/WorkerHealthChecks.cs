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
