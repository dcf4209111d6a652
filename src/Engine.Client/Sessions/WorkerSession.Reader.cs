using System.Globalization;
using Engine.Client.Diagnostics;
using Engine.Client.Protocol;
using Google.Protobuf;
using Engine.Client.Transport;
using Grpc.Core;

namespace Engine.Client;

/// <content>The inbound side: the single reader task that correlates the worker's responses.</content>
public sealed partial class WorkerSession
{
    /// <summary>
    /// An unset optional bytes field. Not the <c>null</c> literal: in <c>cond ? memory : null</c>
    /// that converts to an empty <see cref="ReadOnlyMemory{T}"/> (through <c>byte[]</c>), which
    /// would report an unset field as set and empty.
    /// </summary>
    private static ReadOnlyMemory<byte>? Unset => null;

    /// <summary>
    /// Reads the response stream to its end. The wire has no request ids: correlation is positional,
    /// and every out-of-order message of docs/protocol.md rule 8 fails the session at once.
    /// </summary>
    private async Task ReadLoopAsync(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call)
    {
        var responses = call.ResponseStream;
        try
        {
            while (await responses.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                var response = responses.Current;
                Volatile.Write(ref _lastWorkerMessageTimestamp, _time.GetTimestamp());
                if (IsTerminated())
                {
                    if (response.ResponseCase != UdfResponse.ResponseOneofCase.Data)
                    {
                        SessionLog.MessageAfterEnd(_logger, Id, _worker, WireText.Name(response));
                    }

                    continue;
                }

                if (response.ResponseCase == UdfResponse.ResponseOneofCase.Data)
                {
                    if (!InitResponded())
                    {
                        Violation("a DataResponse arrived before the InitResponse");
                        continue;
                    }

                    await DeliverAsync(response.Data.Data).ConfigureAwait(false);
                }
                else if (response.ResponseCase == UdfResponse.ResponseOneofCase.Control)
                {
                    OnControl(response.Control);
                }
                else if (WireMethods.ParseErrorOf(response) is { } parseError)
                {
                    Violation($"the worker sent bytes that are not a valid UdfResponse message ({parseError})");
                }
                else
                {
                    Violation("the worker sent a UdfResponse with no branch of its oneof set (neither control nor data)");
                }
            }

            if (!IsTerminated())
            {
                Violation("the worker ended the response stream without a terminator (FinishResponse or CancelResponse)");
            }
        }
        catch (Exception ex)
        {
            if (!IsTerminated())
            {
                // A pooled worker may have died: the pool can say how (exit code, signal).
                var explanation = _lease is null ? null : await ExplainStreamFailureAsync().ConfigureAwait(false);
                if (!IsTerminated())
                {
                    OnStreamFailed(ex, explanation);
                }
            }
        }
    }

    private async ValueTask<string?> ExplainStreamFailureAsync()
    {
        try
        {
            return await _lease!.ExplainStreamFailureAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SessionLog.ReleaseHookFailed(_logger, Id, _worker, ex);
            return null;
        }
    }

    /// <summary>The Execute call could not even start (its channel was disposed, say): say why, as for a broken stream.</summary>
    private async Task FailToStartAsync(Exception exception)
    {
        var explanation = _lease is null ? null : await ExplainStreamFailureAsync().ConfigureAwait(false);
        SettleTransport(
            explanation is null ? TransportFailureReason.Rpc : TransportFailureReason.WorkerLost,
            explanation is null ? "opening the Execute stream failed" : $"{explanation}; opening the Execute stream failed",
            exception);
    }

