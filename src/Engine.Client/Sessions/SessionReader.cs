using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Engine.Client.Diagnostics;
using Engine.Client.Protocol;
using Engine.Client.Transport;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Sessions;

/// <summary>
/// The inbound side of a session: the single read loop and the bounded output buffer it fills.
/// The wire has no request ids: correlation is positional, and whether a response is in order
/// (docs/protocol.md rule 8) the state machine decides.
/// </summary>
internal sealed class SessionReader
{
    /// <summary>
    /// An unset optional bytes field. Not the <c>null</c> literal: in <c>cond ? memory : null</c>
    /// that converts to an empty <see cref="ReadOnlyMemory{T}"/> (through <c>byte[]</c>), which
    /// would report an unset field as set and empty.
    /// </summary>
    private static ReadOnlyMemory<byte>? Unset => null;

    private readonly WorkerSession _session;
    private readonly SessionStateMachine _state;
    private readonly SessionWatchdog _watchdog;
    private readonly TimeProvider _time;
    private readonly Channel<ReadOnlyMemory<byte>> _output;
    private Task _completion = Task.CompletedTask;
    private Exception? _outputFailure;

    // Written by the read loop only; read by snapshots and deadlines.
    private long _batchesReceived;
    private long _bytesReceived;
    private long _lastWorkerMessageTimestamp;
    private long _outputDiscarded;

    public SessionReader(WorkerSession session, SessionStateMachine state, SessionWatchdog watchdog, TimeProvider time, int outputCapacity)
    {
        _session = session;
        _state = state;
        _watchdog = watchdog;
        _time = time;
        _output = Channel.CreateBounded<ReadOnlyMemory<byte>>(
            new BoundedChannelOptions(outputCapacity) { SingleReader = true, SingleWriter = true });
    }

    /// <summary>The output buffer's consumer side.</summary>
    public ChannelReader<ReadOnlyMemory<byte>> Output => _output.Reader;

    /// <summary>Output batches waiting for the consumer.</summary>
    public int BufferedCount => _output.Reader.Count;

    /// <summary>The read loop; completed at the end of the response stream.</summary>
    public Task Completion => _completion;

    /// <summary>Batches received so far.</summary>
    public long BatchesReceived => Volatile.Read(ref _batchesReceived);

    /// <summary>Batch bytes received so far.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>Output batches discarded because nobody would read them (after a Cancel or a failure).</summary>
    public long OutputDiscarded => Volatile.Read(ref _outputDiscarded);

    /// <summary>The <see cref="TimeProvider"/> timestamp of the worker's last message; 0 before the first.</summary>
    public long LastWorkerMessageTimestamp => Volatile.Read(ref _lastWorkerMessageTimestamp);

    /// <summary>Starts the read loop.</summary>
    public void Start(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call) => _completion = ReadLoopAsync(call);

    /// <summary>
    /// Ends the output for its consumer at once (errors overtake buffered batches). Completing the
    /// buffer also releases a read loop blocked on it: from then on it discards output, so the
    /// terminator can arrive.
    /// </summary>
    public void FailOutput(Exception exception)
    {
        if (Interlocked.CompareExchange(ref _outputFailure, exception, null) is null)
        {
            _output.Writer.TryComplete();
        }
    }

    /// <summary>Ends the output after what is buffered.</summary>
    public void CompleteOutput() => _output.Writer.TryComplete();

