namespace Engine.Client.Cli.Operations;

/// <summary>The result of a Manage call (heartbeat or shutdown).</summary>
internal sealed record ManageReport
{
    public required string Worker { get; init; }

    public required int ExitCode { get; init; }

    /// <summary>Time from request to answer, when answered.</summary>
    public TimeSpan? RoundTrip { get; init; }

    /// <summary>Heartbeat: the worker's metrics, when answered.</summary>
    public IReadOnlyDictionary<string, string>? Metrics { get; init; }

    /// <summary>Shutdown: whether every session was settled before the answer, when answered.</summary>
    public bool? SessionsSettled { get; init; }

    /// <summary>Why there is no answer (a transport error), or <see langword="null"/>.</summary>
    public RunError? Error { get; init; }

    public bool Answered => Error is null && ExitCode == ExitCodes.Success;
}

/// <summary>Manage calls on one worker.</summary>
internal static class ManageOperations
{
    public static Task<ManageReport> HeartbeatAsync(WorkerAddress address, TimeSpan timeout, CancellationToken interrupt, TimeSpan? keepAlive = null) =>
        CallAsync(address, timeout, keepAlive, async (client, token) =>
        {
            var answer = await client.HeartbeatAsync(timeout, token);
            return new ManageReport
            {
                Worker = address.ToString(),
                ExitCode = ExitCodes.Success,
                RoundTrip = answer.RoundTrip,
                Metrics = answer.Metrics,
            };
        }, interrupt);

    public static Task<ManageReport> ShutdownAsync(WorkerAddress address, string reason, bool cancelSessions, TimeSpan timeout, CancellationToken interrupt, TimeSpan? keepAlive = null) =>
        CallAsync(address, timeout, keepAlive, async (client, token) =>
        {
            var answer = await client.ShutdownAsync(reason, cancelSessions, timeout, token);
            return new ManageReport
            {
                Worker = address.ToString(),
                ExitCode = ExitCodes.Success,
                RoundTrip = answer.RoundTrip,
                SessionsSettled = answer.SessionsSettled,
            };
        }, interrupt);

    private static async Task<ManageReport> CallAsync(
        WorkerAddress address,
        TimeSpan timeout,
        TimeSpan? keepAlive,
        Func<WorkerClient, CancellationToken, Task<ManageReport>> call,
        CancellationToken interrupt)
    {
        var options = new WorkerClientOptions
        {
            Connection = { ConnectTimeout = timeout < TimeSpan.FromSeconds(10) ? timeout : TimeSpan.FromSeconds(10) },
        };
        if (keepAlive is { } delay)
        {
            options.Connection.KeepAlivePingDelay = delay;
        }

        await using var client = WorkerClient.Create(address, options);
        try
        {
            return await call(client, interrupt);
        }
        catch (WorkerTransportException ex)
        {
            return new ManageReport
            {
                Worker = address.ToString(),
                ExitCode = ExitCodes.Transport,
                Error = RunOperation.TransportError(ex),
            };
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            return new ManageReport
            {
                Worker = address.ToString(),
                ExitCode = ExitCodes.Interrupted,
                Error = new RunError { Kind = RunErrorKind.Transport, Reason = "interrupted", Message = "Interrupted before the worker answered." },
            };
        }
    }
}