    private void OnStreamFailed(Exception exception, string? explanation = null)
    {
        string? sendFailure;
        Exception? sendError;
        lock (_gate)
        {
            sendFailure = _sendFailure;
            sendError = _firstTransportError;
        }

        // The worker's own status says more than a write that failed because of it; a bare
        // cancellation on the read side says less than the send failure that came first.
        var readSaysMore = exception is RpcException { StatusCode: not StatusCode.Cancelled } || sendError is null;
        var cause = readSaysMore ? exception : sendError!;
        var reason = TransportErrors.IsUnreachable(cause) ? TransportFailureReason.Unreachable
            : readSaysMore ? TransportFailureReason.Rpc
            : TransportFailureReason.SendFailed;
        var message = reason switch
        {
            TransportFailureReason.Unreachable => "the worker is unreachable",
            TransportFailureReason.SendFailed => $"sending {sendFailure} failed",
            _ => "the Execute stream failed",
        };
        if (explanation is not null)
        {
            reason = TransportFailureReason.WorkerLost;
            message = $"{explanation}; {message}";
        }

        SettleTransport(reason, message, cause);
    }

    private async ValueTask DeliverAsync(ByteString data)
    {
        Volatile.Write(ref _batchesReceived, _batchesReceived + 1);
        Volatile.Write(ref _bytesReceived, _bytesReceived + data.Length);
        var instruments = _telemetry.Instruments;
        if (instruments.Batches.Enabled)
        {
            instruments.Batches.Add(1, _telemetry.Received);
            instruments.Bytes.Add(data.Length, _telemetry.Received);
        }

        // ByteString.Memory is the parsed message's own buffer: handed out without a copy.
        var memory = data.Memory;
        if (_output.Writer.TryWrite(memory))
        {
            return;
        }

        try
        {
            // Backpressure: while the consumer is behind, stop reading; HTTP/2 flow control then
            // stops the worker.
            await _output.Writer.WriteAsync(memory).ConfigureAwait(false);
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // The output ended (failed, cancelled or abandoned): discard, so the terminator can
            // arrive. Counted: a FinishResponse after discarded output is not a success.
            Interlocked.Increment(ref _outputDiscarded);
        }
    }

    private void OnControl(UdfControlResponse control)
    {
        switch (control.ControlCase)
        {
            case UdfControlResponse.ControlOneofCase.Init:
                OnInitResponse(control.Init);
                break;
            case UdfControlResponse.ControlOneofCase.Error:
                OnErrorResponse(control.Error);
                break;
            case UdfControlResponse.ControlOneofCase.Finish:
                OnFinishResponse(control.Finish);
                break;
            case UdfControlResponse.ControlOneofCase.Cancel:
                OnCancelResponse(control.Cancel);
                break;
            default:
                Violation("the worker sent a UdfControlResponse with no branch of its oneof set");
                break;
        }
    }

    private void OnInitResponse(InitResponse response)
    {
        bool duplicate;
        lock (_gate)
        {
            duplicate = _initResponded;
            _initResponded = true;
            if (!duplicate && response.Error is null && response.HasData)
            {
                _initData = response.Data.Memory;
            }
        }

        if (duplicate)
        {
            Violation("a second InitResponse arrived; Init is answered exactly once");
            return;
        }

        DisarmWatchdog(WatchdogKind.InitResponse);
        var elapsed = _time.GetElapsedTime(_startTimestamp);
        _telemetry.Instruments.InitDuration.Record(elapsed.TotalSeconds, _telemetry.PoolOnly);
        Interlocked.Exchange(ref _initActivity, null)?.Dispose();

        if (response.Error is { } error)
        {
            var reported = RecordWorkerError(error, SessionErrorOrigin.Init);
            var exception = new WorkerExecutionException(reported, null, Snapshot());
            FailInit(exception);
            RequestCancel("the worker's Init failed", byCaller: false);
            return;
        }

        SessionLog.InitAccepted(_logger, Id, _worker, elapsed.TotalMilliseconds);
        if (_state.TryAdvance(SessionPhase.Initializing, SessionPhase.Ready))
        {
            _init.TrySetResult(new SessionInitResult(response.HasData ? response.Data.Memory : Unset, elapsed));
        }
        else
        {
            // A Cancel was requested before the worker accepted Init: Init does not succeed.
            FailInit(new OperationCanceledException(
                $"The session was cancelled before the worker accepted Init ({CancelReason()})."));
        }
    }

