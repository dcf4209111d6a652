using Engine.Client.Protocol;

namespace Engine.Client.Sessions;

/// <summary>What happens to a session; each one moves the phase along one row of <see cref="SessionStateMachine.Transitions"/>.</summary>
internal enum SessionEvent
{
    /// <summary><c>InitAsync</c> was called: Init (and its payload chunks) is about to go out.</summary>
    InitCalled,

    /// <summary>The worker's InitResponse accepted Init.</summary>
    InitAccepted,

    /// <summary><c>ProcessAsync</c> was called after Init succeeded.</summary>
    ProcessCalled,

    /// <summary>The input is exhausted and Finish is queued.</summary>
    InputExhausted,

    /// <summary>A Cancel was requested: by the caller, <c>CloseAsync</c>, an error of the worker or of the engine's own side.</summary>
    CancelRequested,

    /// <summary><c>CloseAsync</c> before <c>InitAsync</c>: nothing was sent, nothing will be.</summary>
    ClosedBeforeInit,

    /// <summary>Terminal: the worker's FinishResponse settles (Finished, Failed, or Cancelled when output after a Cancel was discarded).</summary>
    FinishResponse,

    /// <summary>Terminal: the worker's CancelResponse settles (Cancelled).</summary>
    CancelResponse,

    /// <summary>Terminal: cancelled before Init reached the worker; nothing to acknowledge (Cancelled).</summary>
    CancelledLocally,

    /// <summary>Terminal: the caller cancelled (or stopped waiting) and the worker did not acknowledge in time (Interrupted).</summary>
    Interrupted,

    /// <summary>Terminal: the stream failed, timed out, the worker broke the protocol or was lost (TransportFailed).</summary>
    TransportFailed,
}

/// <summary>One row of the transition table.</summary>
internal readonly record struct SessionTransition(SessionPhase From, SessionEvent Event, SessionPhase To);

/// <summary>What a Cancel request asks of the session.</summary>
internal enum CancelDecision
{
    /// <summary>The session ended, or a Cancel was already requested: nothing to do.</summary>
    Ignored,

    /// <summary>A FinishResponse is held for the consumer: nothing is left to cancel on the wire; settle it now.</summary>
    SettleHeldFinish,

    /// <summary>Newly requested (the phase is now Cancelling): stop the input, fail the output, wake the writer, arm the acknowledgement deadline.</summary>
    Requested,
}

/// <summary>What the writer does about a requested Cancel once its queue ends.</summary>
internal enum CancelWriteDecision
{
    /// <summary>No Cancel requested, or the outcome is settled: write nothing.</summary>
    None,

    /// <summary>Init never reached the worker: write nothing and settle Cancelled locally.</summary>
    SettleLocally,

    /// <summary>Write Cancel with <see cref="SessionStateMachine.CancelReason"/>; it is now marked written.</summary>
    Write,
}

/// <summary>What an incoming InitResponse means.</summary>
internal enum InitResponseDecision
{
    /// <summary>Init is answered once: a protocol violation.</summary>
    Duplicate,

    /// <summary>The InitResponse carries an error: fail Init, record it, request Cancel (rule 6).</summary>
    Failed,

    /// <summary>Accepted: the phase is Ready.</summary>
    Accepted,

    /// <summary>Accepted by the worker, but a Cancel was requested first: Init does not succeed.</summary>
    CancelledMeanwhile,
}

/// <summary>What an incoming FinishResponse means.</summary>
internal enum FinishResponseDecision
{
    /// <summary>Before the InitResponse: a protocol violation.</summary>
    BeforeInitResponse,

    /// <summary>Before the engine started sending Finish: a protocol violation (input would be dropped).</summary>
    BeforeFinish,

    /// <summary>It reports fewer input batches than the engine sent before Finish: a protocol violation.</summary>
    InputUnaccounted,

    /// <summary>Settle it now: an error is known, the consumer is gone, or the session already ended.</summary>
    SettleNow,

    /// <summary>Held until the consumer has read every output batch (<see cref="SessionStateMachine.OnOutputDone"/>).</summary>
    HoldUntilOutputRead,
}

/// <summary>A terminator's content: the worker's callback error, metrics and finish data.</summary>
internal sealed record SessionTerminator(SessionError? CallbackError, ExecutionMetrics? Metrics, ReadOnlyMemory<byte>? FinishData);

