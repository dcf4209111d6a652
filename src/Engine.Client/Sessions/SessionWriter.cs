using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Engine.Client.Diagnostics;
using Engine.Client.Payloads;
using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Sessions;

/// <summary>
/// The outbound side of a session: the bounded queue, the single write loop that owns the request
/// stream, and the input pump that feeds it one batch at a time. What may be written (Init, Finish,
/// Cancel, the half-close) the state machine decides.
/// </summary>
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The input's token source is cancelled, never disposed: callbacks registered on its token (the input's enumerator, the progress deadline) may still run after the session ended, and it owns no timer or wait handle.")]
internal sealed class SessionWriter
{
    /// <summary>Bytes a DataRequest adds around a batch: two tags and two length prefixes.</summary>
    public const int DataFramingAllowance = 16;

    private static readonly UdfRequest EmptyFinish = new() { Control = new UdfControlRequest { Finish = new Finish() } };

    private readonly WorkerSession _session;
    private readonly SessionStateMachine _state;
    private readonly SessionWatchdog _watchdog;
    private readonly SessionOptions _options;
    private readonly int _maxSendMessageSize;

    // Init, one data batch at a time, Finish. Cancel never waits in it: it overtakes.
    private readonly Channel<Outbound> _outbound = Channel.CreateBounded<Outbound>(
        new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = false });

    private readonly WriteAck _ack = new();
    private readonly CancellationTokenSource _stopInput = new();
    private Task _completion = Task.CompletedTask;

    // Written by the write loop only; read by snapshots.
    private long _batchesSent;
    private long _bytesSent;

    public SessionWriter(WorkerSession session, SessionStateMachine state, SessionWatchdog watchdog, SessionOptions options, int maxSendMessageSize)
    {
        _session = session;
        _state = state;
        _watchdog = watchdog;
        _options = options;
        _maxSendMessageSize = maxSendMessageSize;
    }

    private enum OutboundKind
    {
        Init,
        Data,
        Finish,
    }

    /// <summary>Cancelled when the input must stop: a Cancel was requested, a write failed, or the session ended.</summary>
    public CancellationToken InputStopping => _stopInput.Token;

    /// <summary>The write loop; completed when it has nothing more to write.</summary>
    public Task Completion => _completion;

    /// <summary>Batches written so far.</summary>
    public long BatchesSent => Volatile.Read(ref _batchesSent);

    /// <summary>Batch bytes written so far.</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>
    /// Queues Init and starts the write loop. Queued before the loop starts, so the loop finds Init
    /// at once and starts writing it on this thread instead of waking up for it on another. Fails
    /// only when a Cancel that raced the start completed the queue; the loop settles that.
    /// </summary>
    public void Start(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call, InitPlan plan)
    {
        _outbound.Writer.TryWrite(new Outbound(OutboundKind.Init, null, plan));
        _completion = WriteLoopAsync(call);
    }

    /// <summary>Wakes the write loop for good: a Cancel overtakes whatever is queued, or the session ended.</summary>
    public void CompleteQueue() => _outbound.Writer.TryComplete();

    /// <summary>
    /// Stops the input pump. Asynchronously, so that callbacks registered on the input's token do
    /// not run on this thread; a callback that throws faults that task, which is observed here
    /// (it would otherwise surface as an <see cref="TaskScheduler.UnobservedTaskException"/>).
    /// </summary>
    public void StopInput()
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
    /// Feeds the caller's input to the write loop, one batch at a time: the next item is requested
    /// only once the previous one was written, so the caller's memory is never used after it moves
    /// on. Then builds and queues Finish.
    /// </summary>
    public async Task PumpInputAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> input, ProcessOptions? options, CancellationToken callerToken)
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
                var message = new UdfRequest { Data = new DataRequest { Data = UnsafeByteOperations.UnsafeWrap(item) } };
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
                finish = new UdfRequest { Control = new UdfControlRequest { Finish = built } };
            }

            if (!stop.IsCancellationRequested && _state.Fire(SessionEvent.InputExhausted))
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
            _session.RequestCancel("the caller cancelled processing", byCaller: true);
        }
        catch (Exception ex)
        {
            _session.FailLocally(ex);
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
                    SessionLog.InputDisposeFailed(_session.Logger, _session.Id, _session.Worker, ex);
                }
            }
        }
    }

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
            while (!_state.IsCancelRequested)
            {
                if (!queue.TryRead(out var item))
                {
                    if (await queue.WaitToReadAsync().ConfigureAwait(false))
                    {
                        continue;
                    }

                    break;
                }

                if (_state.IsCancelRequested)
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
                        _watchdog.ProgressWaitStarted();
                        await requests.WriteAsync(item.Message!).ConfigureAwait(false);
                        _watchdog.ProgressWaitEnded();
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

            await _state.Settled.ConfigureAwait(false);
            what = "the half-close";
            await HalfCloseAsync(requests).ConfigureAwait(false);
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
        if (!_state.TryBeginInitWrite())
        {
            return;
        }

        await requests.WriteAsync(plan.Init).ConfigureAwait(false);
        for (var index = 0; index < plan.ChunkCount; index++)
        {
            // A Cancel may interrupt chunking (docs/protocol.md rule 1).
            if (_state.IsCancelRequested)
            {
                return;
            }

            await requests.WriteAsync(PayloadChunker.Chunk(plan.ChunkedPayload, plan.ChunkSize, index)).ConfigureAwait(false);
        }

        SessionLog.InitSent(_session.Logger, _session.Id, _session.Worker, plan.PayloadSize, plan.ChunkCount);
    }

    /// <summary>Counts a written batch and hands the caller's memory back to the input pump.</summary>
    private void OnDataWritten(int length)
    {
        Volatile.Write(ref _batchesSent, _batchesSent + 1);
        Volatile.Write(ref _bytesSent, _bytesSent + length);
        var telemetry = _session.Telemetry;
        var instruments = telemetry.Instruments;
        if (instruments.Batches.Enabled)
        {
            instruments.Batches.Add(1, telemetry.Sent);
            instruments.Bytes.Add(length, telemetry.Sent);
        }

        _ack.Complete(true);
    }

    private async ValueTask<bool> WriteFinishAsync(IClientStreamWriter<UdfRequest> requests, UdfRequest message)
    {
        if (!_state.TryBeginFinishWrite())
        {
            return false;
        }

        _watchdog.ProgressWaitStarted();
        _session.StartEndActivity("udf.session.finish");
        await requests.WriteAsync(message).ConfigureAwait(false);
        _watchdog.ProgressWaitEnded();
        SessionLog.FinishSent(_session.Logger, _session.Id, _session.Worker, Volatile.Read(ref _batchesSent));
        _watchdog.Arm(WatchdogKind.Idle, _options.IdleTimeout);
        return true;
    }

    private async ValueTask WriteCancelIfRequestedAsync(IClientStreamWriter<UdfRequest> requests)
    {
        switch (_state.DecideCancelWrite())
        {
            case CancelWriteDecision.None:
                return;
            case CancelWriteDecision.SettleLocally:
                // Nothing reached the worker: there is nothing to cancel on the wire.
                _session.SettleCancelledLocally();
                return;
        }

        var cancel = new Cancel { Reason = _state.Facts.CancelReason };
        _session.StartEndActivity("udf.session.cancel");
        await requests.WriteAsync(new UdfRequest { Control = new UdfControlRequest { Cancel = cancel } }).ConfigureAwait(false);
        SessionLog.CancelSent(_session.Logger, _session.Id, _session.Worker);
    }

    private async ValueTask HalfCloseAsync(IClientStreamWriter<UdfRequest> requests)
    {
        if (!_state.TryHalfClose())
        {
            return;
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

    /// <summary>
    /// A write failed. A write fails when the worker already ended the call, and then its final
    /// messages (possibly a valid terminator) are still buffered for the reader; so the reader
    /// decides, and a short deadline settles a transport failure if it cannot.
    /// </summary>
    private void OnSendFailed(string what, Exception exception)
    {
        if (!_state.RecordSendFailure(what, exception))
        {
            return;
        }

        SessionLog.SendFailed(_session.Logger, _session.Id, _session.Worker, what, exception);
        StopInput();
        _watchdog.Arm(WatchdogKind.SendFailure, _options.CancelAcknowledgementTimeout);
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
                $"Input item {index} is {item.Length} bytes, over the worker's message limit of {_maxSendMessageSize} bytes. Send smaller batches, or raise {nameof(WorkerClientOptions)}.{nameof(WorkerConnectionOptions.MaxSendMessageSize)} if the worker accepts more.");
        }
    }

    private readonly record struct Outbound(OutboundKind Kind, UdfRequest? Message, InitPlan? Plan);
}
