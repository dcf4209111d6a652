using Microsoft.Extensions.Logging;

namespace Engine.ReferenceWorker;

/// <summary>Every log message of the worker, with stable event ids (never reuse one). Never logs payload bytes.</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(1, LogLevel.Debug, "Stream {StreamId} started (peer {Peer}).")]
    public static partial void StreamStarted(ILogger logger, long streamId, string peer);

    [LoggerMessage(2, LogLevel.Debug, "Stream {StreamId} ended: {Outcome}, status {Status}.")]
    public static partial void StreamEnded(ILogger logger, long streamId, string outcome, string status);

    [LoggerMessage(3, LogLevel.Warning, "Stream {StreamId}: protocol violation by the engine: {Problem}")]
    public static partial void ProtocolViolation(ILogger logger, long streamId, string problem);

    [LoggerMessage(4, LogLevel.Information, "Stream {StreamId}: {Error}")]
    public static partial void UdfError(ILogger logger, long streamId, string error);

    [LoggerMessage(5, LogLevel.Debug, "Stream {StreamId} broke in state {State}: {Reason}")]
    public static partial void StreamBroken(ILogger logger, long streamId, string state, string reason);

    [LoggerMessage(6, LogLevel.Information, "Shutdown requested ({Reason}), cancel sessions: {CancelSessions}, live streams: {Live}.")]
    public static partial void ShutdownRequested(ILogger logger, string reason, bool cancelSessions, int live);

    [LoggerMessage(7, LogLevel.Warning, "The parent process died (parent pid {Initial} became {Current}); stopping.")]
    public static partial void ParentDied(ILogger logger, int initial, int current);

    [LoggerMessage(8, LogLevel.Warning, "IPv6 loopback [::1] is not available ({Reason}); listening on 127.0.0.1 only.")]
    public static partial void Ipv6Unavailable(ILogger logger, string reason);

    [LoggerMessage(9, LogLevel.Information, "Removed a stale socket file at {Path}.")]
    public static partial void StaleSocketRemoved(ILogger logger, string path);

    [LoggerMessage(10, LogLevel.Information, "Stopping; cancelling {Live} live streams.")]
    public static partial void Stopping(ILogger logger, int live);

    [LoggerMessage(11, LogLevel.Warning, "Stream {StreamId}: the engine read no output for {GraceMs} ms after the stream ended; aborting the call.")]
    public static partial void StreamAborted(ILogger logger, long streamId, double graceMs);
}
