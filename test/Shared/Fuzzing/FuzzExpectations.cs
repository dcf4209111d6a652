using Engine.ReferenceWorker.Udfs.Faults;
using Grpc.Core;

namespace Engine.Client.Fuzzing;

/// <summary>Where the caller first sees the failure of a fuzzed session.</summary>
internal enum FuzzStage
{
    /// <summary>Nowhere: InitAsync and the output enumeration both succeed.</summary>
    None,

    /// <summary><c>InitAsync</c> throws.</summary>
    Init,

    /// <summary><c>InitAsync</c> succeeds; the output enumeration throws.</summary>
    Process,
}

/// <summary>What the engine side does besides sending its input and reading the output.</summary>
internal enum FuzzEngineAction
{
    /// <summary>Send the input, then Finish.</summary>
    None,

    /// <summary>
    /// Send the input, then hold Finish back until the session ended: a terminator that arrives
    /// then came before Finish by construction, whatever the timing.
    /// </summary>
    HoldFinish,

    /// <summary>Cancel InitAsync's token after <see cref="FuzzPlan.DelayMs"/>.</summary>
    CancelInitToken,

    /// <summary>Call CloseAsync while InitAsync waits for the InitResponse.</summary>
    CloseDuringInit,
}

/// <summary>The one session timeout a misbehaviour is expected to run into (set short); every other timeout is huge.</summary>
internal enum FuzzTimeout
{
    None,
    InitResponse,
    Idle,
    CancelAcknowledgement,
}

/// <summary>
/// The documented outcome of one misbehaviour (docs/sessions.md "Outcomes" and "Errors", docs/arrow.md
/// "Errors", PROTOCOL.md rules 6-8): the outcome kind, the exception the outcome carries, where the
/// caller first sees a failure and with which exception type, and, for well-behaved workers, the
/// exact output.
/// </summary>
internal sealed record FuzzExpectation
{
    /// <summary>The promise, in one line, with where it is written.</summary>
    public required string Documented { get; init; }

    /// <summary>The outcome kinds allowed. One, except where the documentation names a race.</summary>
    public required SessionOutcomeKind[] Kinds { get; init; }

    /// <summary>The exact type of <see cref="SessionOutcome.Exception"/>; <see langword="null"/>: none.</summary>
    public Type? OutcomeException { get; init; }

    /// <summary>The <see cref="WorkerTransportException.Reason"/>, when the outcome's exception is one.</summary>
    public TransportFailureReason? Reason { get; init; }

    /// <summary>The gRPC status: <see cref="FuzzPlan.Status"/> when <see cref="StatusFromPlan"/>, else this.</summary>
    public StatusCode? Status { get; init; }

    /// <summary>The transport exception carries the status the worker failed the call with.</summary>
    public bool StatusFromPlan { get; init; }

    /// <summary>The worker's error kind, when a <see cref="WorkerExecutionException"/> is expected (outcome or caller).</summary>
    public SessionErrorKind? ErrorKind { get; init; }

    /// <summary>Where the worker reported its error.</summary>
    public SessionErrorOrigin? ErrorOrigin { get; init; }

    /// <summary>Where the caller first sees a failure.</summary>
    public FuzzStage Stage { get; init; }

    /// <summary>The exact type the caller first sees; defaults to <see cref="OutcomeException"/>.</summary>
    public Type? CallerException { get; init; }

    /// <summary>For well-behaved workers: the input batch index of every output batch, in order, given the number of input batches.</summary>
    public Func<int, IEnumerable<int>>? Output { get; init; }

    /// <summary>The session timeout the misbehaviour runs into.</summary>
    public FuzzTimeout Timeout { get; init; }

    /// <summary>What the engine side does.</summary>
    public FuzzEngineAction Action { get; init; }

    /// <summary>The caller's exception type.</summary>
    public Type? ExpectedCallerException => Stage == FuzzStage.None ? null : CallerException ?? OutcomeException;