    private void OnErrorResponse(ErrorResponse response)
    {
        bool duplicate, initResponded;
        lock (_gate)
        {
            duplicate = _errorReceived;
            _errorReceived = true;
            initResponded = _initResponded;
        }

        if (duplicate)
        {
            Violation("a second ErrorResponse arrived; the protocol allows at most one per stream");
            return;
        }

        var reported = RecordWorkerError(response.Error ?? new ExecutionError(), initResponded ? SessionErrorOrigin.Data : SessionErrorOrigin.Init);
        var exception = new WorkerExecutionException(reported, null, Snapshot());
        FailOutput(exception);
        FailInit(exception);

        // docs/protocol.md rule 6: after an ErrorResponse the engine must send Cancel.
        RequestCancel("the worker reported an error", byCaller: false);
    }

    private void OnFinishResponse(FinishResponse response)
    {
        bool initResponded, finishStarted;
        lock (_gate)
        {
            initResponded = _initResponded;
            finishStarted = _finishStarted;
        }

        if (!initResponded)
        {
            Violation("a FinishResponse arrived before the InitResponse");
            return;
        }

        if (!finishStarted)
        {
            Violation("a FinishResponse arrived before the engine sent Finish: input not yet sent would be silently dropped");
            return;
        }

        // Every batch went out before Finish, so the count sent is final here. A worker that reports
        // fewer received answered before it read all input (or dropped some): never a success.
        var sent = Volatile.Read(ref _batchesSent);
        if (response.Metrics is { HasBatchesIn: true } metrics && metrics.BatchesIn < (ulong)sent)
        {
            Violation(string.Create(
                CultureInfo.InvariantCulture,
                $"the FinishResponse reports {metrics.BatchesIn} input batch(es) received, but the engine sent {sent} before Finish: the worker answered before it read all input, or dropped some"));
            return;
        }

        var callbackError = response.Error is { } error ? SessionError.From(error, SessionErrorOrigin.Finish) : null;
        var finishData = response.HasData ? response.Data.Memory : Unset;
        if (!TryDeferFinish(callbackError, response.Metrics, finishData))
        {
            SettleTerminator(finished: true, callbackError, response.Metrics, finishData);
        }
    }

    private void OnCancelResponse(CancelResponse response)
    {
        bool initResponded, cancelWritten;
        lock (_gate)
        {
            initResponded = _initResponded;

            // Decided by what went on the wire, not by what was requested: a Cancel requested but
            // not yet written cannot have been answered (the same rule as Finish above).
            cancelWritten = _cancelWritten;
        }

        if (!initResponded && !cancelWritten)
        {
            Violation("a CancelResponse arrived before the InitResponse although no Cancel was sent");
            return;
        }

        var callbackError = response.Error is { } error ? SessionError.From(error, SessionErrorOrigin.Cancel) : null;
        SettleTerminator(finished: false, callbackError, response.Metrics, finishData: null);
    }

    private SessionError RecordWorkerError(ExecutionError error, SessionErrorOrigin origin)
    {
        var reported = SessionError.From(error, origin);
        lock (_gate)
        {
            _priorError ??= reported;
        }

        SessionLog.WorkerError(_logger, Id, _worker, reported);
        return reported;
    }

    /// <summary>Whether the outcome is settled or a FinishResponse is held for the consumer: nothing more is expected from the worker.</summary>
    private bool IsTerminated() => _state.IsSettled || Volatile.Read(ref _pendingFinish) is not null;

    private bool InitResponded()
    {
        lock (_gate)
        {
            return _initResponded;
        }
    }

    private void Violation(string what)
    {
        SessionLog.ProtocolViolation(_logger, Id, _worker, what);
        SettleTransport(TransportFailureReason.ProtocolViolation, $"Protocol violation by the worker: {what}", null);
    }

}
