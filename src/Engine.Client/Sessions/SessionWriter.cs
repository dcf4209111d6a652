using System.Diagnostics.CodeAnalysis;
using Engine.Client.Diagnostics;
using Engine.Client.Payloads;
using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Sessions;

/// <summary>
/// The outbound side of a session. Each write runs on the flow that produces it (Init on
/// <c>InitAsync</c>'s, data and Finish on the input pump's) and holds the write lock for its
/// duration, so one write is in flight at a time; the end-of-stream task takes the same lock to
/// write Cancel and, once the outcome is known, the half-close. What may be written (Init, Finish,
/// Cancel, the half-close) the state machine decides.
/// </summary>
/// <remarks>
/// Writes run where they are produced, not on a loop that they are queued to: no batch is handed
/// to another task, and the lock is free between two batches, so a Cancel goes out while the
/// input is still producing the next one (even when the input blocks its thread). Cancel needs no
/// queue to overtake: a writer checks, holding the lock, that no Cancel was requested before it
/// writes, so the Cancel that waits for the lock is the next and last message.
/// </remarks>
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The input's token source is cancelled, never disposed: callbacks registered on its token (the input's enumerator, the progress deadline) may still run after the session ended, and it owns no timer or wait handle. The write lock's wait handle is never created (AvailableWaitHandle is not used).")]
internal sealed class SessionWriter
{
    /// <summary>Bytes a DataRequest adds around a batch: two tags and two length prefixes.</summary>
    public const int DataFramingAllowance = 16;

    private static readonly UdfRequest EmptyFinish = UdfRequests.Finish();

    private readonly WorkerSession _session;
    private readonly SessionStateMachine _state;
    private readonly SessionWatchdog _watchdog;
    private readonly SessionOptions _options;
    private readonly int _maxSendMessageSize;

    // Held for each write: one write is in flight at a time on the request stream.
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    // Completed when the stream's end may be written: a Cancel was requested, or the outcome is known.
    private readonly TaskCompletionSource _ending = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly CancellationTokenSource _stopInput = new();
    private IClientStreamWriter<UdfRequest>? _requests;
    private Task _completion = Task.CompletedTask;

    // Set by the write that failed: nothing more is written.
    private volatile bool _sendFailed;

    // Written by the input pump only; read by snapshots.
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

    /// <summary>Cancelled when the input must stop: a Cancel was requested, a write failed, or the session ended.</summary>
    public CancellationToken InputStopping => _stopInput.Token;

    /// <summary>The end-of-stream task; completed once it wrote what was left to write (Cancel, the half-close) or found nothing.</summary>
    public Task Completion => _completion;

    /// <summary>Batches written so far.</summary>
    public long BatchesSent => Volatile.Read(ref _batchesSent);

    /// <summary>Batch bytes written so far.</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>
    /// Writes Init (and its chunks) on this thread until the first write that does not complete at
    /// once, and starts the end-of-stream task. Init takes the write lock first, so the Cancel of a
    /// request that raced the start follows it; a Cancel requested before this call means Init is
    /// not written at all and the session settles locally.
    /// </summary>
    public void Start(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call, InitPlan plan)
    {
        var requests = call.RequestStream;
        Volatile.Write(ref _requests, requests);
        _ = WriteInitAsync(requests, plan);
        _completion = EndStreamAsync(requests);
    }

