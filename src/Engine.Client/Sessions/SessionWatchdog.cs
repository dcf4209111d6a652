using System.Globalization;
using Engine.Client.Diagnostics;

namespace Engine.Client.Sessions;

/// <summary>
/// A session's deadlines: the InitResponse, the idle time after Finish, the Cancel acknowledgement
/// (and the short grace after a failed write), and the progress deadline
/// (<see cref="SessionOptions.ProgressTimeout"/>). It owns its timers and settles the session through
/// it when one expires; no deadline runs once the session is terminated.
/// </summary>
internal sealed class SessionWatchdog
{
    private readonly WorkerSession _session;
    private readonly SessionStateMachine _state;
    private readonly TimeProvider _time;
    private readonly TimeSpan? _progressTimeout;
    private readonly int _outputCapacity;
    private readonly Lock _gate = new();

    // Guarded by _gate.
    private ITimer? _timer;
    private WatchdogKind _kind;
    private long _armedAt;
    private TimeSpan _timeout;
    private ITimer? _progressTimer;

    // When the pending write of a batch or of Finish started; 0 while no write is pending.
    private long _progressWaitSince;

    public SessionWatchdog(WorkerSession session, SessionStateMachine state, TimeProvider time, SessionOptions options)
    {
        _session = session;
        _state = state;
        _time = time;
        _progressTimeout = options.ProgressTimeout;
        _outputCapacity = options.OutputBufferCapacity;
    }

    /// <summary>Arms <paramref name="kind"/>. A later kind replaces an earlier one, never the reverse, once the send-failure grace or the Cancel acknowledgement runs.</summary>
    public void Arm(WatchdogKind kind, TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_state.IsTerminated || (_kind >= WatchdogKind.SendFailure && kind <= _kind))
            {
                return;
            }