/// <summary>What the outcome is built from, read at once.</summary>
internal readonly record struct SessionFacts(
    SessionError? PriorError,
    Exception? LocalFailure,
    string? CancelReason,
    bool CancelRequested,
    bool CancelByCaller,
    ReadOnlyMemory<byte>? InitData);

/// <summary>
/// The one owner of a session's protocol state: the phase (moved only along
/// <see cref="Transitions"/>, the diagram of docs/sessions.md), the terminal outcome (settled once:
/// the first wins), and every fact the protocol rules depend on: Init written and answered,
/// Finish and Cancel requested and written, the error received, a FinishResponse held until the
/// output is read, the first errors of either side, the Cancel reason, the half-close and abort.
/// </summary>
/// <remarks>
/// Callers state intents and get decisions back (whether and what to write, whether a response is
/// in order, whether a terminator settles now); the machine never performs I/O, never logs and
/// never calls out, so it holds its one lock only for a few field reads and writes.
/// </remarks>
internal sealed class SessionStateMachine
{
    /// <summary>Every transition the session takes; docs/sessions.md draws exactly these (a test compares them).</summary>
    internal static readonly SessionTransition[] Transitions =
    [
        new(SessionPhase.Created, SessionEvent.InitCalled, SessionPhase.Initializing),
        new(SessionPhase.Created, SessionEvent.ClosedBeforeInit, SessionPhase.Cancelling),
        new(SessionPhase.Created, SessionEvent.CancelRequested, SessionPhase.Cancelling),
        new(SessionPhase.Created, SessionEvent.TransportFailed, SessionPhase.Ended),

        new(SessionPhase.Initializing, SessionEvent.InitAccepted, SessionPhase.Ready),
        new(SessionPhase.Initializing, SessionEvent.CancelRequested, SessionPhase.Cancelling),
        new(SessionPhase.Initializing, SessionEvent.TransportFailed, SessionPhase.Ended),

        new(SessionPhase.Ready, SessionEvent.ProcessCalled, SessionPhase.Processing),
        new(SessionPhase.Ready, SessionEvent.CancelRequested, SessionPhase.Cancelling),
        new(SessionPhase.Ready, SessionEvent.CancelResponse, SessionPhase.Ended),
        new(SessionPhase.Ready, SessionEvent.TransportFailed, SessionPhase.Ended),

        new(SessionPhase.Processing, SessionEvent.InputExhausted, SessionPhase.Finishing),
        new(SessionPhase.Processing, SessionEvent.CancelRequested, SessionPhase.Cancelling),
        new(SessionPhase.Processing, SessionEvent.CancelResponse, SessionPhase.Ended),
        new(SessionPhase.Processing, SessionEvent.TransportFailed, SessionPhase.Ended),

        new(SessionPhase.Finishing, SessionEvent.CancelRequested, SessionPhase.Cancelling),
        new(SessionPhase.Finishing, SessionEvent.FinishResponse, SessionPhase.Ended),
        new(SessionPhase.Finishing, SessionEvent.CancelResponse, SessionPhase.Ended),
        new(SessionPhase.Finishing, SessionEvent.TransportFailed, SessionPhase.Ended),

        new(SessionPhase.Cancelling, SessionEvent.CancelResponse, SessionPhase.Ended),
        new(SessionPhase.Cancelling, SessionEvent.FinishResponse, SessionPhase.Ended),
        new(SessionPhase.Cancelling, SessionEvent.CancelledLocally, SessionPhase.Ended),
        new(SessionPhase.Cancelling, SessionEvent.Interrupted, SessionPhase.Ended),
        new(SessionPhase.Cancelling, SessionEvent.TransportFailed, SessionPhase.Ended),
    ];

    private static readonly SessionPhase?[,] s_next = BuildLookup();

    private readonly Lock _gate = new();
    private readonly TaskCompletionSource<SessionOutcome> _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SessionPhase _phase = SessionPhase.Created;
    private SessionPhase _phaseBeforeEnd = SessionPhase.Created;
    private SessionOutcome? _outcome;

