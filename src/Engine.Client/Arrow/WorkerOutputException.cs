namespace Engine.Client;

/// <summary>
/// The worker's output could not be used: a <c>DataResponse</c> was not a valid Arrow IPC stream,
/// or its schema differed from the session's output schema. The engine rejects the output and ends
/// the session: it sends Cancel unless the session already settled, and the outcome is
/// <see cref="SessionOutcomeKind.Cancelled"/> once the worker acknowledges, or
/// <see cref="SessionOutcomeKind.Failed"/> when the worker's FinishResponse was already on the way.
/// Either way <see cref="SessionOutcome.Exception"/> is this exception: an outcome never reads as
/// finished after output was rejected.
/// </summary>
public sealed class WorkerOutputException : WorkerException
{
    internal WorkerOutputException(long batchIndex, string problem, SessionDiagnostics session, Exception? innerException)
        : base(session.Worker, $"Session {session.SessionId}: output batch {batchIndex} (DataResponse {batchIndex}) {problem}; the engine rejected it and ended the session. [{session.Describe()}]", innerException)
    {
        BatchIndex = batchIndex;
        Session = session;
    }

    /// <summary>Zero-based index of the offending <c>DataResponse</c> among those the session received.</summary>
    public long BatchIndex { get; }

    /// <summary>The session's state when the output was rejected.</summary>
    public SessionDiagnostics Session { get; }
}
