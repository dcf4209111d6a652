namespace Engine.Client.Protocol;

/// <summary>
/// Builders of the three kinds of <see cref="ExecutionError"/> (docs/protocol.md, "ExecutionError"):
/// optional fields are left unset when their argument is <see langword="null"/>.
/// </summary>
public static class ExecutionErrors
{
    /// <summary>An error raised by the user's code (<c>UserError</c>).</summary>
    /// <param name="message">The error's message, as the UDF raised it.</param>
    /// <param name="errorClass">The error's class in the UDF's language, or <see langword="null"/>.</param>
    /// <param name="traceback">The UDF's traceback, or <see langword="null"/>.</param>
    /// <returns>A new error.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is <see langword="null"/>.</exception>
    public static ExecutionError User(string message, string? errorClass = null, string? traceback = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        var user = new UserError { Message = message };
        if (errorClass is not null)
        {
            user.ErrorClass = errorClass;
        }

        if (traceback is not null)
        {
            user.Traceback = traceback;
        }

        return new ExecutionError { User = user };
    }

    /// <summary>An error of the worker itself, not of the user's code (<c>WorkerError</c>).</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="traceback">The worker's traceback, or <see langword="null"/>.</param>
    /// <returns>A new error.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is <see langword="null"/>.</exception>
    public static ExecutionError Worker(string message, string? traceback = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        var worker = new WorkerError { Message = message };
        if (traceback is not null)
        {
            worker.Traceback = traceback;
        }

        return new ExecutionError { Worker = worker };
    }

    /// <summary>A violation of the protocol by the other side (<c>ProtocolError</c>).</summary>
    /// <param name="message">Which rule was broken and how.</param>
    /// <returns>A new error.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is <see langword="null"/>.</exception>
    public static ExecutionError Protocol(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new() { Protocol = new ProtocolError { Message = message } };
    }
}
