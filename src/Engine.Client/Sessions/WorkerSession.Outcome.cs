using System.Diagnostics;
using System.Globalization;
using Engine.Client.Diagnostics;
using Engine.Client.Protocol;
using Grpc.Core;

namespace Engine.Client;

/// <content>Cancel requests, the watchdog, settling the outcome, close and release.</content>
public sealed partial class WorkerSession
{
    private ITimer? _watchdog;
    private WatchdogKind _watchdogKind;
    private long _watchdogArmedAt;
    private TimeSpan _watchdogTimeout;
    private string? _sendFailure;
    private bool _telemetryStarted;
    private PendingFinish? _pendingFinish;
    private bool _outputDone;

    /// <summary>A FinishResponse held until the consumer has read every output batch.</summary>
    private sealed record PendingFinish(SessionError? CallbackError, ExecutionMetrics? Metrics, ReadOnlyMemory<byte>? FinishData);

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
        bool terminated;
        lock (_gate)
        {
            if (_state.IsSettled)
            {
                return;
            }

            // After a FinishResponse nothing is left to cancel on the wire: the consumer stopped
            // reading (or failed), so the terminator settles now.
            terminated = _pendingFinish is not null;
            if (!terminated)
            {
                if (_cancelRequested)
                {
                    return;
                }

                _cancelRequested = true;
                _cancelReason = reason;
                _cancelByCaller = byCaller;
            }
        }

        if (terminated)
        {
            SettlePendingFinish();
            return;
        }

