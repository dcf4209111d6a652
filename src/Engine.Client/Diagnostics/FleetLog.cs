using Microsoft.Extensions.Logging;

namespace Engine.Client.Diagnostics;

/// <summary>Worker fleet log messages. Event ids 600-699; never reuse one.</summary>
internal static partial class FleetLog
{
    [LoggerMessage(600, LogLevel.Information, "Fleet {Fleet}: worker {Address} joined.")]
    public static partial void WorkerJoined(ILogger logger, string fleet, string address);

    [LoggerMessage(601, LogLevel.Information, "Fleet {Fleet}: worker {Address} left discovery; draining its {Sessions} sessions.")]
    public static partial void WorkerDraining(ILogger logger, string fleet, string address, int sessions);

    [LoggerMessage(602, LogLevel.Information, "Fleet {Fleet}: worker {Address} removed.")]
    public static partial void WorkerRemoved(ILogger logger, string fleet, string address);

    [LoggerMessage(603, LogLevel.Warning, "Fleet {Fleet}: worker {Address} ejected for {Seconds} s (ejection {Ejections}): {Reason}")]
    public static partial void WorkerEjected(ILogger logger, string fleet, string address, double seconds, int ejections, string reason);

    [LoggerMessage(604, LogLevel.Information, "Fleet {Fleet}: worker {Address} readmitted.")]
    public static partial void WorkerReadmitted(ILogger logger, string fleet, string address);

    [LoggerMessage(605, LogLevel.Warning, "Fleet {Fleet}: worker {Address} restarted (identity {Old} became {New}); failing its {Sessions} committed sessions.")]
    public static partial void WorkerRestarted(ILogger logger, string fleet, string address, string old, string @new, int sessions);

    [LoggerMessage(606, LogLevel.Debug, "Fleet {Fleet}: worker {Address} failed ({Failures} in a row): {Reason}")]
    public static partial void WorkerFailed(ILogger logger, string fleet, string address, int failures, string reason);

    [LoggerMessage(607, LogLevel.Warning, "Fleet {Fleet}: worker {Address} would be ejected ({Reason}), but {Ejected} of {Workers} workers are ejected already, the most allowed.")]
    public static partial void EjectionLimited(ILogger logger, string fleet, string address, string reason, int ejected, int workers);

    [LoggerMessage(608, LogLevel.Warning, "Fleet {Fleet}: resolving workers failed: {Reason}. Keeping the {Workers} workers known.")]
    public static partial void ResolveFailed(ILogger logger, string fleet, string reason, int workers);

    [LoggerMessage(609, LogLevel.Warning, "Fleet {Fleet}: ignoring resolved address {Address}: {Reason}")]
    public static partial void AddressIgnored(ILogger logger, string fleet, string address, string reason);

    [LoggerMessage(610, LogLevel.Information, "Fleet {Fleet}: session {SessionId} retried on {Address} (attempt {Attempt}) after: {Reason}")]
    public static partial void SessionRetried(ILogger logger, string fleet, long sessionId, string address, int attempt, string reason);
}