    /// <summary>
    /// The table: every misbehaviour of the <c>fuzz</c> format and what the engine must conclude.
    /// Adding a misbehaviour without a row fails <see cref="For"/>.
    /// </summary>
    public static readonly IReadOnlyDictionary<FuzzMisbehaviour, FuzzExpectation> Table = new Dictionary<FuzzMisbehaviour, FuzzExpectation>
    {
        // Well-behaved: Finished, with exactly the output sent (sessions.md "Outcomes"; arrow.md
        // "Framing": a frame with several batches yields each).
        [FuzzMisbehaviour.Echo] = Finished(k => Enumerable.Range(0, k)),
        [FuzzMisbehaviour.Duplicate] = Finished(Doubled),
        [FuzzMisbehaviour.Sink] = Finished(_ => []),
        [FuzzMisbehaviour.SlowEcho] = Finished(k => Enumerable.Range(0, k)),
        [FuzzMisbehaviour.HoldUntilFinish] = Finished(k => Enumerable.Range(0, k)),
        [FuzzMisbehaviour.TwoBatchesPerFrame] = Finished(Doubled),
        [FuzzMisbehaviour.ManyOutputs] = Finished(k => Enumerable.Range(0, k).SelectMany(i => Enumerable.Repeat(i, FuzzPlan.ManyCopies))) with
        {
            Documented = "sessions.md Data: output beyond OutputBufferCapacity waits (backpressure); Finished with every batch in order",
        },
        [FuzzMisbehaviour.StatusAfterTerminator] = Finished(k => Enumerable.Range(0, k)) with
        {
            Documented = "sessions.md Lifecycle: the first outcome settled wins; a status after the FinishResponse changes nothing",
        },

        // Orderings (PROTOCOL.md rule 8; sessions.md, the table under "What goes on the wire").
        [FuzzMisbehaviour.DataBeforeInit] = Violation(FuzzStage.Init, "a DataResponse before the InitResponse"),
        [FuzzMisbehaviour.FinishBeforeInit] = Violation(FuzzStage.Init, "a FinishResponse before the InitResponse, no Cancel sent"),
        [FuzzMisbehaviour.CancelBeforeInit] = Violation(FuzzStage.Init, "a CancelResponse before the InitResponse, no Cancel sent"),
        [FuzzMisbehaviour.InitTwice] = Violation(FuzzStage.Process, "a second InitResponse"),
        [FuzzMisbehaviour.FinishRightAfterInit] = Violation(FuzzStage.Process, "a FinishResponse before the engine started sending Finish") with { Action = FuzzEngineAction.HoldFinish },
        [FuzzMisbehaviour.FinishBeforeFinish] = Violation(FuzzStage.Process, "a FinishResponse before the engine started sending Finish") with { Action = FuzzEngineAction.HoldFinish },
        [FuzzMisbehaviour.CancelUnprompted] = new FuzzExpectation
        {
            Documented = "sessions.md Outcomes: Cancelled = a CancelResponse, the engine cancelled or the worker cancelled; the output ends with OperationCanceledException",
            Kinds = [SessionOutcomeKind.Cancelled],
            OutcomeException = typeof(OperationCanceledException),
            Stage = FuzzStage.Process,
            Action = FuzzEngineAction.HoldFinish,
        },
        [FuzzMisbehaviour.ErrorTwice] = Violation(FuzzStage.Process, "a second ErrorResponse; the first error surfaces to the caller") with
        {
            CallerException = typeof(WorkerExecutionException),
            ErrorKind = SessionErrorKind.User,
            ErrorOrigin = SessionErrorOrigin.Data,
        },
        [FuzzMisbehaviour.TerminatorTwice] = Finished(k => Enumerable.Range(0, k)) with
        {
            Documented = "sessions.md Lifecycle: the first outcome settled wins, every later message is ignored",
        },
        [FuzzMisbehaviour.DataAfterTerminator] = Finished(k => Enumerable.Range(0, k)) with
        {
            Documented = "sessions.md Lifecycle: the first outcome settled wins, every later message is ignored",
        },
        [FuzzMisbehaviour.ErrorInsteadOfInit] = Execution(SessionOutcomeKind.Cancelled, FuzzStage.Init, SessionErrorOrigin.Init, "an ErrorResponse before the InitResponse fails InitAsync (origin Init), Cancel goes out, Cancelled") with
        {
            ErrorKind = SessionErrorKind.Worker,
        },
        [FuzzMisbehaviour.FinishAfterError] = Violation(FuzzStage.Process, "a FinishResponse before the engine started sending Finish (after an ErrorResponse, which surfaces first)") with
        {
            CallerException = typeof(WorkerExecutionException),
            ErrorKind = SessionErrorKind.User,
            ErrorOrigin = SessionErrorOrigin.Data,
            Action = FuzzEngineAction.HoldFinish,
        },

        // Empty oneofs (PROTOCOL.md rule 8) and empty messages.
        [FuzzMisbehaviour.EmptyEnvelopeAtInit] = Violation(FuzzStage.Init, "an envelope with no branch set"),
        [FuzzMisbehaviour.EmptyEnvelope] = Violation(FuzzStage.Process, "an envelope with no branch set"),
        [FuzzMisbehaviour.EmptyControl] = Violation(FuzzStage.Process, "an envelope with no branch set"),
        [FuzzMisbehaviour.ErrorWithoutKind] = new FuzzExpectation
        {
            Documented = "SessionError.From: an ExecutionError with no branch set is reported as a protocol error that says so; an ErrorResponse fails the output, Cancel, Cancelled",
            Kinds = [SessionOutcomeKind.Cancelled],
            OutcomeException = typeof(WorkerExecutionException),
            ErrorKind = SessionErrorKind.Protocol,
            ErrorOrigin = SessionErrorOrigin.Data,
            Stage = FuzzStage.Process,
        },
        [FuzzMisbehaviour.EmptyData] = OutputRejected(),

        // Output the session declared otherwise (arrow.md "Errors").
        [FuzzMisbehaviour.GarbageArrow] = OutputRejected(),
        [FuzzMisbehaviour.TruncatedArrow] = OutputRejected(),
        [FuzzMisbehaviour.WrongSchema] = OutputRejected(),

        // Bytes that are not a message of the protocol: a protocol violation by the worker, not a
        // retryable transport status.
        [FuzzMisbehaviour.InvalidProtobufAtInit] = Violation(FuzzStage.Init, "bytes that are not a valid protobuf message"),
        [FuzzMisbehaviour.InvalidProtobuf] = Violation(FuzzStage.Process, "bytes that are not a valid protobuf message"),
        [FuzzMisbehaviour.Oversized] = new FuzzExpectation
        {
            Documented = "sessions.md: a gRPC status error (the client's ResourceExhausted for a message over MaxReceiveMessageSize) is a transport failure",
            Kinds = [SessionOutcomeKind.TransportFailed],
            OutcomeException = typeof(WorkerTransportException),
            Reason = TransportFailureReason.Rpc,
            Status = StatusCode.ResourceExhausted,
            Stage = FuzzStage.Process,
        },

        // gRPC statuses and streams that end without a terminator (PROTOCOL.md rules 7 and 8).
        [FuzzMisbehaviour.StatusAtInit] = StatusFailure(FuzzStage.Init),
        [FuzzMisbehaviour.StatusMidStream] = StatusFailure(FuzzStage.Process),
        [FuzzMisbehaviour.StatusAtFinish] = StatusFailure(FuzzStage.Process),
        [FuzzMisbehaviour.EndBeforeInit] = Violation(FuzzStage.Init, "the end of the response stream without a terminator"),
        [FuzzMisbehaviour.EndMidStream] = Violation(FuzzStage.Process, "the end of the response stream without a terminator"),
        [FuzzMisbehaviour.EndAtFinish] = Violation(FuzzStage.Process, "the end of the response stream without a terminator"),

        // In-band errors (sessions.md "Errors"; PROTOCOL.md rules 6 and 7).
        [FuzzMisbehaviour.InitError] = Execution(SessionOutcomeKind.Cancelled, FuzzStage.Init, SessionErrorOrigin.Init, "InitResponse.error fails InitAsync, Cancel goes out, Cancelled"),
        [FuzzMisbehaviour.UserError] = Execution(SessionOutcomeKind.Cancelled, FuzzStage.Process, SessionErrorOrigin.Data, "an ErrorResponse fails the output, Cancel goes out, Cancelled"),
        [FuzzMisbehaviour.FinishError] = Execution(SessionOutcomeKind.Failed, FuzzStage.Process, SessionErrorOrigin.Finish, "FinishResponse.error: Failed, the error surfaces from the output"),
        [FuzzMisbehaviour.ErrorAtFinish] = Execution(SessionOutcomeKind.Cancelled, FuzzStage.Process, SessionErrorOrigin.Data, "an ErrorResponse after Finish fails the output, Cancel follows Finish, the CancelResponse ends it: Cancelled"),

        // Silence and slowness (sessions.md "Timeouts" and "Cancellation").
        [FuzzMisbehaviour.SilentAtInit] = TimedOut(FuzzStage.Init, FuzzTimeout.InitResponse, "InitResponseTimeout: TransportFailed (Timeout)"),
        [FuzzMisbehaviour.SilentMidStream] = TimedOut(FuzzStage.Process, FuzzTimeout.Idle, "IdleTimeout after Finish: TransportFailed (Timeout)"),
        [FuzzMisbehaviour.SilentAtFinish] = TimedOut(FuzzStage.Process, FuzzTimeout.Idle, "IdleTimeout after Finish: TransportFailed (Timeout)"),
        [FuzzMisbehaviour.SilentInitCallerCancels] = new FuzzExpectation
        {
            Documented = "sessions.md Cancellation: cancelling InitAsync's token throws OperationCanceledException at once; no acknowledgement within CancelAcknowledgementTimeout: Interrupted",
            Kinds = [SessionOutcomeKind.Interrupted],
            OutcomeException = typeof(OperationCanceledException),
            Stage = FuzzStage.Init,
            Timeout = FuzzTimeout.CancelAcknowledgement,
            Action = FuzzEngineAction.CancelInitToken,
        },
        [FuzzMisbehaviour.SlowInitClosed] = new FuzzExpectation
        {
            Documented = "sessions.md Cancellation: CloseAsync on a running session sends Cancel and waits for the terminator; InitAsync throws OperationCanceledException (the session was closed meanwhile); Cancelled",
            Kinds = [SessionOutcomeKind.Cancelled],
            OutcomeException = typeof(OperationCanceledException),
            Stage = FuzzStage.Init,
            Action = FuzzEngineAction.CloseDuringInit,
        },
    };

