using Engine.Client.Protocol;

namespace Engine.Client;

/// <summary>Who raised an application error reported by the worker (the <c>ExecutionError</c> oneof).</summary>
public enum SessionErrorKind
{
    /// <summary>User code raised it (<c>UserError</c>).</summary>
    User,

    /// <summary>The worker implementation failed (<c>WorkerError</c>).</summary>
    Worker,

    /// <summary>The worker saw a protocol violation (<c>ProtocolError</c>).</summary>
    Protocol,
}

/// <summary>Where in the session the worker reported the error.</summary>
public enum SessionErrorOrigin
{
    /// <summary><c>InitResponse.error</c>, or an <c>ErrorResponse</c> before the InitResponse.</summary>
    Init,

    /// <summary>A data-phase <c>ErrorResponse</c>.</summary>
    Data,

    /// <summary>The worker's finish callback (<c>FinishResponse.error</c>).</summary>
    Finish,

    /// <summary>The worker's cancel callback (<c>CancelResponse.error</c>).</summary>
    Cancel,
}

/// <summary>An application error the worker reported in-band, with everything it carried.</summary>
public sealed class SessionError
{
    private SessionError(SessionErrorKind kind, string message, string? errorClass, string? traceback, SessionErrorOrigin origin, ExecutionError raw)
    {
        Kind = kind;
        Message = message;
        ErrorClass = errorClass;
        Traceback = traceback;
        Origin = origin;
        Raw = raw;
    }

    /// <summary>User, worker or protocol error.</summary>
    public SessionErrorKind Kind { get; }

    /// <summary>The worker's message.</summary>
    public string Message { get; }

    /// <summary>The user error's class (for example <c>ValueError</c>), when given.</summary>
    public string? ErrorClass { get; }

    /// <summary>The language-native traceback, when given.</summary>
    public string? Traceback { get; }

    /// <summary>Where in the session it was reported.</summary>
    public SessionErrorOrigin Origin { get; }

    /// <summary>The error exactly as received.</summary>
    public ExecutionError Raw { get; }

    /// <summary>Reads an <c>ExecutionError</c>. An error with no branch set is reported as a protocol error that says so.</summary>
    public static SessionError From(ExecutionError error, SessionErrorOrigin origin)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.KindCase switch
        {
            ExecutionError.KindOneofCase.User => new SessionError(
                SessionErrorKind.User,
                error.User.Message,
                error.User.HasErrorClass ? error.User.ErrorClass : null,
                error.User.HasTraceback ? error.User.Traceback : null,
                origin,
                error),
            ExecutionError.KindOneofCase.Worker => new SessionError(
                SessionErrorKind.Worker,
                error.Worker.Message,
                null,
                error.Worker.HasTraceback ? error.Worker.Traceback : null,
                origin,
                error),
            ExecutionError.KindOneofCase.Protocol => new SessionError(SessionErrorKind.Protocol, error.Protocol.Message, null, null, origin, error),
            _ => new SessionError(SessionErrorKind.Protocol, "the worker sent an ExecutionError with no kind set (neither user, worker nor protocol)", null, null, origin, error),
        };
    }

    /// <summary>
    /// For example <c>user error UdfError: boom in UDF (data phase)</c>; an empty message or class
    /// is said to be missing (<c>user error: the worker sent no message (data phase)</c>).
    /// </summary>
    public override string ToString()
    {
        var kind = Kind switch
        {
            SessionErrorKind.User => "user error",
            SessionErrorKind.Worker => "worker error",
            _ => "protocol error",
        };
        var origin = Origin switch
        {
            SessionErrorOrigin.Init => "init",
            SessionErrorOrigin.Data => "data phase",
            SessionErrorOrigin.Finish => "finish callback",
            _ => "cancel callback",
        };
        var message = string.IsNullOrWhiteSpace(Message) ? "the worker sent no message" : Message;
        return string.IsNullOrWhiteSpace(ErrorClass) ? $"{kind}: {message} ({origin})" : $"{kind} {ErrorClass}: {message} ({origin})";
    }
}
