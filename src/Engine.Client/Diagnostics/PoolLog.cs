using Microsoft.Extensions.Logging;

namespace Engine.Client.Diagnostics;

/// <summary>Worker pool log messages. Event ids 400-499; never reuse one.</summary>
internal static partial class PoolLog
{
    [LoggerMessage(400, LogLevel.Information, "Pool: worker {WorkerId} (pid {ProcessId}) joined at {Address}.")]
    public static partial void WorkerJoined(ILogger logger, string workerId, int processId, string address);

    [LoggerMessage(401, LogLevel.Warning, "Pool: worker {WorkerId} is unhealthy: {Reason}. Failing its {Sessions} sessions and replacing it.")]
    public static partial void WorkerLost(ILogger logger, string workerId, string reason, int sessions);

    [LoggerMessage(402, LogLevel.Debug, "Pool: worker {WorkerId} missed heartbeat {Missed} of {Allowed}: {Reason}")]
    public static partial void HeartbeatMissed(ILogger logger, string workerId, int missed, int allowed, string reason);

    [LoggerMessage(403, LogLevel.Debug, "Pool: stopping worker {WorkerId}: {Reason}.")]
    public static partial void StoppingWorker(ILogger logger, string workerId, string reason);

    [LoggerMessage(404, LogLevel.Information, "Pool closed: {Workers} workers stopped.")]
    public static partial void Closed(ILogger logger, int workers);

    [LoggerMessage(405, LogLevel.Warning, "Pool: stopping worker {WorkerId} failed.")]
    public static partial void StopFailed(ILogger logger, string workerId, Exception exception);

    [LoggerMessage(406, LogLevel.Warning, "Pool: environment cleanup failed.")]
    public static partial void CleanupFailed(ILogger logger, Exception exception);

    [LoggerMessage(420, LogLevel.Information, "Pool: removed socket directory {Directory}, left by an engine that is no longer running.")]
    public static partial void AbandonedDirectoryRemoved(ILogger logger, string directory);

    [LoggerMessage(421, LogLevel.Warning, "Pool: socket directory {Directory}, left by an engine that is no longer running, could not be removed.")]
    public static partial void AbandonedDirectoryNotRemoved(ILogger logger, Exception exception, string directory);

    [LoggerMessage(422, LogLevel.Warning, "Pool: a WorkerLost handler failed for worker {WorkerId}.")]
    public static partial void WorkerLostHandlerFailed(ILogger logger, Exception exception, string workerId);
}
