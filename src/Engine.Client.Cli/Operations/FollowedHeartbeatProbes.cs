using Engine.Client.Load;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// <c>load</c>'s heartbeat probes of workers that come and go during the run (a fleet's membership,
/// a pool's replacements):
/// at each round of heartbeats the addresses are read again; an address that appeared gets a client
/// and a probe, one that went away has its client disposed and is probed no more.
/// </summary>
/// <param name="addresses">The workers of now; called from the run's heartbeat thread, once a round.</param>
/// <param name="options">The options of each worker's client.</param>
internal sealed class FollowedHeartbeatProbes(Func<IEnumerable<string>> addresses, WorkerClientOptions options) : IDisposable
{
    private readonly Dictionary<string, (WorkerClient Client, LoadHeartbeatProbe Probe)> _probes = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>A fleet's workers, those draining (gone from its discovery) left out.</summary>
    public static FollowedHeartbeatProbes ForFleet(WorkerFleet fleet, WorkerClientOptions options) =>
        new(() => fleet.Workers.Where(w => w.State != FleetWorkerState.Draining).Select(w => w.Address), options);

    /// <summary>A pool's workers, those it is stopping on purpose left out (one that died stays until it leaves the pool).</summary>
    public static FollowedHeartbeatProbes ForPool(WorkerPool pool, WorkerClientOptions options) =>
        new(() => pool.Workers.Where(w => w.State != PooledWorkerState.Stopping).Select(w => w.Address.ToString()), options);

    /// <summary>The probes of the workers of now, in address order (for <see cref="LoadTestOptions.HeartbeatProbes"/>).</summary>
    public IReadOnlyList<LoadHeartbeatProbe> Current()
    {
        var now = addresses().ToHashSet(StringComparer.Ordinal);
        var gone = new List<WorkerClient>();
        List<LoadHeartbeatProbe> probes;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var address in _probes.Keys.Where(a => !now.Contains(a)).ToList())
            {
                gone.Add(_probes[address].Client);
                _probes.Remove(address);
            }

            foreach (var address in now.Where(a => !_probes.ContainsKey(a)))
            {
                var client = WorkerClient.Create(address, options);
                _probes[address] = (client, new LoadHeartbeatProbe(client.Name, token => client.HeartbeatAsync(TimeSpan.FromSeconds(10), token)));
            }

            probes = [.. _probes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value.Probe)];
        }

        // No probe is in flight while the round reads the workers: a departed client can go now.
        foreach (var client in gone)
        {
            client.Dispose();
        }

        return probes;
    }

    public void Dispose()
    {
        List<WorkerClient> clients;
        lock (_gate)
        {
            _disposed = true;
            clients = [.. _probes.Values.Select(p => p.Client)];
            _probes.Clear();
        }

        foreach (var client in clients)
        {
            client.Dispose();
        }
    }
}
