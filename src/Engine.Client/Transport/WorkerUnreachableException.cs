namespace Engine.Client;

/// <summary>
/// Nothing usable listens at a worker's address: no socket file, connection refused, unknown
/// host. Raised by the connection layer; sessions and Manage calls report it as a transport
/// failure (<see cref="WorkerTransportException"/>) whose message says what to check, with this
/// exception as its cause.
/// </summary>
public sealed class WorkerUnreachableException : WorkerException
{
    internal WorkerUnreachableException(string worker, string message, Exception? innerException = null)
        : base(worker, message, innerException)
    {
    }
}
