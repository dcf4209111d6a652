using Engine.Client.Protocol;

namespace Engine.Client;

/// <summary>How a session ended. Each outcome maps to exactly one kind.</summary>
public enum SessionOutcomeKind
{
    /// <summary>The worker answered Finish with a FinishResponse and no error.</summary>
    Finished,

    /// <summary>
    /// The session ended through a CancelResponse (the engine cancelled, or the worker cancelled after
    /// an error), or through a FinishResponse that came after the engine's Cancel when output arriving
    /// after that Cancel was discarded (not every output batch reached the consumer).
    /// </summary>
    Cancelled,

    /// <summary>
    /// The session ended through a FinishResponse, but the worker reported an error, or the engine
    /// failed the session itself before it (its input source or Finish callback threw, or it rejected
    /// the worker's output): <see cref="SessionOutcome.Exception"/> says which.
    /// </summary>
    Failed,

    /// <summary>The stream broke, timed out or the worker violated the protocol; the worker is not reused.</summary>
    TransportFailed,

    /// <summary>The caller cancelled and the worker did not acknowledge in time; the call was aborted and the worker is not reused.</summary>
    Interrupted,
}

/// <summary>
/// The settled result of a session, returned by <see cref="WorkerSession.CloseAsync"/>: what ended it,
/// the worker's errors and metrics, the init and finish data and the traffic counts.
/// </summary>
public sealed class SessionOutcome
{
    internal SessionOutcome(
        SessionOutcomeKind kind,
        SessionError? error,
        SessionError? callbackError,
        Exception? exception,
        ExecutionMetrics? metrics,
        ReadOnlyMemory<byte>? initData,
        ReadOnlyMemory<byte>? finishData,
        string? cancelReason,
        SessionDiagnostics diagnostics)
    {
        Kind = kind;
        Error = error;
        CallbackError = callbackError;
        Exception = exception;
        Metrics = metrics;
        InitData = initData;
        FinishData = finishData;
        CancelReason = cancelReason;
        Diagnostics = diagnostics;
    }

    /// <summary>What ended the session.</summary>
    public SessionOutcomeKind Kind { get; }

    /// <summary>
    /// The error surfaced for this session (docs/protocol.md rule 7): a prior init or data-phase error
    /// first, else the terminator's own callback error; <see langword="null"/> when the worker reported none.
    /// </summary>
    public SessionError? Error { get; }

    /// <summary>The terminator's callback error when another error took precedence; kept, not lost.</summary>
    public SessionError? CallbackError { get; }

    /// <summary>
    /// The failure as the caller saw it: a <see cref="WorkerExecutionException"/>, a
    /// <see cref="WorkerTransportException"/>, the exception of the engine's own input, or an
    /// <see cref="OperationCanceledException"/>; <see langword="null"/> when finished cleanly.
    /// </summary>
    public Exception? Exception { get; }

    /// <summary>The worker's per-execution metrics from the terminator, when it sent them.</summary>
    public ExecutionMetrics? Metrics { get; }

    /// <summary>InitResponse data, when the worker sent some.</summary>
    public ReadOnlyMemory<byte>? InitData { get; }

    /// <summary>FinishResponse data, when the worker sent some.</summary>
    public ReadOnlyMemory<byte>? FinishData { get; }

    /// <summary>Why the engine cancelled, when it did.</summary>
    public string? CancelReason { get; }

    /// <summary>Phase reached, batches and bytes each way, duration.</summary>
    public SessionDiagnostics Diagnostics { get; }

    /// <summary>Whether the worker may serve another session: true after a protocol terminator, false after a transport failure or interruption.</summary>
    public bool WorkerReusable => Kind is SessionOutcomeKind.Finished or SessionOutcomeKind.Cancelled or SessionOutcomeKind.Failed;

    /// <summary>For example <c>Cancelled (user error UdfError: boom (data phase)); 3 batches sent, 2 received</c>.</summary>
    public override string ToString()
    {
        var detail = Error?.ToString() ?? (Kind is SessionOutcomeKind.Finished ? null : Exception?.Message ?? CancelReason);
        return detail is null ? $"{Kind}; {Diagnostics.Traffic}" : $"{Kind} ({detail}); {Diagnostics.Traffic}";
    }
}
