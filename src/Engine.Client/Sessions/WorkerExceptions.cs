using Grpc.Core;

namespace Engine.Client;

/// <summary>
/// Base of every failure that involves a worker: catch it to handle them all. <see cref="Worker"/>
/// names the worker; the concrete type says what failed (a session's in-band error, the transport,
/// an unreachable address, a launch, the environment setup, a specification, invalid output).
/// </summary>
public abstract class WorkerException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected WorkerException(string worker, string message, Exception? innerException)
        : base(message, innerException)
    {
        Worker = worker;
    }

    /// <summary>
    /// The worker's address or name; for a failure before any worker exists, what stands for it
    /// (the specification's file, <c>worker specification</c> or <c>worker environment</c>).
    /// </summary>
    public string Worker { get; }
}

/// <summary>
/// The worker reported an application error in-band (<c>ExecutionError</c>): user code failed, the
/// worker failed, or the worker saw a protocol violation. The session ended through a protocol
/// terminator, so the worker stays reusable.
/// </summary>
public sealed class WorkerExecutionException : WorkerException
{
    internal WorkerExecutionException(SessionError error, SessionError? callbackError, SessionDiagnostics session)
        : base(session.Worker, Compose(error, callbackError, session), null)
    {
        Error = error;
        CallbackError = callbackError;
        Session = session;
    }

    /// <summary>The error the worker reported (docs/protocol.md rule 7 precedence).</summary>
    public SessionError Error { get; }

    /// <summary>The terminator's own callback error when <see cref="Error"/> took precedence.</summary>
    public SessionError? CallbackError { get; }

    /// <summary>The session's state when the error arrived.</summary>
    public SessionDiagnostics Session { get; }

    /// <summary>User, worker or protocol error.</summary>
    public SessionErrorKind Kind => Error.Kind;

    /// <summary>The user error's class, when given.</summary>
    public string? ErrorClass => Error.ErrorClass;

    /// <summary>The worker's traceback, when given.</summary>
    public string? Traceback => Error.Traceback;

    private static string Compose(SessionError error, SessionError? callbackError, SessionDiagnostics session)
    {
        var text = $"The worker reported a {error} [{session.Describe()}]";
        if (callbackError is not null)
        {
            text += $" Then its {callbackError}.";
        }

        return text;
    }
}

/// <summary>Why a transport failure happened.</summary>
public enum TransportFailureReason
{
    /// <summary>The gRPC call failed with a status (connection lost, stream reset, server error).</summary>
    Rpc,

    /// <summary>Nothing listens at the worker's address.</summary>
    Unreachable,

    /// <summary>The worker broke the protocol (docs/protocol.md rule 8, or a mismatched Manage answer).</summary>
    ProtocolViolation,

    /// <summary>The worker did not answer in time.</summary>
    Timeout,

    /// <summary>Sending to the worker failed.</summary>
    SendFailed,

    /// <summary>The worker process exited or stopped answering heartbeats.</summary>
    WorkerLost,
}

/// <summary>
/// The conversation with the worker broke: a gRPC status error, an unreachable worker, a timeout
/// or a protocol violation by the worker. The worker is not reused after this.
/// </summary>
public sealed class WorkerTransportException : WorkerException
{
    internal WorkerTransportException(string worker, TransportFailureReason reason, string message, SessionDiagnostics? session, Exception? innerException)
        : base(worker, Compose(message, session, innerException), innerException)
    {
        Reason = reason;
        Session = session;
        StatusCode = FindStatus(innerException);
    }

    /// <summary>What went wrong.</summary>
    public TransportFailureReason Reason { get; }

    /// <summary>The gRPC status code, when the failure came with one.</summary>
    public StatusCode? StatusCode { get; }

    /// <summary>The session's state when the failure happened; <see langword="null"/> for Manage calls.</summary>
    public SessionDiagnostics? Session { get; }

