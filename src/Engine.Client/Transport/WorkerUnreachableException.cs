namespace Engine.Client;

/// <summary>
/// Nothing usable listens at a worker's address: no socket file, connection refused, unknown
/// host. Raised by the connection layer; sessions and Manage calls report it as a transport
/// failure whose message says what to check.
/// </summary>
public sealed class WorkerUnreachableException : IOException
{
    /// <summary>Creates the exception.</summary>
    public WorkerUnreachableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public WorkerUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public WorkerUnreachableException()
        : base("The worker is unreachable.")
    {
    }
}