    // Protocol facts; all guarded by _gate.
    private bool _initWritten;
    private bool _initResponded;
    private bool _finishStarted;
    private bool _cancelRequested;
    private bool _cancelByCaller;
    private bool _cancelWritten;
    private bool _errorReceived;
    private bool _outputDone;
    private bool _aborted;
    private bool _halfClosed;
    private string? _cancelReason;
    private SessionError? _priorError;
    private Exception? _localFailure;
    private Exception? _firstSendError;
    private string? _sendFailure;
    private ReadOnlyMemory<byte>? _initData;
    private SessionTerminator? _heldFinish;

    /// <summary>The current phase; <see cref="SessionPhase.Ended"/> once settled.</summary>
    public SessionPhase Phase
    {
        get
        {
            lock (_gate)
            {
                return _phase;
            }
        }
    }

    /// <summary>The last phase before the session ended (or the current one).</summary>
    public SessionPhase LastActivePhase
    {
        get
        {
            lock (_gate)
            {
                return _phase == SessionPhase.Ended ? _phaseBeforeEnd : _phase;
            }
        }
    }

    /// <summary>Whether an outcome is settled.</summary>
    public bool IsSettled => Volatile.Read(ref _outcome) is not null;

    /// <summary>Whether nothing more is expected from the worker: the outcome is settled or a FinishResponse is held for the consumer.</summary>
    public bool IsTerminated => Volatile.Read(ref _outcome) is not null || Volatile.Read(ref _heldFinish) is not null;

    /// <summary>Completes with the outcome once it is settled; never faults.</summary>
    public Task<SessionOutcome> Settled => _settled.Task;

    /// <summary>The settled outcome.</summary>
    /// <exception cref="InvalidOperationException">No terminal outcome is settled yet.</exception>
    public SessionOutcome Outcome =>
        Volatile.Read(ref _outcome) ?? throw new InvalidOperationException("The session has not ended yet: there is no outcome to read. Await CloseAsync to get it.");

    /// <summary>The settled outcome, or <see langword="null"/>.</summary>
    public SessionOutcome? OutcomeOrNull => Volatile.Read(ref _outcome);

    /// <summary>Whether a Cancel was requested (the writer then writes nothing more but Cancel).</summary>
    public bool IsCancelRequested
    {
        get
        {
            lock (_gate)
            {
                return _cancelRequested;
            }
        }
    }

    /// <summary>Whether the worker answered Init (a DataResponse is in order only then).</summary>
    public bool InitResponded
    {
        get
        {
            lock (_gate)
            {
                return _initResponded;
            }
        }
    }

    /// <summary>Whether the writer started writing Finish.</summary>
    public bool FinishStarted
    {
        get
        {
            lock (_gate)
            {
                return _finishStarted;
            }
        }
    }

    /// <summary>Whether Cancel went on the wire.</summary>
    public bool CancelWritten
    {
        get
        {
            lock (_gate)
            {
                return _cancelWritten;
            }
        }
    }

    /// <summary>The reason of the requested Cancel, or "no reason given".</summary>
    public string CancelReason
    {
        get
        {
            lock (_gate)
            {
                return _cancelReason ?? "no reason given";
            }
        }
    }

    /// <summary>Whether the call was aborted.</summary>
    public bool IsAborted
    {
        get
        {
            lock (_gate)
            {
                return _aborted;
            }
        }
    }

    /// <summary>What the first failed write was writing and its error, or nulls.</summary>
    public (string? What, Exception? Error) SendFailure
    {
        get
        {
            lock (_gate)
            {
                return (_sendFailure, _firstSendError);
            }
        }
    }

    /// <summary>The FinishResponse held for the consumer, or <see langword="null"/>.</summary>
    public SessionTerminator? HeldFinish => Volatile.Read(ref _heldFinish);

    /// <summary>Everything an outcome is built from, read at once.</summary>
    public SessionFacts Facts
    {
        get
        {
            lock (_gate)
            {
                return new SessionFacts(_priorError, _localFailure, _cancelReason, _cancelRequested, _cancelByCaller, _initData);
            }
        }
    }

    /// <summary>Where <paramref name="event"/> leads from <paramref name="from"/>, or <see langword="null"/> when the table has no such row.</summary>
    public static SessionPhase? Next(SessionPhase from, SessionEvent @event) => s_next[(int)from, (int)@event];

    /// <summary>Fires a non-terminal event; refused (false) when the table has no row for the current phase.</summary>
    public bool Fire(SessionEvent @event)
    {
        if (IsTerminal(@event))
        {
            throw new ArgumentException($"{@event} is terminal: it is reached by settling an outcome.", nameof(@event));
        }

        lock (_gate)
        {
            return Move(@event);
        }
    }