    private static StatusCode? FindStatus(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is RpcException rpc)
            {
                return rpc.StatusCode;
            }
        }

        return null;
    }

    private static string Compose(string message, SessionDiagnostics? session, Exception? inner)
    {
        var cause = DescribeCause(inner);
        var text = cause is null ? message : $"{message}: {cause}";
        return session is null ? text : $"{text} [{session.Describe()}]";
    }

    /// <summary>The most telling part of a transport exception chain, in one line.</summary>
    internal static string? DescribeCause(Exception? exception)
    {
        var underHttp = false;
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is WorkerUnreachableException unreachable)
            {
                return unreachable.Message;
            }

            if (e is RpcException { Status.DebugException: { } debug } && FindUnreachable(debug) is { } inner)
            {
                return inner.Message;
            }

            // Grpc.Net.Client reports a call on a disposed channel as "Cannot access a disposed
            // object" of its own internals: say what the caller did instead. Not a disposed
            // socket stream under an HTTP failure: that is the connection failing.
            underHttp |= e is HttpRequestException or IOException;
            if ((e is ObjectDisposedException && !underHttp) || (e is RpcException { Status.DebugException: ObjectDisposedException }))
            {
                return "the channel to the worker was closed (its WorkerClient was disposed, or its pool closed) while the call was using it";
            }
        }

        if (exception is not null && NotGrpcServer(exception) is { } answer)
        {
            return $"the server at the worker's address did not answer as a gRPC worker ({answer.TrimEnd('.')}). Check the address and port: something else may be listening there, or the worker uses TLS (give an https:// address)";
        }

        var cause = exception switch
        {
            null => null,
            RpcException rpc => string.IsNullOrEmpty(rpc.Status.Detail)
                ? $"gRPC status {rpc.StatusCode}"
                : $"gRPC status {rpc.StatusCode}: {rpc.Status.Detail}",
            _ => exception.Message,
        };
        return exception is not null && IsTooManyPings(exception)
            ? cause?.TrimEnd('.') + ". The worker closed the connection for too many keepalive pings: keep WorkerConnectionOptions.KeepAlivePingDelay off (the default) or above the worker's limit (5 minutes for gRPC-core, Java and Go servers)."
            : cause;
    }

    /// <summary>
    /// What shows that the server at the address is not a gRPC worker (over plain HTTP/2), or
    /// <see langword="null"/>: an HTTP response that is not gRPC (Grpc.Net.Client's "Bad gRPC
    /// response", a 404 from a web server), a server that does not complete the HTTP/2 handshake
    /// (an HTTP/1.1 server, a TLS server addressed with http://, any other protocol), or an HTTP/2
    /// protocol error as the call starts.
    /// </summary>
    private static string? NotGrpcServer(Exception exception)
    {
        var starting = false;
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is RpcException rpc)
            {
                if (rpc.Status.Detail.StartsWith("Bad gRPC response", StringComparison.Ordinal))
                {
                    return rpc.Status.Detail;
                }

                starting |= rpc.Status.Detail.StartsWith("Error starting gRPC call", StringComparison.Ordinal);
                if (rpc.Status.DebugException is { } debug && NotGrpcServer(debug, starting) is { } found)
                {
                    return found;
                }
            }
        }

        return NotGrpcServer(exception, starting);
    }

    private static string? NotGrpcServer(Exception exception, bool starting)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is IOException or HttpRequestException && e.Message.Contains("HTTP/2 handshake", StringComparison.Ordinal))
            {
                return e.Message;
            }

            if (starting && e is HttpProtocolException protocol)
            {
                return protocol.Message;
            }
        }

        return null;
    }

    /// <summary>
    /// Whether the worker closed the connection for too many pings: gRPC servers send GOAWAY
    /// ENHANCE_YOUR_CALM (0xb, which the client maps to ResourceExhausted), and gRPC core also ends
    /// the connection's calls with status Unavailable "Too many pings"; either may arrive first.
    /// </summary>
    private static bool IsTooManyPings(Exception exception)
    {
        const long EnhanceYourCalm = 0xb;
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpProtocolException { ErrorCode: EnhanceYourCalm }
                || (e is RpcException { StatusCode: Grpc.Core.StatusCode.Unavailable } rpc && rpc.Status.Detail.Contains("too many pings", StringComparison.OrdinalIgnoreCase))
                || (e is RpcException { Status.DebugException: { } debug } && IsTooManyPings(debug)))
            {
                return true;
            }
        }

        return false;
    }

    private static WorkerUnreachableException? FindUnreachable(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is WorkerUnreachableException unreachable)
            {
                return unreachable;
            }
        }

        return null;
    }
}
