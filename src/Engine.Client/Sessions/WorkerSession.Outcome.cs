using System.Diagnostics;
using System.Globalization;
using Engine.Client.Diagnostics;
using Engine.Client.Protocol;
using Engine.Client.Sessions;
using Grpc.Core;

namespace Engine.Client;

/// <content>Cancel requests, the watchdog, settling the outcome, close and release.</content>
public sealed partial class WorkerSession
{
    private ITimer? _watchdog;
    private WatchdogKind _watchdogKind;
    private long _watchdogArmedAt;
    private TimeSpan _watchdogTimeout;
    private bool _telemetryStarted;

    /// <summary>Deadline kinds, by priority: a later one replaces an earlier one, never the reverse.</summary>
    private enum WatchdogKind
    {
        None,
        InitResponse,
        Idle,
        SendFailure,
        CancelAck,
    }

    /// <summary>
    /// Requests a protocol Cancel: stops the input, discards output nobody will read, wakes the
    /// writer (Cancel overtakes queued data) and starts the acknowledgement deadline. Idempotent.
    /// </summary>
    private void RequestCancel(string reason, bool byCaller)
    {
        switch (_state.RequestCancel(reason, byCaller))
        {
            case CancelDecision.Ignored:
                return;
            case CancelDecision.SettleHeldFinish:
                SettlePendingFinish();
                return;
        }

        SessionLog.CancelRequested(_logger, Id, _worker, reason);
        FailOutput(new OperationCanceledException(byCaller
            ? $"The session was cancelled by the caller ({reason})."
            : $"The session was cancelled: {reason}."));
        StopInput();
        ArmWatchdog(WatchdogKind.CancelAck, _options.CancelAcknowledgementTimeout);
        _outbound.Writer.TryComplete();
    }

    /// <summary>
    /// Ends the output for its consumer at once (errors overtake buffered batches). Completing the
    /// buffer also releases a reader blocked on it: from then on it discards output, so the
    /// terminator can arrive.
    /// </summary>
    private void FailOutput(Exception exception)
    {
        if (Interlocked.CompareExchange(ref _outputFailure, exception, null) is null)
        {
            _output.Writer.TryComplete();
        }
    }

