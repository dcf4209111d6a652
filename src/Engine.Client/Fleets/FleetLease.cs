using Engine.Client.Sessions;

namespace Engine.Client.Fleets;

/// <summary>
/// One fleet session's hold on its worker. Before the session commits (its first DataRequest, or
/// any message past Init) a retry may move it to another worker; after, it stays. Mutable state is
/// guarded by the fleet's lock.
/// </summary>
internal sealed class FleetLease(WorkerFleet fleet, FleetWorker worker, string? affinityKey) : ISessionLease
{
    private readonly List<SessionAttempt> _attempts = [new SessionAttempt(worker.Address, null)];
    private volatile FleetWorker _worker = worker;

    public WorkerFleet Fleet { get; } = fleet;

    public string? AffinityKey { get; } = affinityKey;

    public WorkerSession? Session { get; set; }

    /// <summary>The session span, to note the worker and the attempts on.</summary>
    public System.Diagnostics.Activity? Activity { get; init; }

    /// <summary>The worker of the current attempt.</summary>
    public FleetWorker Worker => _worker;

    /// <summary>The incarnation of the worker when the current attempt started, when known.</summary>
    public string? Incarnation { get; set; }

    /// <summary>Set by the call once nothing may be retried any more; guarded by the fleet's lock.</summary>
    public bool Committed { get; set; }

    /// <summary>Why the session's worker is gone, when the fleet knows (a restart, an ejection, draining).</summary>
    public string? LostReason { get; set; }

    /// <summary>The session's open call, to abandon an uncommitted attempt when its worker restarted.</summary>
    public FleetCall? Call { get; set; }

    public bool Released { get; private set; }

    public string? CurrentWorker => _worker.Address;

    public IReadOnlyList<SessionAttempt>? Attempts
    {
        get
        {
            lock (_attempts)
            {
                return [.. _attempts];
            }
        }
    }

    public int AttemptCount
    {
        get
        {
            lock (_attempts)
            {
                return _attempts.Count;
            }
        }
    }

    /// <summary>Moves the session to <paramref name="next"/>: the failed attempt keeps its reason. Called under the fleet's lock.</summary>
    public void MoveTo(FleetWorker next, string failure)
    {
        lock (_attempts)
        {
            _attempts[^1] = _attempts[^1] with { Failure = failure };
            _attempts.Add(new SessionAttempt(next.Address, null));
        }

        _worker = next;
    }

    /// <summary>Marks the lease released (once); called under the fleet's lock.</summary>
    public bool MarkReleased()
    {
        if (Released)
        {
            return false;
        }

        Released = true;
        return true;
    }

    public void Invalidate(SessionOutcome outcome) => Fleet.OnSessionBroke(this, outcome);

    public ValueTask ReleaseAsync(SessionOutcome outcome) => Fleet.ReleaseAsync(this, outcome);

    public ValueTask<string?> ExplainStreamFailureAsync() => ValueTask.FromResult(Fleet.Explain(this));
}
