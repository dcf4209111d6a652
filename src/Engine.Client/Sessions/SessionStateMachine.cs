namespace Engine.Client.Sessions;

/// <summary>
/// The one atomic state of a session: a phase that only moves forward and a terminal outcome that
/// is settled once. The first terminal wins; later ones, and phase moves after it, are refused.
/// Every waiter (init, readers, close) awaits <see cref="Settled"/>.
/// </summary>
internal sealed class SessionStateMachine
{
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource<SessionOutcome> _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SessionPhase _phase = SessionPhase.Created;
    private SessionPhase _phaseBeforeEnd = SessionPhase.Created;
    private SessionOutcome? _outcome;

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

    /// <summary>Completes with the outcome once it is settled; never faults.</summary>
    public Task<SessionOutcome> Settled => _settled.Task;

    /// <summary>The settled outcome.</summary>
    /// <exception cref="InvalidOperationException">No terminal outcome is settled yet.</exception>
    public SessionOutcome Outcome =>
        Volatile.Read(ref _outcome) ?? throw new InvalidOperationException("The session has not ended yet: there is no outcome to read. Await CloseAsync to get it.");

    /// <summary>The settled outcome, or <see langword="null"/>.</summary>
    public SessionOutcome? OutcomeOrNull => Volatile.Read(ref _outcome);

    /// <summary>Moves from <paramref name="from"/> to <paramref name="to"/>; refused when the phase differs or the session ended.</summary>
    public bool TryAdvance(SessionPhase from, SessionPhase to)
    {
        if (to == SessionPhase.Ended)
        {
            throw new ArgumentException("Ended is reached by settling an outcome.", nameof(to));
        }

        lock (_gate)
        {
            if (_phase != from)
            {
                return false;
            }

            _phase = to;
            return true;
        }
    }

    /// <summary>Moves forward to <paramref name="to"/> from any earlier, non-terminal phase.</summary>
    public bool TryAdvanceTo(SessionPhase to)
    {
        if (to == SessionPhase.Ended)
        {
            throw new ArgumentException("Ended is reached by settling an outcome.", nameof(to));
        }

        lock (_gate)
        {
            if (_phase == SessionPhase.Ended || _phase >= to)
            {
                return false;
            }

            _phase = to;
            return true;
        }
    }

    /// <summary>Settles the terminal outcome. Returns <see langword="false"/> when one was already settled (it stays).</summary>
    public bool TrySettle(SessionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        lock (_gate)
        {
            if (_outcome is not null)
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
}
