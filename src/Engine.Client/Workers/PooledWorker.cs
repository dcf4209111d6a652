namespace Engine.Client.Workers;

/// <summary>A worker process as the pool sees it. Mutable fields are guarded by the pool's lock.</summary>
internal sealed class PooledWorker
{
    private readonly Lock _heartbeat = new();
    private readonly TimeProvider _time;
    private HeartbeatResult? _lastHeartbeat;
    private long _lastAnswer;
    private int _missed;

    public PooledWorker(WorkerProcess process, TimeProvider time)
    {
        Process = process;
        _time = time;
        _lastAnswer = time.GetTimestamp();
    }

    public WorkerProcess Process { get; }

    public string Id => Process.Id;

    /// <summary>Sessions in progress (reserved slots, also while a session is being opened).</summary>
    public int Active { get; set; }

    public long Served { get; set; }

    /// <summary>Sessions placed on it so far (reserved slots included): the tie-break of placement.</summary>
    public long Placed { get; set; }

    public HashSet<WorkerSession> Sessions { get; } = [];

    public bool Healthy { get; set; } = true;

    public string? UnhealthyReason { get; set; }

    /// <summary>A session on it ended unsalvageably: no new sessions; stopped once idle.</summary>
    public bool Retired { get; set; }

    public bool Stopping { get; set; }

    /// <summary>Why the worker is being stopped, once <see cref="Stopping"/>.</summary>
    public string? StopReason { get; set; }

    public bool IsAvailable => Healthy && !Retired && !Stopping;

    public CancellationTokenSource MonitorStop { get; } = new();

    public TaskCompletionSource MonitorDone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Answered(HeartbeatResult heartbeat)
    {
        lock (_heartbeat)
        {
            _lastHeartbeat = heartbeat;
            _lastAnswer = _time.GetTimestamp();
            _missed = 0;
        }
    }

    public void Missed(int inARow)
    {
        lock (_heartbeat)
        {
            _missed = inARow;
        }
    }

    /// <summary>Time since the last answered heartbeat, or since launch before the first.</summary>
    public TimeSpan SinceLastAnswer
    {
        get
        {
            lock (_heartbeat)
            {
                return _time.GetElapsedTime(_lastAnswer);
            }
        }
    }

    /// <summary>Stops the heartbeat loop and waits for it to end.</summary>
    public async Task StopMonitoring()
    {
        await MonitorStop.CancelAsync().ConfigureAwait(false);
        await MonitorDone.Task.ConfigureAwait(false);
    }

    public PooledWorkerInfo Describe()
    {
        HeartbeatResult? heartbeat;
        int missed;
        lock (_heartbeat)
        {
            heartbeat = _lastHeartbeat;
            missed = _missed;
        }

        return new PooledWorkerInfo
        {
            Id = Id,
            ProcessId = Process.ProcessId,
            Address = Process.Address,
            // An unhealthy worker is being stopped too: Unhealthy says more (and why) than Stopping.
            State = !Healthy ? PooledWorkerState.Unhealthy : Stopping ? PooledWorkerState.Stopping : Active > 0 ? PooledWorkerState.Busy : PooledWorkerState.Idle,
            ActiveSessions = Active,
            SessionsServed = Served,
            HeartbeatMetrics = heartbeat?.Metrics,
            SinceLastHeartbeat = SinceLastAnswer,
            MissedHeartbeats = missed,
            UnhealthyReason = UnhealthyReason,
        };
    }
}
