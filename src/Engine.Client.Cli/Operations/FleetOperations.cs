namespace Engine.Client.Cli.Operations;

/// <summary>What <c>fleet status</c>, and <c>heartbeat</c> or <c>shutdown</c> on several workers, found.</summary>
internal sealed record FleetReport
{
    /// <summary>The fleet: its DNS target, or its addresses.</summary>
    public required string Fleet { get; init; }

    public required int ExitCode { get; init; }

    /// <summary>Why no worker was called (DNS found none, or failed), or <see langword="null"/>.</summary>
    public string? Error { get; init; }

    /// <summary><c>fleet status</c>: each worker's state.</summary>
    public IReadOnlyList<FleetWorkerInfo> Workers { get; init; } = [];

    /// <summary><c>heartbeat</c> and <c>shutdown</c> on several workers: each worker's answer.</summary>
    public IReadOnlyList<ManageReport> Calls { get; init; } = [];

    /// <summary>0 when every one answered, 3 when none did, 1 otherwise.</summary>
    public static int ExitCodeOf(int answered, int total) =>
        total > 0 && answered == total ? ExitCodes.Success : answered == 0 ? ExitCodes.Transport : ExitCodes.WorkerError;
}

/// <summary>Operations on the workers of a fleet.</summary>
internal static class FleetOperations
{
    /// <summary>Heartbeats every worker of the fleet once, through a <see cref="WorkerFleet"/> that ejects a worker at its first miss.</summary>
    public static async Task<FleetReport> StatusAsync(FleetTargets targets, TimeSpan timeout, TimeSpan? keepAlive, Action<WorkerConnectionOptions>? credentials, CancellationToken interrupt)
    {
        var options = new WorkerFleetOptions
        {
            Connection = ConnectionOptions(timeout, keepAlive, credentials),
            HeartbeatTimeout = timeout,
            HeartbeatInterval = TimeSpan.FromHours(1),
            FailuresToEject = 1,
            MaxEjectedShare = 1,
        };
        await using var fleet = targets.CreateFleet(options);
        var workers = await fleet.HeartbeatAllAsync(interrupt);
        var answered = workers.Count(w => w.LastHeartbeatAge is not null && w.State == FleetWorkerState.Healthy);
        return new FleetReport
        {
            Fleet = targets.Name,
            Workers = workers,
            ExitCode = FleetReport.ExitCodeOf(answered, workers.Count),
            Error = workers.Count == 0 ? fleet.ResolveError ?? $"{targets.Name} resolves to no worker" : null,
        };
    }

    /// <summary>Runs <paramref name="call"/> on every worker at once.</summary>
    public static async Task<FleetReport> EachAsync(FleetTargets targets, TimeSpan timeout, TimeSpan? keepAlive, Action<WorkerConnectionOptions>? credentials, Func<WorkerAddress, Task<ManageReport>> call, CancellationToken interrupt)
    {
        var (workers, error) = await targets.ResolveAsync(ConnectionOptions(timeout, keepAlive, credentials), interrupt);
        var calls = await Task.WhenAll(workers.Select(call));
        return new FleetReport
        {
            Fleet = targets.Name,
            Calls = calls,
            Error = error,
            ExitCode = calls.Any(c => c.ExitCode == ExitCodes.Interrupted) ? ExitCodes.Interrupted : FleetReport.ExitCodeOf(calls.Count(c => c.Answered), calls.Length),
        };
    }

    private static WorkerConnectionOptions ConnectionOptions(TimeSpan timeout, TimeSpan? keepAlive, Action<WorkerConnectionOptions>? credentials)
    {
        var options = new WorkerConnectionOptions
        {
            ConnectTimeout = timeout < TimeSpan.FromSeconds(10) ? timeout : TimeSpan.FromSeconds(10),
        };
        if (keepAlive is { } delay)
        {
            options.KeepAlivePingDelay = delay;
        }

        credentials?.Invoke(options);
        return options;
    }
}
