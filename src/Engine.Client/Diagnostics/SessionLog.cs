using Microsoft.Extensions.Logging;

namespace Engine.Client.Diagnostics;

/// <summary>Session log messages. Event ids 100-199; never reuse one.</summary>
internal static partial class SessionLog
{
    [LoggerMessage(100, LogLevel.Debug, "Session {SessionId} on {Worker}: Init sent ({PayloadBytes} payload bytes, {Chunks} chunks).")]
    public static partial void InitSent(ILogger logger, long sessionId, string worker, int payloadBytes, int chunks);

    [LoggerMessage(101, LogLevel.Debug, "Session {SessionId} on {Worker}: InitResponse received after {ElapsedMs} ms.")]
    public static partial void InitAccepted(ILogger logger, long sessionId, string worker, double elapsedMs);

    [LoggerMessage(102, LogLevel.Debug, "Session {SessionId} on {Worker}: Finish sent after {Batches} batches.")]
    public static partial void FinishSent(ILogger logger, long sessionId, string worker, long batches);

    [LoggerMessage(103, LogLevel.Debug, "Session {SessionId} on {Worker}: Cancel requested: {Reason}.")]
    public static partial void CancelRequested(ILogger logger, long sessionId, string worker, string reason);

    [LoggerMessage(104, LogLevel.Debug, "Session {SessionId} on {Worker}: Cancel sent.")]
    public static partial void CancelSent(ILogger logger, long sessionId, string worker);

    [LoggerMessage(105, LogLevel.Information, "Session {SessionId} on {Worker} ended: {Outcome}.")]
    public static partial void Ended(ILogger logger, long sessionId, string worker, SessionOutcome outcome);

    [LoggerMessage(106, LogLevel.Warning, "Session {SessionId} on {Worker}: protocol violation by the worker: {Violation}")]
    public static partial void ProtocolViolation(ILogger logger, long sessionId, string worker, string violation);

    [LoggerMessage(107, LogLevel.Warning, "Session {SessionId} on {Worker}: sending {What} failed; waiting briefly for the worker's final messages.")]
    public static partial void SendFailed(ILogger logger, long sessionId, string worker, string what, Exception exception);

    [LoggerMessage(108, LogLevel.Warning, "Session {SessionId} on {Worker}: {Timeout} expired after {TimeoutSeconds} s.")]
    public static partial void TimedOut(ILogger logger, long sessionId, string worker, string timeout, double timeoutSeconds);

    [LoggerMessage(109, LogLevel.Debug, "Session {SessionId} on {Worker}: ignored a {Message} that arrived after the session ended.")]
    public static partial void MessageAfterEnd(ILogger logger, long sessionId, string worker, string message);

    [LoggerMessage(110, LogLevel.Warning, "Session {SessionId} on {Worker}: a release hook failed; the failure is contained.")]
    public static partial void ReleaseHookFailed(ILogger logger, long sessionId, string worker, Exception exception);

    [LoggerMessage(111, LogLevel.Warning, "Session {SessionId} on {Worker}: cleanup after the outcome failed; the failure is contained.")]
    public static partial void CleanupFailed(ILogger logger, long sessionId, string worker, Exception exception);

    [LoggerMessage(112, LogLevel.Debug, "Session {SessionId} on {Worker}: the worker reported {Error}.")]
    public static partial void WorkerError(ILogger logger, long sessionId, string worker, SessionError error);

    [LoggerMessage(113, LogLevel.Debug, "Session {SessionId} on {Worker}: disposing the input enumerator failed.")]
    public static partial void InputDisposeFailed(ILogger logger, long sessionId, string worker, Exception exception);
}
