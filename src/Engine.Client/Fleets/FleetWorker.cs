using System.Globalization;

namespace Engine.Client.Fleets;

/// <summary>One worker of a fleet: its client and what placement and health know of it. Mutable fields are guarded by the fleet's lock.</summary>
internal sealed class FleetWorker(string address, WorkerClient client)
{
    public string Address { get; } = address;

    public WorkerClient Client { get; } = client;

    /// <summary>Stops the heartbeats and probes.</summary>
    public CancellationTokenSource MonitorStop { get; } = new();

    /// <summary>Sessions this engine has on the worker (opened, not yet released).</summary>
    public HashSet<FleetLease> Sessions { get; } = [];

    public int InFlight => Sessions.Count;

    /// <summary>Sessions placed here so far (ties of placement go to the worker that got fewer).</summary>
    public long Placed { get; set; }

    /// <summary>Sessions of other engines, as the last heartbeat said: its <c>active_sessions</c> less this engine's then.</summary>
    public int Others { get; set; }

    public int? ReportedActive { get; set; }

    public int? ReportedLimit { get; set; }

    public string? Identity { get; set; }

    /// <summary>What tells one incarnation from the next: the worker id and its incarnation (or pid) metric.</summary>
    public string? Incarnation { get; set; }

    public int Incarnations { get; set; }

    public long LastHeartbeat { get; set; }

    public bool Draining { get; set; }

    public bool Removed { get; set; }

    public bool Ejected { get; set; }

    public long EjectedUntil { get; set; }

    public int Ejections { get; set; }

    public int ConsecutiveFailures { get; set; }

    public string? LastFailure { get; set; }

    /// <summary>The bounded-cardinality value of this worker's tag on session metrics.</summary>
    public string MetricTag { get; set; } = "other";

    public int Load => InFlight + Others;

    public int? Limit(int? configured) => (configured, ReportedLimit) switch
    {
        (null, var reported) => reported,
        (var own, null) => own,
        ({ } own, { } reported) => Math.Min(own, reported),
    };

    public FleetWorkerState State => Draining ? FleetWorkerState.Draining : Ejected ? FleetWorkerState.Ejected : FleetWorkerState.Healthy;

    /// <summary>Reads the heartbeat's metrics; returns the new incarnation key.</summary>
    public static (string? Identity, string Incarnation, int? Active, int? Limit) Read(HeartbeatResult heartbeat)
    {
        var metrics = heartbeat.Metrics;
        metrics.TryGetValue("worker_id", out var id);
        var incarnation = metrics.TryGetValue("incarnation", out var value) ? value
            : metrics.TryGetValue("pid", out var pid) ? "pid " + pid
            : "";
        return (id, (id ?? "") + "/" + incarnation, Number(metrics, "active_sessions"), Number(metrics, "max_sessions"));
    }

    private static int? Number(IReadOnlyDictionary<string, string> metrics, string key) =>
        metrics.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : null;
}
