using Microsoft.Extensions.Logging;

namespace Engine.Client.Diagnostics;

/// <summary>Transport log messages: connections, TLS, credentials. Event ids 380-399; never reuse one.</summary>
internal static partial class TransportLog
{
    [LoggerMessage(380, LogLevel.Warning, "The worker at {Address} is reached over plain http on a host that is not this machine: the connection is neither encrypted nor authenticated.{Tokens} Use https:// (WorkerConnectionOptions.Tls) unless the network itself is trusted.")]
    public static partial void PlainTextToRemoteWorker(ILogger logger, string address, string tokens);
}