    /// <summary>
    /// <c>CloseAsync</c> before Init: moves Created to Cancelling, so that Init can no longer start.
    /// Returns false when Init already started (request a Cancel instead).
    /// </summary>
    public bool TryCloseBeforeInit() => Fire(SessionEvent.ClosedBeforeInit);

    /// <summary>A Cancel is requested: answers whether this is new, nothing to do, or a held FinishResponse to settle.</summary>
    public CancelDecision RequestCancel(string reason, bool byCaller)
    {
        lock (_gate)
        {
            if (_outcome is not null)
            {
                return CancelDecision.Ignored;
            }

            // After a FinishResponse nothing is left to cancel on the wire: the consumer stopped
            // reading (or failed), so the terminator settles now.
            if (_heldFinish is not null)
            {
                return CancelDecision.SettleHeldFinish;
            }

            if (_cancelRequested)
            {
                return CancelDecision.Ignored;
            }

            _cancelRequested = true;
            _cancelReason = reason;
            _cancelByCaller = byCaller;
            Move(SessionEvent.CancelRequested);
            return CancelDecision.Requested;
        }
    }

    /// <summary>The writer is about to write Init: false when a Cancel overtook it (write nothing).</summary>
    public bool TryBeginInitWrite()
    {
        lock (_gate)
        {
            if (_cancelRequested)
            {
                return false;
            }

            _initWritten = true;
            return true;
        }
    }

    /// <summary>The writer is about to write Finish: false when a Cancel overtook it (rule 5: Cancel never precedes Finish).</summary>
    public bool TryBeginFinishWrite()
    {
        lock (_gate)
        {
            if (_cancelRequested)
            {
                return false;
            }

            // Set before the write: a FinishResponse may arrive while the write is still running.
            _finishStarted = true;
            return true;
        }
    }

    /// <summary>The writer's queue ended: whether to write Cancel (then marked written), settle locally, or do nothing.</summary>
    public CancelWriteDecision DecideCancelWrite()
    {
        lock (_gate)
        {
            if (!_cancelRequested || _outcome is not null)
            {
                return CancelWriteDecision.None;
            }

            if (!_initWritten)
            {
                return CancelWriteDecision.SettleLocally;
            }

            _cancelWritten = true;
            return CancelWriteDecision.Write;
        }
    }

    /// <summary>An InitResponse arrived; <paramref name="data"/> is its data when it carries no error.</summary>
    public InitResponseDecision OnInitResponse(bool failed, ReadOnlyMemory<byte>? data)
    {
        lock (_gate)
        {
            if (_initResponded)
            {
                return InitResponseDecision.Duplicate;
            }

            _initResponded = true;
            if (failed)
            {
                return InitResponseDecision.Failed;
            }

            if (data is not null)
            {
                _initData = data;
            }

            return Move(SessionEvent.InitAccepted) ? InitResponseDecision.Accepted : InitResponseDecision.CancelledMeanwhile;
        }
    }

    /// <summary>An ErrorResponse arrived: false for a second one (a protocol violation); else where it came from.</summary>
    public bool TryAcceptErrorResponse(out SessionErrorOrigin origin)
    {
        lock (_gate)
        {
            origin = _initResponded ? SessionErrorOrigin.Data : SessionErrorOrigin.Init;
            if (_errorReceived)
            {
                return false;
            }

            _errorReceived = true;
            return true;
        }
    }

    /// <summary>Keeps the worker's first error (init or data phase): it comes first in the outcome (rule 7).</summary>
    public void RecordWorkerError(SessionError error)
    {
        lock (_gate)
        {
            _priorError ??= error;
        }
    }

    /// <summary>The engine's own side failed; the first failure is kept. False once the session ended.</summary>
    public bool RecordLocalFailure(Exception exception)
    {
        lock (_gate)
        {
            if (_outcome is not null)
            {
                return false;
            }

            _localFailure ??= exception;
            return true;
        }
    }

    /// <summary>A write failed; the first one is kept. False once the session ended.</summary>
    public bool RecordSendFailure(string what, Exception exception)
    {
        lock (_gate)
        {
            if (_outcome is not null)
            {
                return false;
            }

            _firstSendError ??= exception;
            _sendFailure ??= what;
            return true;
        }
    }