    /// <summary>Throws the failure that ended the output, if any.</summary>
    public void ThrowIfOutputFailed()
    {
        if (Volatile.Read(ref _outputFailure) is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Reads the response stream to its end; every out-of-order message fails the session at once.</summary>
    private async Task ReadLoopAsync(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call)
    {
        var responses = call.ResponseStream;
        try
        {
            while (await responses.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                var response = responses.Current;
                Volatile.Write(ref _lastWorkerMessageTimestamp, _time.GetTimestamp());
                if (_state.IsTerminated)
                {
                    if (response.ResponseCase != UdfResponse.ResponseOneofCase.Data)
                    {
                        SessionLog.MessageAfterEnd(_session.Logger, _session.Id, _session.Worker, WireText.Name(response));
                    }

                    continue;
                }

                if (response.ResponseCase == UdfResponse.ResponseOneofCase.Data)
                {
                    if (!_state.InitResponded)
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

            if (!_state.IsTerminated)
            {
                Violation("the worker ended the response stream without a terminator (FinishResponse or CancelResponse)");
            }
        }
        catch (Exception ex)
        {
            if (!_state.IsTerminated)
            {
                // A pooled worker may have died: the pool can say how (exit code, signal).
                var explanation = await _session.ExplainStreamFailureAsync().ConfigureAwait(false);
                if (!_state.IsTerminated)
                {
                    OnStreamFailed(ex, explanation);
                }
            }
        }
    }

    private void OnStreamFailed(Exception exception, string? explanation = null)
    {
        var (sendFailure, sendError) = _state.SendFailure;

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

        _session.SettleTransport(reason, message, cause);
    }

    private async ValueTask DeliverAsync(ByteString data)
    {
        Volatile.Write(ref _batchesReceived, _batchesReceived + 1);
        Volatile.Write(ref _bytesReceived, _bytesReceived + data.Length);
        var telemetry = _session.Telemetry;
        var instruments = telemetry.Instruments;
        if (instruments.Batches.Enabled)
        {
            instruments.Batches.Add(1, telemetry.Received);
            instruments.Bytes.Add(data.Length, telemetry.Received);
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
        catch (ChannelClosedException)
        {
            // The output ended (failed, cancelled or abandoned): discard, so the terminator can
            // arrive. Counted: a FinishResponse after discarded output is not a success.
            Interlocked.Increment(ref _outputDiscarded);
            ((IDisposable?)PooledBuffer.Of(memory))?.Dispose();
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
        var decision = _state.OnInitResponse(response.Error is not null, response.HasData ? response.Data.Memory : Unset);
        if (decision == InitResponseDecision.Duplicate)
        {
            Violation("a second InitResponse arrived; Init is answered exactly once");
            return;
        }

        _watchdog.Disarm(WatchdogKind.InitResponse);
        var elapsed = _session.OnInitAnswered();
        switch (decision)
        {
            case InitResponseDecision.Failed:
                var reported = RecordWorkerError(response.Error!, SessionErrorOrigin.Init);
                _session.FailInit(new WorkerExecutionException(reported, null, _session.Diagnostics));
                _session.RequestCancel("the worker's Init failed", byCaller: false);
                break;
            case InitResponseDecision.Accepted:
                SessionLog.InitAccepted(_session.Logger, _session.Id, _session.Worker, elapsed.TotalMilliseconds);
                _session.CompleteInit(new SessionInitResult(response.HasData ? response.Data.Memory : Unset, elapsed));
                break;
            default:
                SessionLog.InitAccepted(_session.Logger, _session.Id, _session.Worker, elapsed.TotalMilliseconds);

                // A Cancel was requested before the worker accepted Init: Init does not succeed.
                _session.FailInit(new OperationCanceledException(
                    $"The session was cancelled before the worker accepted Init ({_state.CancelReason})."));
                break;
        }
    }

    private void OnErrorResponse(ErrorResponse response)
    {
        if (!_state.TryAcceptErrorResponse(out var origin))
        {
            Violation("a second ErrorResponse arrived; the protocol allows at most one per stream");
            return;
        }

        var reported = RecordWorkerError(response.Error ?? new ExecutionError(), origin);
        var exception = new WorkerExecutionException(reported, null, _session.Diagnostics);
        FailOutput(exception);
        _session.FailInit(exception);

        // docs/protocol.md rule 6: after an ErrorResponse the engine must send Cancel.
        _session.RequestCancel("the worker reported an error", byCaller: false);
    }

    private void OnFinishResponse(FinishResponse response)
    {
        // Every batch went out before Finish, so the count sent is final here. A worker that reports
        // fewer received answered before it read all input (or dropped some): never a success.
        var sent = _session.Writer.BatchesSent;
        var batchesIn = response.Metrics is { HasBatchesIn: true } metrics ? metrics.BatchesIn : (ulong?)null;
        var terminator = new SessionTerminator(
            response.Error is { } error ? SessionError.From(error, SessionErrorOrigin.Finish) : null,
            response.Metrics,
            response.HasData ? response.Data.Memory : Unset);
        switch (_state.OnFinishResponse(batchesIn, sent, terminator))
        {
            case FinishResponseDecision.BeforeInitResponse:
                Violation("a FinishResponse arrived before the InitResponse");
                break;
            case FinishResponseDecision.BeforeFinish:
                Violation("a FinishResponse arrived before the engine sent Finish: input not yet sent would be silently dropped");
                break;
            case FinishResponseDecision.InputUnaccounted:
                Violation(string.Create(
                    CultureInfo.InvariantCulture,
                    $"the FinishResponse reports {batchesIn} input batch(es) received, but the engine sent {sent} before Finish: the worker answered before it read all input, or dropped some"));
                break;
            case FinishResponseDecision.HoldUntilOutputRead:
                // Nothing more is expected from the worker: no deadline runs while the consumer
                // reads the rest, and the output ends after it.
                _watchdog.DisarmAll();
                CompleteOutput();
                break;
            default:
                _session.SettleTerminator(finished: true, terminator);
                break;
        }
    }

    private void OnCancelResponse(CancelResponse response)
    {
        if (!_state.AcceptsCancelResponse())
        {
            Violation("a CancelResponse arrived before the InitResponse although no Cancel was sent");
            return;
        }

        var callbackError = response.Error is { } error ? SessionError.From(error, SessionErrorOrigin.Cancel) : null;
        _session.SettleTerminator(finished: false, new SessionTerminator(callbackError, response.Metrics, FinishData: null));
    }

    private SessionError RecordWorkerError(ExecutionError error, SessionErrorOrigin origin)
    {
        var reported = SessionError.From(error, origin);
        _state.RecordWorkerError(reported);
        SessionLog.WorkerError(_session.Logger, _session.Id, _session.Worker, reported);
        return reported;
    }

    private void Violation(string what)
    {
        SessionLog.ProtocolViolation(_session.Logger, _session.Id, _session.Worker, what);
        _session.SettleTransport(TransportFailureReason.ProtocolViolation, $"Protocol violation by the worker: {what}", null);
    }
}