    /// <summary>The row of <paramref name="misbehaviour"/>.</summary>
    public static FuzzExpectation For(FuzzMisbehaviour misbehaviour) =>
        Table.TryGetValue(misbehaviour, out var expectation)
            ? expectation
            : throw new InvalidOperationException($"The fuzz expectation table has no row for {misbehaviour}.");

    private static IEnumerable<int> Doubled(int batches) => Enumerable.Range(0, batches).SelectMany(i => new[] { i, i });

    private static FuzzExpectation Finished(Func<int, IEnumerable<int>> output) => new()
    {
        Documented = "sessions.md Outcomes: Finished = FinishResponse without error; every output batch delivered in order",
        Kinds = [SessionOutcomeKind.Finished],
        Output = output,
    };

    private static FuzzExpectation Violation(FuzzStage stage, string what) => new()
    {
        Documented = $"PROTOCOL.md rule 8, sessions.md: {what} is a transport failure (ProtocolViolation), fail fast",
        Kinds = [SessionOutcomeKind.TransportFailed],
        OutcomeException = typeof(WorkerTransportException),
        Reason = TransportFailureReason.ProtocolViolation,
        Stage = stage,
    };

    private static FuzzExpectation StatusFailure(FuzzStage stage) => new()
    {
        Documented = "PROTOCOL.md rule 7, sessions.md: a gRPC status error is a transport failure (Rpc, with the worker's status code), never an application error",
        Kinds = [SessionOutcomeKind.TransportFailed],
        OutcomeException = typeof(WorkerTransportException),
        Reason = TransportFailureReason.Rpc,
        StatusFromPlan = true,
        Stage = stage,
    };