            _kind = kind;
            _armedAt = _time.GetTimestamp();
            _timeout = timeout;
            if (timeout == Timeout.InfiniteTimeSpan)
            {
                _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
            else if (_timer is null)
            {
                _timer = _time.CreateTimer(static state => ((SessionWatchdog)state!).OnExpired(), this, timeout, Timeout.InfiniteTimeSpan);
            }
            else
            {
                _timer.Change(timeout, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Disarms <paramref name="kind"/> when it is the one armed.</summary>
    public void Disarm(WatchdogKind kind)
    {
        lock (_gate)
        {
            if (_kind == kind)
            {
                _kind = WatchdogKind.None;
                _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Disarms whatever is armed: a FinishResponse is held, nothing more is expected from the worker.</summary>
    public void DisarmAll()
    {
        lock (_gate)
        {
            _kind = WatchdogKind.None;
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The session settled: no deadline runs any more.</summary>
    public void Stop()
    {
        ITimer? timer;
        lock (_gate)
        {
            timer = _timer;
            _timer = null;
            _kind = WatchdogKind.None;
        }

        timer?.Dispose();
    }

    /// <summary>The writer is about to write a batch or Finish: the worker must take it, or answer.</summary>
    public void ProgressWaitStarted()
    {
        if (_progressTimeout is not { } timeout)
        {
            return;
        }

        Volatile.Write(ref _progressWaitSince, _time.GetTimestamp());
        if (Volatile.Read(ref _progressTimer) is null)
        {
            StartProgressTimer(timeout);
        }
    }

    /// <summary>The worker took the input (the write completed).</summary>
    public void ProgressWaitEnded()
    {
        if (_progressTimeout is not null)
        {
            Volatile.Write(ref _progressWaitSince, 0);
        }
    }

    private void StartProgressTimer(TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_progressTimer is not null || _state.IsSettled)
            {
                return;
            }

            _progressTimer = _time.CreateTimer(static state => ((SessionWatchdog)state!).OnProgressDeadline(), this, timeout, Timeout.InfiniteTimeSpan);
        }

        // The deadline ends with the input: at the outcome, or when Cancel was requested (the
        // Cancel acknowledgement deadline takes over).
        _session.Writer.InputStopping.UnsafeRegister(static state => ((SessionWatchdog)state!).StopProgressTimer(), this);
    }

    private void StopProgressTimer()
    {
        ITimer? timer;
        lock (_gate)
        {
            timer = _progressTimer;
        }

        timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private void OnProgressDeadline()
    {
        var timeout = _progressTimeout!.Value;
        if (_state.IsSettled || _session.Writer.InputStopping.IsCancellationRequested)
        {
            return;
        }

        // The clock runs only while a write waits for the worker, counts from the later of that
        // write's start and the worker's last message, and stops while the output buffer is full:
        // then the engine, not the worker, holds the session up.
        var since = Math.Max(Volatile.Read(ref _progressWaitSince), _session.Reader.LastWorkerMessageTimestamp);
        var waiting = Volatile.Read(ref _progressWaitSince) != 0 && _session.Reader.BufferedCount < _outputCapacity;
        var elapsed = waiting ? _time.GetElapsedTime(since) : TimeSpan.Zero;
        if (elapsed < timeout)
        {
            lock (_gate)
            {
                _progressTimer?.Change(timeout - elapsed, Timeout.InfiniteTimeSpan);
            }

            return;
        }

        SessionLog.TimedOut(_session.Logger, _session.Id, _session.Worker, nameof(SessionOptions.ProgressTimeout), timeout.TotalSeconds);
        var seconds = string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalSeconds:0.###} s");
        _session.SettleTransport(
            TransportFailureReason.Timeout,
            $"timed out: the worker accepted no input and sent nothing for {seconds} while processing ({nameof(SessionOptions)}.{nameof(SessionOptions.ProgressTimeout)}); the call was aborted",
            null);
        lock (_gate)
        {
            _progressTimer?.Dispose();
        }
    }

    private void OnExpired()
    {
        WatchdogKind kind;
        TimeSpan timeout;
        lock (_gate)
        {
            kind = _kind;
            if (_state.IsSettled || kind == WatchdogKind.None || _timer is null)
            {
                return;
            }

            // The idle deadline counts from the worker's last message; re-arm for what is left.
            var since = kind == WatchdogKind.Idle ? Math.Max(_armedAt, _session.Reader.LastWorkerMessageTimestamp) : _armedAt;
            var elapsed = _time.GetElapsedTime(since);
            if (elapsed < _timeout)
            {
                _timer.Change(_timeout - elapsed, Timeout.InfiniteTimeSpan);
                return;
            }

            timeout = _timeout;
        }

        var seconds = string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalSeconds:0.###} s");
        switch (kind)
        {
            case WatchdogKind.InitResponse:
                SessionLog.TimedOut(_session.Logger, _session.Id, _session.Worker, "InitResponseTimeout", timeout.TotalSeconds);
                _session.SettleTransport(TransportFailureReason.Timeout, $"the worker sent no InitResponse within {seconds} ({nameof(SessionOptions)}.{nameof(SessionOptions.InitResponseTimeout)})", null);
                break;
            case WatchdogKind.Idle:
                SessionLog.TimedOut(_session.Logger, _session.Id, _session.Worker, "IdleTimeout", timeout.TotalSeconds);
                _session.SettleTransport(TransportFailureReason.Timeout, $"timed out: the worker sent nothing for {seconds} after Finish ({nameof(SessionOptions)}.{nameof(SessionOptions.IdleTimeout)})", null);
                break;
            case WatchdogKind.SendFailure:
                var (what, error) = _state.SendFailure;
                _session.SettleTransport(TransportFailureReason.SendFailed, $"sending {what} failed", error);
                break;
            default:
                SessionLog.TimedOut(_session.Logger, _session.Id, _session.Worker, "CancelAcknowledgementTimeout", timeout.TotalSeconds);
                if (_state.Facts.CancelByCaller)
                {
                    _session.SettleInterrupted($"The caller cancelled and the worker did not acknowledge Cancel within {seconds} ({nameof(SessionOptions)}.{nameof(SessionOptions.CancelAcknowledgementTimeout)}); the call was aborted and the worker will not be reused.");
                }
                else
                {
                    _session.SettleTransport(TransportFailureReason.Timeout, $"timed out: the worker did not acknowledge Cancel within {seconds} ({nameof(SessionOptions)}.{nameof(SessionOptions.CancelAcknowledgementTimeout)})", null);
                }

                break;
        }
    }
}

/// <summary>Deadline kinds, by priority: a later one replaces an earlier one, never the reverse.</summary>
internal enum WatchdogKind
{
    /// <summary>Nothing armed.</summary>
    None,

    /// <summary><see cref="SessionOptions.InitResponseTimeout"/>.</summary>
    InitResponse,

    /// <summary><see cref="SessionOptions.IdleTimeout"/>, once Finish went out.</summary>
    Idle,

    /// <summary>A write failed: the reader gets a short grace to find the worker's final messages.</summary>
    SendFailure,

    /// <summary><see cref="SessionOptions.CancelAcknowledgementTimeout"/>.</summary>
    CancelAck,
}
