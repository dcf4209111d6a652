using System.Diagnostics;
using System.Globalization;
using Engine.Client.Diagnostics;
using Engine.Client.Protocol;
using Engine.Client.Sessions;
using Grpc.Core;

namespace Engine.Client;

/// <content>
/// Acting on the state machine's decisions: Cancel requests, failures of the engine's own side,
/// settling the outcome, close and release. No fields: the façade's are in WorkerSession.cs.
/// </content>
public sealed partial class WorkerSession
{
    /// <summary>
    /// Requests a protocol Cancel: stops the input, discards output nobody will read, starts the
    /// acknowledgement deadline and wakes the writer's end of stream (Cancel goes out after the
    /// write in flight, and nothing follows it). Idempotent.
    /// </summary>
    internal void RequestCancel(string reason, bool byCaller)
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
        _reader.FailOutput(new OperationCanceledException(byCaller
            ? $"The session was cancelled by the caller ({reason})."
            : $"The session was cancelled: {reason}."));
        _writer.StopInput();
        _watchdog.Arm(WatchdogKind.CancelAck, _options.CancelAcknowledgementTimeout);
        _writer.EndStream();
    }

    /// <summary>The engine's own side failed (input source, Finish callback, reading the output): surface it, then cancel.</summary>
    /// <param name="exception">What the consumer sees.</param>
    /// <param name="cancelReason">The reason sent in Cancel; <see langword="null"/> says the engine's input failed.</param>
    internal void FailLocally(Exception exception, string? cancelReason = null)
    {
        if (!_state.RecordLocalFailure(exception))
        {
            return;
        }

        _reader.FailOutput(exception);
        RequestCancel(cancelReason ?? $"the engine's input failed: {exception.Message}", byCaller: false);
    }

    /// <summary>
    /// Fails Init's task, marked observed: a caller that closed or cancelled the session before
    /// Init completed never awaits it, and its exception must not surface later as an
    /// <see cref="TaskScheduler.UnobservedTaskException"/>. A caller that awaits it still gets it.
    /// </summary>
    internal void FailInit(Exception exception)
    {
        if (_init.TrySetException(exception))
        {
            _ = _init.Task.Exception;
        }
    }

    /// <summary>Settles the held FinishResponse; first wins as always.</summary>
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

    internal void SettleTerminator(bool finished, SessionTerminator terminator)
    {
        var (callbackError, metrics, finishData) = terminator;
        var facts = _state.Facts;
        var prior = facts.PriorError;
        var local = facts.LocalFailure;
        var reason = facts.CancelReason;
        var byCaller = facts.CancelByCaller;
        var cancelRequested = facts.CancelRequested;

        var discarded = _reader.OutputDiscarded;

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

    internal void SettleTransport(TransportFailureReason reason, string message, Exception? cause)
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

    internal void SettleInterrupted(string message)
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
    internal void SettleCancelledLocally(string? why = null)
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

        _watchdog.Stop();
        var telemetry = Volatile.Read(ref _telemetryStarted);
        _writer.StopInput();
        _writer.EndStream();
        if (outcome.Kind == SessionOutcomeKind.Finished)
        {
            _reader.CompleteOutput();
        }
        else
        {
            _reader.FailOutput(outcome.Exception ?? new OperationCanceledException("The session ended."));
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
                    await Task.WhenAll(_writer.Completion, _reader.Completion)
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