        SessionLog.CancelRequested(_logger, Id, _worker, reason);
        _state.TryAdvanceTo(SessionPhase.Cancelling);
        FailOutput(new OperationCanceledException(byCaller
            ? $"The session was cancelled by the caller ({reason})."
            : $"The session was cancelled: {reason}."));
        StopInput();
        ArmWatchdog(WatchdogKind.CancelAck, _options.CancelAcknowledgementTimeout);
        _outbound.Writer.TryComplete();
    }

    private string CancelReason()
    {
        lock (_gate)
        {
            return _cancelReason ?? "no reason given";
        }
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
            if (_state.IsSettled || _pendingFinish is not null || (_watchdogKind >= WatchdogKind.SendFailure && kind <= _watchdogKind))
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
            byCaller = _cancelByCaller;
            sendFailure = _sendFailure;
            firstError = _firstTransportError;
        }

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
    /// A FinishResponse arrived while the consumer still reads the output: the terminator is known,
    /// but the session is a success only once every output batch was consumed without the engine
    /// rejecting one. Holds the terminator (no deadline runs meanwhile: nothing more is expected from
    /// the worker) and ends the output, so the consumer settles it when it reads the end, fails, stops
    /// reading, or closes. Returns false when the consumer is already gone: settle at once.
    /// </summary>
    private bool TryDeferFinish(SessionError? callbackError, ExecutionMetrics? metrics, ReadOnlyMemory<byte>? finishData)
    {
        lock (_gate)
        {
            // Only a success waits for the consumer; an error overtakes buffered output at once.
            if (_outputDone || _state.IsSettled || callbackError is not null || _priorError is not null || _localFailure is not null)
            {
                return false;
            }

            _pendingFinish = new PendingFinish(callbackError, metrics, finishData);
            _watchdogKind = WatchdogKind.None;
            _watchdog?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        _output.Writer.TryComplete();
        return true;
    }

    /// <summary>Settles the held FinishResponse (see <see cref="TryDeferFinish"/>); first wins as always.</summary>
    private void SettlePendingFinish()
    {
        PendingFinish? pending;
        lock (_gate)
        {
            pending = _pendingFinish;
        }

        if (pending is not null)
        {
            SettleTerminator(finished: true, pending.CallbackError, pending.Metrics, pending.FinishData);
        }
    }

    /// <summary>The output's consumer is done (read the end, failed or stopped): a held FinishResponse settles.</summary>
    private void OnOutputDone()
    {
        lock (_gate)
        {
            _outputDone = true;
        }

        SettlePendingFinish();
    }

    private void SettleTerminator(bool finished, SessionError? callbackError, ExecutionMetrics? metrics, ReadOnlyMemory<byte>? finishData)
    {
        SessionError? prior;
        Exception? local;
        string? reason;
        bool byCaller, cancelRequested;
        lock (_gate)
        {
            prior = _priorError;
            local = _localFailure;
            reason = _cancelReason;
            byCaller = _cancelByCaller;
            cancelRequested = _cancelRequested;
        }

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

        Settle(BuildOutcome(kind, primary, attached, exception, metrics, finishData), abort: false);
    }

    private void SettleTransport(TransportFailureReason reason, string message, Exception? cause)
    {
        SessionError? prior;
        bool terminated;
        lock (_gate)
        {
            if (_state.IsSettled)
            {
                return;
            }

            prior = _priorError;
            terminated = _pendingFinish is not null;
        }

        if (terminated)
        {
            // The FinishResponse arrived before this failure: it stands.
            SettlePendingFinish();
            return;
        }

        var exception = new WorkerTransportException(_worker, reason, message, Snapshot(), cause);
        Settle(BuildOutcome(SessionOutcomeKind.TransportFailed, prior, null, exception, null, null), abort: true);
    }

    /// <summary>
    /// The worker is gone or unhealthy (its pool saw the process exit or heartbeats fail): fail the
    /// session now, with the pool's explanation, instead of waiting for a timeout.
    /// </summary>
    internal void FailBecauseWorkerLost(string explanation) =>
        SettleTransport(TransportFailureReason.WorkerLost, explanation, null);

    private void SettleInterrupted(string message)
    {
        SessionError? prior;
        bool terminated;
        lock (_gate)
        {
            prior = _priorError;
            terminated = _pendingFinish is not null;
        }

        if (terminated)
        {
            SettlePendingFinish();
            return;
        }

        Settle(BuildOutcome(SessionOutcomeKind.Interrupted, prior, null, new OperationCanceledException(message), null, null), abort: true);
    }

    /// <summary>Cancelled before Init reached the worker: nothing to acknowledge, nothing to reuse-proof.</summary>
    private void SettleCancelledLocally(string? why = null)
    {
        Exception? local;
        string? reason;
        lock (_gate)
        {
            local = _localFailure;
            reason = why ?? _cancelReason;
        }

        var exception = local ?? new OperationCanceledException($"The session was cancelled before Init reached the worker ({reason}).");
        Settle(BuildOutcome(SessionOutcomeKind.Cancelled, null, null, exception, null, null), abort: true);
    }

    private SessionOutcome BuildOutcome(
        SessionOutcomeKind kind,
        SessionError? error,
        SessionError? callbackError,
        Exception? exception,
        ExecutionMetrics? metrics,
        ReadOnlyMemory<byte>? finishData)
    {
        ReadOnlyMemory<byte>? initData;
        string? reason;
        lock (_gate)
        {
            initData = _initData;
            reason = _cancelReason;
        }

        return new SessionOutcome(kind, error, callbackError, exception, metrics, initData, finishData, reason, Snapshot());
    }

    /// <summary>Settles the outcome (first wins) and wakes every waiter; aborts the call after a failure.</summary>
    private bool Settle(SessionOutcome outcome, bool abort)
    {
        if (!_state.TrySettle(outcome))
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

            if (_telemetry.Worker is { } worker)
            {
                tags.Add(EngineClientTelemetry.WorkerTag, worker);
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
        AsyncDuplexStreamingCall<UdfRequest, UdfResponse>? call;
        lock (_gate)
        {
            if (_aborted)
            {
                return;
            }

            _aborted = true;
            call = _call;
        }

        if (call is not null)
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
                if (_state.TryAdvance(SessionPhase.Created, SessionPhase.Cancelling))
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