    private static FuzzExpectation Execution(SessionOutcomeKind kind, FuzzStage stage, SessionErrorOrigin origin, string what) => new()
    {
        Documented = "sessions.md Errors: " + what,
        Kinds = [kind],
        OutcomeException = typeof(WorkerExecutionException),
        ErrorKind = SessionErrorKind.User,
        ErrorOrigin = origin,
        Stage = stage,
    };

    private static FuzzExpectation TimedOut(FuzzStage stage, FuzzTimeout timeout, string what) => new()
    {
        Documented = "sessions.md Timeouts: " + what,
        Kinds = [SessionOutcomeKind.TransportFailed],
        OutcomeException = typeof(WorkerTransportException),
        Reason = TransportFailureReason.Timeout,
        Stage = stage,
        Timeout = timeout,
    };

    private static FuzzExpectation OutputRejected() => new()
    {
        // Cancelled when the Cancel reached the worker before its FinishResponse went out, Failed
        // when the FinishResponse was already on its way (arrow.md "Errors"): either way the local
        // failure is the outcome's exception and never Finished.
        Documented = "arrow.md Errors: a DataResponse that is not a valid Arrow IPC stream of the session's schema throws WorkerOutputException and cancels; the outcome carries it and is not Finished",
        Kinds = [SessionOutcomeKind.Cancelled, SessionOutcomeKind.Failed],
        OutcomeException = typeof(WorkerOutputException),
        Stage = FuzzStage.Process,
    };
}