    /// <summary>
    /// Lets the end-of-stream task go on, on the thread pool (never on the caller's thread: a
    /// <see cref="WorkerSession.Cancel"/>, a cancellation callback): a Cancel was requested, or the
    /// session ended.
    /// </summary>
    public void EndStream() => _ending.TrySetResult();

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
    /// Writes the caller's input, one batch at a time on this flow: the next item is requested only
    /// once the previous one was written, so the caller's memory is never used after it moves on.
    /// Then builds and writes Finish.
    /// </summary>
    public async Task PumpInputAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> input, ProcessOptions? options, CancellationToken callerToken)
    {
        var stop = _stopInput.Token;
        IAsyncEnumerator<ReadOnlyMemory<byte>>? items = null;
        try
        {
            // Published by Start before Init can be answered; a worker answering Init before
            // reading it, with ProcessAsync called meanwhile, still fails the session, not the pump.
            var requests = Volatile.Read(ref _requests)
                ?? throw new InvalidOperationException("The input was to be sent before the request stream started: the worker answered Init before it was written.");
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
                var message = UdfRequests.Data(item);

                // Awaited here rather than in a helper: an async helper would allocate its state
                // machine on every batch that does not complete synchronously.
                await _writeLock.WaitAsync(stop).ConfigureAwait(false);
                try
                {
                    if (!MayWriteData())
                    {
                        return;
                    }

                    _watchdog.ProgressWaitStarted();
                    try
                    {
                        await requests.WriteAsync(message, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        OnSendFailed("a DataRequest", ex);
                        return;
                    }

                    _watchdog.ProgressWaitEnded();
                    OnDataWritten(item.Length);
                }
                finally
                {
                    _writeLock.Release();
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

            if (!stop.IsCancellationRequested && _state.Fire(SessionEvent.InputExhausted))
            {
                await WriteFinishAsync(requests, finish, stop).ConfigureAwait(false);
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

    /// <summary>Whether a DataRequest may still be written (holding the write lock): no Cancel requested, no outcome, no failed write.</summary>
    private bool MayWriteData() => !_sendFailed && !_state.IsSettled && !_state.IsCancelRequested;

    /// <summary>
    /// Writes Init and its chunks. The first writer, so the lock is free; a Cancel requested before
    /// leaves Init unwritten (rule 1: Cancel is never written before Init), one requested meanwhile
    /// stops the chunks.
    /// </summary>
    private async Task WriteInitAsync(IClientStreamWriter<UdfRequest> requests, InitPlan plan)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_state.IsSettled || !_state.TryBeginInitWrite())
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
        catch (Exception ex)
        {
            OnSendFailed("Init", ex);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Writes what ends the request stream, in order: Cancel when one was requested (after
    /// whatever write is in flight; nothing follows it), then, once the outcome is known, the
    /// half-close. Holds the lock from the half-close on: nothing is written after it.
    /// </summary>
    private async Task EndStreamAsync(IClientStreamWriter<UdfRequest> requests)
    {
        var what = "Cancel";
        try
        {
            await _ending.Task.ConfigureAwait(false);
            await _writeLock.WaitAsync().ConfigureAwait(false);
            try
            {
                if (!_sendFailed)
                {
                    await WriteCancelIfRequestedAsync(requests).ConfigureAwait(false);
                }
            }
            finally
            {
                _writeLock.Release();
            }

            await _state.Settled.ConfigureAwait(false);
            what = "the half-close";
            await _writeLock.WaitAsync().ConfigureAwait(false);
            if (!_sendFailed)
            {
                await HalfCloseAsync(requests).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            OnSendFailed(what, ex);
        }
    }

    /// <summary>Counts a written batch.</summary>
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
    }

    /// <summary>Writes Finish unless a Cancel overtook it (rule 5: Cancel never precedes Finish) or the session ended.</summary>
    private async ValueTask WriteFinishAsync(IClientStreamWriter<UdfRequest> requests, UdfRequest message, CancellationToken stop)
    {
        await _writeLock.WaitAsync(stop).ConfigureAwait(false);
        try
        {
            if (_sendFailed || _state.IsSettled || !_state.TryBeginFinishWrite())
            {
                return;
            }

            _watchdog.ProgressWaitStarted();
            _session.StartEndActivity("udf.session.finish");
            try
            {
                await requests.WriteAsync(message, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                OnSendFailed("Finish", ex);
                return;
            }

            _watchdog.ProgressWaitEnded();
            SessionLog.FinishSent(_session.Logger, _session.Id, _session.Worker, Volatile.Read(ref _batchesSent));
            _watchdog.Arm(WatchdogKind.Idle, _options.IdleTimeout);
        }
        finally
        {
            _writeLock.Release();
        }
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

        _session.StartEndActivity("udf.session.cancel");
        await requests.WriteAsync(UdfRequests.Cancel(_state.Facts.CancelReason)).ConfigureAwait(false);
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

    /// <summary>
    /// A write failed. A write fails when the worker already ended the call, and then its final
    /// messages (possibly a valid terminator) are still buffered for the reader; so the reader
    /// decides, and a short deadline settles a transport failure if it cannot.
    /// </summary>
    private void OnSendFailed(string what, Exception exception)
    {
        _sendFailed = true;
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
}