    /// <summary>
    /// A FinishResponse arrived. Out of order (rule 8) it is a violation. A success waits for the
    /// consumer to read every output batch (it is then held); an error, a consumer already gone, or
    /// an ended session settles it now.
    /// </summary>
    /// <param name="batchesIn">The worker's <c>metrics.batches_in</c>, when reported.</param>
    /// <param name="batchesSent">The batches the engine sent before Finish (final once Finish went out).</param>
    /// <param name="terminator">Its content.</param>
    public FinishResponseDecision OnFinishResponse(ulong? batchesIn, long batchesSent, SessionTerminator terminator)
    {
        lock (_gate)
        {
            if (!_initResponded)
            {
                return FinishResponseDecision.BeforeInitResponse;
            }

            if (!_finishStarted)
            {
                return FinishResponseDecision.BeforeFinish;
            }

            if (batchesIn is { } received && received < (ulong)batchesSent)
            {
                return FinishResponseDecision.InputUnaccounted;
            }

            // Only a success waits for the consumer; an error overtakes buffered output at once.
            if (_outputDone || _outcome is not null || terminator.CallbackError is not null || _priorError is not null || _localFailure is not null)
            {
                return FinishResponseDecision.SettleNow;
            }

            Volatile.Write(ref _heldFinish, terminator);
            return FinishResponseDecision.HoldUntilOutputRead;
        }
    }

    /// <summary>
    /// A CancelResponse arrived: in order once Init was answered or Cancel went out. Decided by what
    /// went on the wire, not by what was requested: a Cancel requested but not yet written cannot
    /// have been answered.
    /// </summary>
    public bool AcceptsCancelResponse()
    {
        lock (_gate)
        {
            return _initResponded || _cancelWritten;
        }
    }

    /// <summary>The output's consumer is done (read the end, failed or stopped): returns the held FinishResponse to settle, if any.</summary>
    public SessionTerminator? OnOutputDone()
    {
        lock (_gate)
        {
            _outputDone = true;
            return _heldFinish;
        }
    }

    /// <summary>
    /// Settles the terminal outcome through a terminal <paramref name="event"/>. Refused when one was
    /// already settled (it stays) or when the table has no row for the event from the current phase.
    /// </summary>
    public bool TrySettle(SessionEvent @event, SessionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (!IsTerminal(@event))
        {
            throw new ArgumentException($"{@event} is not terminal.", nameof(@event));
        }

        lock (_gate)
        {
            if (_outcome is not null || Next(_phase, @event) is null)
            {
                return false;
            }

            _phaseBeforeEnd = _phase;
            _phase = SessionPhase.Ended;
            Volatile.Write(ref _outcome, outcome);
        }

        _settled.TrySetResult(outcome);
        return true;
    }

    /// <summary>Rule 9: the request stream half-closes only once the outcome is known and the worker stays usable, never after an abort, once.</summary>
    public bool TryHalfClose()
    {
        lock (_gate)
        {
            if (_outcome is not { WorkerReusable: true } || _aborted || _halfClosed)
            {
                return false;
            }

            _halfClosed = true;
            return true;
        }
    }

    /// <summary>The call is to be aborted: true the first time only.</summary>
    public bool TryAbort()
    {
        lock (_gate)
        {
            if (_aborted)
            {
                return false;
            }

            _aborted = true;
            return true;
        }
    }

    /// <summary>Whether <paramref name="event"/> settles the outcome.</summary>
    public static bool IsTerminal(SessionEvent @event) => @event
        is SessionEvent.FinishResponse
        or SessionEvent.CancelResponse
        or SessionEvent.CancelledLocally
        or SessionEvent.Interrupted
        or SessionEvent.TransportFailed;

    private bool Move(SessionEvent @event)
    {
        if (Next(_phase, @event) is not { } to)
        {
            return false;
        }

        _phase = to;
        return true;
    }

    private static SessionPhase?[,] BuildLookup()
    {
        var next = new SessionPhase?[Enum.GetValues<SessionPhase>().Length, Enum.GetValues<SessionEvent>().Length];
        foreach (var (from, @event, to) in Transitions)
        {
            next[(int)from, (int)@event] = to;
        }

        return next;
    }
}
