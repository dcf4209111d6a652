using Engine.Client.Diagnostics;
using Engine.Client.Payloads;
using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client;

/// <content>The outbound side: the single writer task and the input pump that feeds it.</content>
public sealed partial class WorkerSession
{
    /// <summary>Bytes a DataRequest adds around a batch: two tags and two length prefixes.</summary>
    private const int DataFramingAllowance = 16;

    /// <summary>
    /// The only code that writes to the request stream. Order on the wire: Init, chunks, data,
    /// Finish, then Cancel when requested; Cancel overtakes queued items, is never written before
    /// Init, and nothing follows it. Half-closes only once the outcome is known, never after an abort.
    /// </summary>
    private async Task WriteLoopAsync(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call)
    {
        var requests = call.RequestStream;
        var queue = _outbound.Reader;
        var what = "Init";
        try
        {
            while (!IsCancelRequested())
            {
                if (!queue.TryRead(out var item))
                {
                    if (await queue.WaitToReadAsync().ConfigureAwait(false))
                    {
                        continue;
                    }

                    break;
                }

                if (IsCancelRequested())
                {
                    Drop(item);
                    break;
                }

                switch (item.Kind)
                {
                    case OutboundKind.Init:
                        what = "Init";
                        await WriteInitAsync(requests, item.Plan!).ConfigureAwait(false);
                        break;

                    case OutboundKind.Data:
                        // Awaited here rather than in a helper: an async helper would allocate its
                        // state machine on every batch that does not complete synchronously.
                        what = "a DataRequest";
                        ProgressWaitStarted();
                        await requests.WriteAsync(item.Message!).ConfigureAwait(false);
                        ProgressWaitEnded();
                        OnDataWritten(item.Message!.Data.Data.Length);
                        break;

                    case OutboundKind.Finish:
                        what = "Finish";
                        if (!await WriteFinishAsync(requests, item.Message!).ConfigureAwait(false))
                        {
                            break;
                        }

                        // Nothing is left to send. Wake on a Cancel request (Cancel may follow
                        // Finish) or on the outcome; both complete the queue.
                        await queue.Completion.ConfigureAwait(false);
                        break;
                }
            }

            what = "Cancel";
            await WriteCancelIfRequestedAsync(requests).ConfigureAwait(false);

            var outcome = await _state.Settled.ConfigureAwait(false);
            what = "the half-close";
            await HalfCloseAsync(requests, outcome).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _ack.Complete(false);
            OnSendFailed(what, ex);
        }
        finally
        {
            _outbound.Writer.TryComplete();
            while (queue.TryRead(out var left))
            {
                Drop(left);
            }
        }
    }

    private async ValueTask WriteInitAsync(IClientStreamWriter<UdfRequest> requests, InitPlan plan)
    {
        lock (_gate)
        {
            if (_cancelRequested)
            {
                return;
            }

            _initWritten = true;
        }

        await requests.WriteAsync(plan.Init).ConfigureAwait(false);
        for (var index = 0; index < plan.ChunkCount; index++)
        {
            // A Cancel may interrupt chunking (docs/protocol.md rule 1).
            if (IsCancelRequested())
            {
                return;
            }

            await requests.WriteAsync(PayloadChunker.Chunk(plan.ChunkedPayload, plan.ChunkSize, index)).ConfigureAwait(false);
        }

        SessionLog.InitSent(_logger, Id, _worker, plan.Init.Control.Init.Udf.HasPayloadSize ? (int)plan.Init.Control.Init.Udf.PayloadSize : plan.Init.Control.Init.Udf.Payload.Length, plan.ChunkCount);
    }

    /// <summary>Counts a written batch and hands the caller's memory back to the input pump.</summary>
    private void OnDataWritten(int length)
    {
        Volatile.Write(ref _batchesSent, _batchesSent + 1);
        Volatile.Write(ref _bytesSent, _bytesSent + length);
        var instruments = _telemetry.Instruments;
        if (instruments.Batches.Enabled)
        {
            instruments.Batches.Add(1, _telemetry.Sent);
            instruments.Bytes.Add(length, _telemetry.Sent);
        }

        _ack.Complete(true);
    }

    private async ValueTask<bool> WriteFinishAsync(IClientStreamWriter<UdfRequest> requests, UdfRequest message)
    {
        lock (_gate)
        {
            if (_cancelRequested)
            {
                return false;
            }

            // Set before the write: a FinishResponse may arrive while the write is still running.
            _finishStarted = true;
        }

        ProgressWaitStarted();
        StartEndActivity("udf.session.finish");
        await requests.WriteAsync(message).ConfigureAwait(false);
        ProgressWaitEnded();
        SessionLog.FinishSent(_logger, Id, _worker, Volatile.Read(ref _batchesSent));
        ArmWatchdog(WatchdogKind.Idle, _options.IdleTimeout);
        return true;
    }

