using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Engine.Client.DependencyInjection;

/// <summary>
/// Starts the pools and fleets registered with <see cref="WorkerPoolServiceOptions.StartWithHost"/>
/// (<see cref="WorkerFleetServiceOptions.StartWithHost"/>) as the host starts, and closes them as it
/// stops. Those without it are left to first use and the container.
/// </summary>
internal sealed class WorkerHostedService(
    IServiceProvider services,
    WorkerRegistry registry,
    IOptionsMonitor<WorkerPoolServiceOptions> options,
    IOptionsMonitor<WorkerFleetServiceOptions> fleetOptions) : IHostedService
{
    private readonly List<WorkerSessionSource> _started = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var name in registry.Pools.Order(StringComparer.Ordinal))
        {
            var settings = options.Get(name);
            if (!settings.StartWithHost)
            {
                continue;
            }

            var pool = name.Length == 0 ? services.GetRequiredService<WorkerPool>() : services.GetRequiredKeyedService<WorkerPool>(name);
            _started.Add(pool);
            if (settings.WorkersAtStart > 0)
            {
                await pool.StartWorkersAsync(settings.WorkersAtStart, cancellationToken).ConfigureAwait(false);
            }
        }

        foreach (var name in registry.Fleets.Order(StringComparer.Ordinal))
        {
            if (!fleetOptions.Get(name).StartWithHost)
            {
                continue;
            }

            var fleet = name.Length == 0 ? services.GetRequiredService<WorkerFleet>() : services.GetRequiredKeyedService<WorkerFleet>(name);
            _started.Add(fleet);
            await fleet.WaitForWorkersAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Every pool and fleet stops at once; the host's shutdown timeout bounds the wait (the
        // container's disposal then finishes the stop, which is idempotent).
        try
        {
            await Task.WhenAll(_started.Select(p => p.DisposeAsync().AsTask())).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host gave up waiting; the workers' stop goes on.
        }
    }
}
