using Microsoft.Extensions.Logging;

namespace Engine.Client.Diagnostics;

/// <summary>Manage log messages. Event ids 200-299; never reuse one.</summary>
internal static partial class ManageLog
{
    [LoggerMessage(200, LogLevel.Debug, "Manage {Operation} on {Worker}: {Outcome} after {ElapsedMs} ms.")]
    public static partial void Call(ILogger logger, string operation, string worker, string outcome, double elapsedMs);
}