    /// <summary>
    /// Stops the input pump. Asynchronously, so that callbacks registered on the input's token do
    /// not run on this thread; a callback that throws faults that task, which is observed here
    /// (it would otherwise surface as an <see cref="TaskScheduler.UnobservedTaskException"/>).
    /// </summary>
    private void StopInput()
    {
        var cancelling = _stopInput.CancelAsync();
        if (!cancelling.IsCompletedSuccessfully)
        {
            _ = cancelling.ContinueWith(
                static t => _ = t.Exception,
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Fails Init's task, marked observed: a caller that closed or cancelled the session before
    /// Init completed never awaits it, and its exception must not surface later as an
    /// <see cref="TaskScheduler.UnobservedTaskException"/>. A caller that awaits it still gets it.
    /// </summary>
    private void FailInit(Exception exception)
    {
        if (_init.TrySetException(exception))
        {
            _ = _init.Task.Exception;
        }
    }

    private void ArmWatchdog(WatchdogKind kind, TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_state.IsTerminated || (_watchdogKind >= WatchdogKind.SendFailure && kind <= _watchdogKind))
            {
                return;
            }

            _watchdogKind = kind;
            _watchdogArmedAt = _time.GetTimestamp();
            _watchdogTimeout = timeout;
            if (timeout == Timeout.InfiniteTimeSpan)
            {
                _watchdog?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
            else if (_watchdog is null)
            {
                _watchdog = _time.CreateTimer(static state => ((WorkerSession)state!).OnWatchdog(), this, timeout, Timeout.InfiniteTimeSpan);
            }
            else
            {
                _watchdog.Change(timeout, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void DisarmWatchdog(WatchdogKind kind)
    {
        lock (_gate)
        {
            if (_watchdogKind == kind)
            {
                _watchdogKind = WatchdogKind.None;
                _watchdog?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void OnWatchdog()
    {
        WatchdogKind kind;
        TimeSpan timeout;
        bool byCaller;
        string? sendFailure;
        Exception? firstError;
        lock (_gate)
        {
            kind = _watchdogKind;
            if (_state.IsSettled || kind == WatchdogKind.None || _watchdog is null)
            {
                return;
            }

            // The idle deadline counts from the worker's last message; re-arm for what is left.
            var since = kind == WatchdogKind.Idle ? Math.Max(_watchdogArmedAt, Volatile.Read(ref _lastWorkerMessageTimestamp)) : _watchdogArmedAt;
            var elapsed = _time.GetElapsedTime(since);
            if (elapsed < _watchdogTimeout)
            {
                _watchdog.Change(_watchdogTimeout - elapsed, Timeout.InfiniteTimeSpan);
                return;
            }

            timeout = _watchdogTimeout;
        }

        byCaller = _state.Facts.CancelByCaller;
        (sendFailure, firstError) = _state.SendFailure;

        var seconds = string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalSeconds:0.###} s");
        switch (kind)
        {
            case WatchdogKind.InitResponse:
                SessionLog.TimedOut(_logger, Id, _worker, "InitResponseTimeout", timeout.TotalSeconds);
                SettleTransport(TransportFailureReason.Timeout, $"the worker sent no InitResponse within {seconds} ({nameof(SessionOptions)}.{nameof(SessionOptions.InitResponseTimeout)})", null);
                break;
            case WatchdogKind.Idle:
                SessionLog.TimedOut(_logger, Id, _worker, "IdleTimeout", timeout.TotalSeconds);
                SettleTransport(TransportFailureReason.Timeout, $"timed out: the worker sent nothing for {seconds} after Finish ({nameof(SessionOptions)}.{nameof(SessionOptions.IdleTimeout)})", null);
                break;
            case WatchdogKind.SendFailure:
                SettleTransport(TransportFailureReason.SendFailed, $"sending {sendFailure} failed", firstError);
                break;
            default:
                SessionLog.TimedOut(_logger, Id, _worker, "CancelAcknowledgementTimeout", timeout.TotalSeconds);
                if (byCaller)
                {
                    SettleInterrupted($"The caller cancelled and the worker did not acknowledge Cancel within {seconds} ({nameof(SessionOptions)}.{nameof(SessionOptions.CancelAcknowledgementTimeout)}); the call was aborted and the worker will not be reused.");
                }
                else
                {
                    SettleTransport(TransportFailureReason.Timeout, $"timed out: the worker did not acknowledge Cancel within {seconds} ({nameof(SessionOptions)}.{nameof(SessionOptions.CancelAcknowledgementTimeout)})", null);
                }

                break;
        }
    }

    /// <summary>
    /// A FinishResponse is held while the consumer still reads the output: the terminator is known,
    /// but the session is a success only once every output batch was consumed without the engine
    /// rejecting one. No deadline runs meanwhile (nothing more is expected from the worker), and the
    /// output ends, so the consumer settles it when it reads the end, fails, stops reading, or closes.
    /// </summary>
    private void OnFinishHeld()
    {
        lock (_gate)
        {
            _watchdogKind = WatchdogKind.None;
            _watchdog?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        _output.Writer.TryComplete();
    }

    /// <summary>Settles the held FinishResponse (see <see cref="OnFinishHeld"/>); first wins as always.</summary>
    private void SettlePendingFinish()
    {
        if (_state.HeldFinish is { } held)
        {
            SettleTerminator(finished: true, held);
        }
    }

    /// <summary>The output's consumer is done (read the end, failed or stopped): a held FinishResponse settles.</summary>
    private void OnOutputDone()
    {
        if (_state.OnOutputDone() is { } held)
        {
            SettleTerminator(finished: true, held);
        }
    }

    private void SettleTerminator(bool finished, SessionTerminator terminator)
    {
        var (callbackError, metrics, finishData) = terminator;
        var facts = _state.Facts;
        var prior = facts.PriorError;
        var local = facts.LocalFailure;
        var reason = facts.CancelReason;
        var byCaller = facts.CancelByCaller;
        var cancelRequested = facts.CancelRequested;

        var discarded = Volatile.Read(ref _outputDiscarded);

        // docs/protocol.md rule 7: a prior init or data-phase error first, then the terminator's own
        // callback error, then "cancelled". A FinishResponse is a success only when nothing failed
        // on either side and every output batch reached the consumer: a failure of the engine's own
        // (its input, its Finish callback, output it rejected) makes the session Failed, and output
        // discarded after a Cancel makes it Cancelled, whatever terminator the worker chose.
        var primary = prior ?? callbackError;
        var attached = prior is not null ? callbackError : null;
        var kind = !finished ? SessionOutcomeKind.Cancelled
            : primary is not null || local is not null ? SessionOutcomeKind.Failed
            : cancelRequested && discarded > 0 ? SessionOutcomeKind.Cancelled
            : SessionOutcomeKind.Finished;
        Exception? exception = null;
        if (kind != SessionOutcomeKind.Finished)
        {
            var cancelled = !cancelRequested ? "The worker cancelled the session."
                : byCaller ? $"The session was cancelled by the caller ({reason})."
                : $"The session was cancelled: {reason}.";
            if (finished && primary is null && local is null)
            {
                cancelled += string.Create(
                    CultureInfo.InvariantCulture,
                    $" The worker had already finished, but {discarded} output batch(es) that arrived after the Cancel were discarded.");
            }

            exception = primary is not null ? new WorkerExecutionException(primary, attached, Snapshot())
                : local ?? new OperationCanceledException(cancelled);
        }

        Settle(finished ? SessionEvent.FinishResponse : SessionEvent.CancelResponse, BuildOutcome(kind, primary, attached, exception, metrics, finishData), abort: false);
    }

    private void SettleTransport(TransportFailureReason reason, string message, Exception? cause)
    {
        if (_state.IsSettled)
        {
            return;
        }

        if (_state.HeldFinish is not null)
        {
            // The FinishResponse arrived before this failure: it stands.
            SettlePendingFinish();
            return;
        }

        var prior = _state.Facts.PriorError;
        var exception = new WorkerTransportException(_worker, reason, message, Snapshot(), cause);
        Settle(SessionEvent.TransportFailed, BuildOutcome(SessionOutcomeKind.TransportFailed, prior, null, exception, null, null), abort: true);
    }

    /// <summary>
    /// The worker is gone or unhealthy (its pool saw the process exit or heartbeats fail): fail the
    /// session now, with the pool's explanation, instead of waiting for a timeout.
    /// </summary>
    internal void FailBecauseWorkerLost(string explanation) =>
        SettleTransport(TransportFailureReason.WorkerLost, explanation, null);

    private void SettleInterrupted(string message)
    {
        if (_state.HeldFinish is not null)
        {
            SettlePendingFinish();
            return;
        }

        var prior = _state.Facts.PriorError;
        Settle(SessionEvent.Interrupted, BuildOutcome(SessionOutcomeKind.Interrupted, prior, null, new OperationCanceledException(message), null, null), abort: true);
    }

    /// <summary>Cancelled before Init reached the worker: nothing to acknowledge, nothing to reuse-proof.</summary>
    private void SettleCancelledLocally(string? why = null)
    {
        var facts = _state.Facts;
        var local = facts.LocalFailure;
        var reason = why ?? facts.CancelReason;
        var exception = local ?? new OperationCanceledException($"The session was cancelled before Init reached the worker ({reason}).");
        Settle(SessionEvent.CancelledLocally, BuildOutcome(SessionOutcomeKind.Cancelled, null, null, exception, null, null), abort: true);
    }

    private SessionOutcome BuildOutcome(
        SessionOutcomeKind kind,
        SessionError? error,
        SessionError? callbackError,
        Exception? exception,
        ExecutionMetrics? metrics,
        ReadOnlyMemory<byte>? finishData)
    {
        var facts = _state.Facts;
        return new SessionOutcome(kind, error, callbackError, exception, metrics, facts.InitData, finishData, facts.CancelReason, Snapshot());
    }

    /// <summary>Settles the outcome (first wins) and wakes every waiter; aborts the call after a failure.</summary>
    private bool Settle(SessionEvent @event, SessionOutcome outcome, bool abort)
    {
        if (!_state.TrySettle(@event, outcome))
        {
            return false;
        }

        ITimer? watchdog;
        bool telemetry;
        lock (_gate)
        {
            watchdog = _watchdog;
            _watchdog = null;
            _watchdogKind = WatchdogKind.None;
            telemetry = _telemetryStarted;
        }

        watchdog?.Dispose();
        StopInput();
        _outbound.Writer.TryComplete();
        if (outcome.Kind == SessionOutcomeKind.Finished)
        {
            _output.Writer.TryComplete();
        }
        else
        {
            FailOutput(outcome.Exception ?? new OperationCanceledException("The session ended."));
        }

        FailInit(outcome.Exception ?? new OperationCanceledException("The session ended before Init completed."));
        if (abort)
        {
            AbortCall();
        }

        if (telemetry)
        {
            var tags = new TagList();
            if (_telemetry.Pool is { } pool)
            {
                tags.Add(EngineClientTelemetry.PoolTag, pool);
            }

            if (EngineClientTelemetry.ErrorTypeTag(outcome) is { } errorType)
            {
                tags.Add("error.type", errorType);
            }

            tags.Add("outcome", EngineClientTelemetry.OutcomeTag(outcome.Kind));
            var instruments = _telemetry.Instruments;
            instruments.ActiveSessions.Add(-1, _telemetry.PoolOnly);
            instruments.EndedSessions.Add(1, tags);
            instruments.SessionDuration.Record(outcome.Diagnostics.Elapsed.TotalSeconds, tags);
        }

        Interlocked.Exchange(ref _initActivity, null)?.Dispose();
        Interlocked.Exchange(ref _endActivity, null)?.Dispose();
        if (_activity is { } activity)
        {
            if (activity.IsAllDataRequested)
            {
                activity.SetTag("engine_client.session.outcome", EngineClientTelemetry.OutcomeTag(outcome.Kind));
                activity.SetTag("engine_client.session.batches_sent", outcome.Diagnostics.BatchesSent);
                activity.SetTag("engine_client.session.batches_received", outcome.Diagnostics.BatchesReceived);
            }

            if (activity.IsAllDataRequested && EngineClientTelemetry.ErrorTypeTag(outcome) is { } type)
            {
                activity.SetTag("error.type", type);
            }

            if (outcome.Kind != SessionOutcomeKind.Finished)
            {
                activity.SetStatus(ActivityStatusCode.Error, outcome.Exception?.Message);
            }

            activity.Dispose();
        }

        SessionLog.Ended(_logger, Id, _worker, outcome);
        return true;
    }

    /// <summary>Disposes the call exactly once: an abort (RST_STREAM) unless the stream already ended.</summary>
    private void AbortCall()
    {
        if (_state.TryAbort() && Interlocked.Exchange(ref _call, null) is { } call)
        {
            DisposeCall(call);
        }
    }

    private void DisposeCall(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call)
    {
        try
        {
            call.Dispose();
        }
        catch (Exception ex)
        {
            SessionLog.CleanupFailed(_logger, Id, _worker, ex);
        }
    }

    private async Task RunCloseAsync(TaskCompletionSource<SessionOutcome> close, CancellationToken cancellationToken)
    {
        SessionOutcome outcome;
        try
        {
            if (!_state.IsSettled)
            {
                if (_state.TryCloseBeforeInit())
                {
                    SettleCancelledLocally("the session was closed before Init");
                }
                else
                {
                    RequestCancel("the session was closed", byCaller: false);
                }
            }

            using (cancellationToken.UnsafeRegister(
                static state => ((WorkerSession)state!).SettleInterrupted("CloseAsync was cancelled by the caller before the session settled; the call was aborted and the worker will not be reused."),
                this))
            {
                outcome = await _state.Settled.ConfigureAwait(false);
            }

            if (outcome.WorkerReusable)
            {
                // Let the writer half-close and the reader see the end of the stream; bounded.
                try
                {
                    await Task.WhenAll(_writerTask, _readerTask)
                        .WaitAsync(_options.CancelAcknowledgementTimeout, _time, cancellationToken)
                        .ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
                {
                    // The outcome stands; the call is disposed below either way.
                }
            }

            AbortCall();
        }
        catch (Exception ex)
        {
            SessionLog.CleanupFailed(_logger, Id, _worker, ex);
            SettleTransport(TransportFailureReason.Rpc, "closing the session failed", ex);
            outcome = _state.Outcome;
        }

        await ReleaseAsync(outcome).ConfigureAwait(false);
        close.TrySetResult(outcome);
    }

    private async ValueTask ReleaseAsync(SessionOutcome outcome)
    {
        if (Interlocked.Exchange(ref _released, 1) != 0 || _lease is null)
        {
            return;
        }

        if (!outcome.WorkerReusable)
        {
            try
            {
                _lease.Invalidate(outcome);
            }
            catch (Exception ex)
            {
                SessionLog.ReleaseHookFailed(_logger, Id, _worker, ex);
            }
        }

        try
        {
            await _lease.ReleaseAsync(outcome).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SessionLog.ReleaseHookFailed(_logger, Id, _worker, ex);
        }
    }
}
