namespace Engine.Client;

/// <summary>
/// The worker's output could not be used: a <c>DataResponse</c> was not a valid Arrow IPC stream,
/// or its schema differed from the session's output schema. The session sent Cancel; its outcome
/// is <see cref="SessionOutcomeKind.Cancelled"/> once the worker acknowledges (or
/// <see cref="SessionOutcomeKind.Finished"/> if its FinishResponse was already on the way).
/// </summary>
public sealed class WorkerOutputException : WorkerException
{
    internal WorkerOutputException(long batchIndex, string problem, SessionDiagnostics session, Exception? innerException)
        : base(session.Worker, $"Session {session.SessionId}: output batch {batchIndex} (DataResponse {batchIndex}) {problem}. The session was cancelled. [{session.Describe()}]", innerException)
    {
        BatchIndex = batchIndex;
        Session = session;
    }

    /// <summary>Zero-based index of the offending <c>DataResponse</c> among those the session received.</summary>
    public long BatchIndex { get; }

    /// <summary>The session's state when the output was rejected.</summary>
    public SessionDiagnostics Session { get; }
}
