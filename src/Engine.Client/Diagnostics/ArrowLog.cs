using Microsoft.Extensions.Logging;

namespace Engine.Client.Diagnostics;

/// <summary>Arrow session log messages. Event ids 500-519; never reuse one.</summary>
internal static partial class ArrowLog
{
    [LoggerMessage(500, LogLevel.Debug, "Session {SessionId} on {Worker}: input batch {BatchIndex} ({Rows} rows) was split into {Frames} messages to fit the worker's message limit of {MaxFrameBytes} bytes.")]
    public static partial void InputBatchSplit(ILogger logger, long sessionId, string worker, long batchIndex, int rows, int frames, int maxFrameBytes);

    [LoggerMessage(501, LogLevel.Warning, "Session {SessionId} on {Worker}: rejected output batch {BatchIndex}: {Problem}. Cancelling.")]
    public static partial void OutputRejected(ILogger logger, long sessionId, string worker, long batchIndex, string problem);
}