    private async ValueTask WriteCancelIfRequestedAsync(IClientStreamWriter<UdfRequest> requests)
    {
        string? reason;
        lock (_gate)
        {
            if (!_cancelRequested || _state.IsSettled)
            {
                return;
            }

            if (!_initWritten)
            {
                reason = null;
            }
            else
            {
                _cancelWritten = true;
                reason = _cancelReason;
            }
        }

        if (reason is null)
        {
            // Nothing reached the worker: there is nothing to cancel on the wire.
            SettleCancelledLocally();
            return;
        }

        StartEndActivity("udf.session.cancel");
        await requests.WriteAsync(UdfRequests.Cancel(reason)).ConfigureAwait(false);
        SessionLog.CancelSent(_logger, Id, _worker);
    }

    private async ValueTask HalfCloseAsync(IClientStreamWriter<UdfRequest> requests, SessionOutcome outcome)
    {
        if (!outcome.WorkerReusable)
        {
            return;
        }

        lock (_gate)
        {
            if (_aborted || _halfClosed)
            {
                return;
            }

            _halfClosed = true;
        }

        try
        {
            await requests.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException or OperationCanceledException)
        {
            // The worker may end the call as soon as it sent its terminator; the outcome stands.
        }
    }

    private void Drop(in Outbound item)
    {
        if (item.Kind == OutboundKind.Data)
        {
            _ack.Complete(false);
        }
    }

    private bool IsCancelRequested()
    {
        lock (_gate)
        {
            return _cancelRequested;
        }
    }

    /// <summary>
    /// A write failed. A write fails when the worker already ended the call, and then its final
    /// messages (possibly a valid terminator) are still buffered for the reader; so the reader
    /// decides, and a short watchdog settles a transport failure if it cannot.
    /// </summary>
    private void OnSendFailed(string what, Exception exception)
    {
        if (_state.IsSettled)
        {
            return;
        }

        lock (_gate)
        {
            _firstTransportError ??= exception;
            _sendFailure ??= what;
        }

        SessionLog.SendFailed(_logger, Id, _worker, what, exception);
        StopInput();
        ArmWatchdog(WatchdogKind.SendFailure, _options.CancelAcknowledgementTimeout);
    }

    /// <summary>
    /// Feeds the caller's input to the writer, one batch at a time: the next item is requested only
    /// once the previous one was written, so the caller's memory is never used after it moves on.
    /// Then builds and queues Finish.
    /// </summary>
    private async Task PumpInputAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> input, ProcessOptions? options, CancellationToken callerToken)
    {
        var stop = _stopInput.Token;
        IAsyncEnumerator<ReadOnlyMemory<byte>>? items = null;
        try
        {
            items = input.GetAsyncEnumerator(stop);
            long index = 0;
            while (await items.MoveNextAsync().ConfigureAwait(false))
            {
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                var item = items.Current;
                CheckInputItem(item, index);
                var written = _ack.Arm();
                var message = UdfRequests.Data(item);
                if (!_outbound.Writer.TryWrite(new Outbound(OutboundKind.Data, message, null)))
                {
                    _ack.Complete(false);
                    return;
                }

                if (!await written.ConfigureAwait(false))
                {
                    return;
                }

                index++;
            }

            var finish = EmptyFinish;
            if (options?.BuildFinish is { } build)
            {
                var built = await build(stop).ConfigureAwait(false)
                    ?? throw new InvalidOperationException("The finish callback (ProcessOptions.BuildFinish) returned null; it must return the Finish message to send. The session was cancelled instead.");
                finish = UdfRequests.Finish(built);
            }

            if (!stop.IsCancellationRequested && _state.TryAdvance(SessionPhase.Processing, SessionPhase.Finishing))
            {
                _outbound.Writer.TryWrite(new Outbound(OutboundKind.Finish, finish, null));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The session is stopping; its outcome says why.
        }
        catch (OperationCanceledException) when (callerToken.IsCancellationRequested)
        {
            RequestCancel("the caller cancelled processing", byCaller: true);
        }
        catch (Exception ex)
        {
            FailLocally(ex);
        }
        finally
        {
            if (items is not null)
            {
                try
                {
                    await items.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    SessionLog.InputDisposeFailed(_logger, Id, _worker, ex);
                }
            }
        }
    }

    private void CheckInputItem(ReadOnlyMemory<byte> item, long index)
    {
        if (item.IsEmpty)
        {
            throw new ArgumentException(
                $"Input item {index} is empty: every DataRequest carries one batch in the session's data format. Skip empty items before handing them to the session.");
        }

        if (item.Length + DataFramingAllowance > _maxSendMessageSize)
        {
            throw new ArgumentException(
                $"Input item {index} is {item.Length} bytes, over the worker's message limit of {_maxSendMessageSize} bytes. Send smaller batches, or raise {nameof(WorkerClientOptions)}.{nameof(WorkerClientOptions.MaxSendMessageSize)} if the worker accepts more.");
        }
    }

    /// <summary>The engine's own side failed (input source, Finish callback, reading the output): surface it, then cancel.</summary>
    /// <param name="exception">What the consumer sees.</param>
    /// <param name="cancelReason">The reason sent in Cancel; <see langword="null"/> says the engine's input failed.</param>
    private void FailLocally(Exception exception, string? cancelReason = null)
    {
        lock (_gate)
        {
            if (_state.IsSettled)
            {
                return;
            }

            _localFailure ??= exception;
        }

        FailOutput(exception);
        RequestCancel(cancelReason ?? $"the engine's input failed: {exception.Message}", byCaller: false);
    }
}
