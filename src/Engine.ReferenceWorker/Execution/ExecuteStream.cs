using Engine.Client.Protocol;
using Engine.ReferenceWorker.Management;
using Engine.ReferenceWorker.Udfs;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Engine.ReferenceWorker.Execution;

/// <summary>
/// One Execute call: the worker side of docs/protocol.md "Rules of one Execute stream" as a state
/// machine (<see cref="StreamState"/>). A <see cref="RequestReader"/> task reads the engine's
/// messages, this loop handles them one at a time in the current state (calling the UDF's
/// hooks), and a <see cref="ResponseWriter"/> task writes every response, so input and output
/// run full duplex. The handler files: this one (lifecycle and loop),
/// <c>ExecuteStream.Handshake.cs</c> (Init and chunks), <c>ExecuteStream.Processing.cs</c> (data
/// phase and termination), <c>ExecuteStream.UdfPort.cs</c> (what the UDF sees).
/// </summary>
internal sealed partial class ExecuteStream : IDisposable
{
    private static long s_nextId;

    private readonly ServerCallContext _context;
    private readonly UdfRegistry _udfs;
    private readonly WorkerStats _stats;
    private readonly ExecuteSettings _settings;
    private readonly ILogger _logger;
    private readonly StreamMetrics _metrics;
    private readonly RequestReader _reader;
    private readonly ResponseWriter _writer;

    // Cancelled when the reader sees the engine's Cancel: stops in-flight UDF work ahead of the queue.
    private readonly CancellationTokenSource _cancelSeen = new();

    // Cancelled by a worker shutdown (Manage Shutdown with cancel_sessions, or the host stopping).
    private readonly CancellationTokenSource _shutdown = new();

    // Stops the loop's wait for input: shutdown or the call breaking.
    private readonly CancellationTokenSource _interrupt;

    // The token of UDF hooks: any reason to stop working.
    private readonly CancellationTokenSource _work;

    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly UdfPort _port;

    private StreamState _state = StreamState.AwaitingInit;
    private CancellationTokenSource? _grace;
    private string? _shutdownReason;
    private Status? _failStatus;
    private Udf? _udf;
    private bool _udfStarted;
    private bool _cancelHookRan;
    private bool _errorReported;
    private bool _finished;
    private bool _inputEnded;
    private bool _shutdownHandled;

    public ExecuteStream(
        IAsyncStreamReader<UdfRequest> requests,
        IServerStreamWriter<UdfResponse> responses,
        ServerCallContext context,
        UdfRegistry udfs,
        WorkerStats stats,
        ExecuteSettings settings,
        ILogger logger)
    {
        Id = Interlocked.Increment(ref s_nextId);
        _context = context;
        _udfs = udfs;
        _stats = stats;
        _settings = settings;
        _logger = logger;
        _metrics = new StreamMetrics(stats);
        _reader = new RequestReader(requests, _metrics, () => _cancelSeen.Cancel());
        _writer = new ResponseWriter(responses, _metrics, settings.OutputBufferBytes);
        _interrupt = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _shutdown.Token);
        _work = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _shutdown.Token, _cancelSeen.Token);
        _port = new UdfPort(this);
    }

    /// <summary>A process-wide number, for logs.</summary>
    public long Id { get; }

    /// <summary>Completes when the handler is done: terminator written (or the call broken) and nothing pending.</summary>
    public Task Ended => _ended.Task;

    /// <summary>Completes once the stream's terminator was written, or the stream ended without one.</summary>
    public Task Settled => _settled.Task;

    /// <summary>
    /// Cancels the stream on the worker's initiative (docs/protocol.md, Manage rules): it sends
    /// <c>ErrorResponse(WorkerError)</c> and <c>CancelResponse</c> unless it already settled.
    /// Safe from any thread, any number of times.
    /// </summary>
    public void RequestShutdown(string reason)
    {
        Interlocked.CompareExchange(ref _shutdownReason, reason, null);
        try
        {
            // Asynchronously: the stream's loop must not resume on the caller's thread (a Manage
            // call cancelling every stream in turn).
            _ = _shutdown.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // The stream already ended.
        }
    }

    /// <summary>Runs the stream to its end. Throws <see cref="RpcException"/> only when a fault asks for a status error.</summary>
    public async Task RunAsync()
    {
        _stats.SessionStarted();
        WorkerLog.StreamStarted(_logger, Id, _context.Peer);
        _writer.Start();
        _reader.Start();
        try
        {
            await LoopAsync().ConfigureAwait(false);
        }
        finally
        {
            await _reader.StopAsync().ConfigureAwait(false);
            await DrainWriterAsync().ConfigureAwait(false);
            if (_udf is not null)
            {
                await DisposeUdfAsync(_udf).ConfigureAwait(false);
            }

            if (_finished)
            {
                _stats.SessionFinished();
            }
            else
            {
                _stats.SessionCancelled();
            }

            WorkerLog.StreamEnded(_logger, Id, _finished ? "finished" : "cancelled", _failStatus?.StatusCode.ToString() ?? "OK");
            _settled.TrySetResult();
            _ended.TrySetResult();
        }

        if (_failStatus is { } status)
        {
            throw new RpcException(status);
        }
    }

    /// <summary>
    /// Lets the writer send what is queued. An engine that stopped reading would hold a write
    /// (and with it the handler, a Shutdown and the process exit) forever, so after the grace the
    /// call is aborted, which fails the pending write.
    /// </summary>
    private async Task DrainWriterAsync()
    {
        var drained = _writer.CompleteAsync();
        try
        {
            await drained.WaitAsync(_settings.TerminatorGrace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            WorkerLog.StreamAborted(_logger, Id, _settings.TerminatorGrace.TotalMilliseconds);
            _context.GetHttpContext().Abort();
            await drained.ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _grace?.Dispose();
        _interrupt.Dispose();
        _work.Dispose();
        _cancelSeen.Dispose();
        _shutdown.Dispose();
    }

    private async Task LoopAsync()
    {
        while (_state != StreamState.Ended)
        {
            if (_shutdown.IsCancellationRequested && !_shutdownHandled)
            {
                _shutdownHandled = true;
                await ShutDownAsync().ConfigureAwait(false);
                continue;
            }

            StreamInput input;
            try
            {
                var token = _state == StreamState.Terminated ? _grace!.Token : _interrupt.Token;
                input = await _reader.ReadAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                if (_shutdown.IsCancellationRequested && !_shutdownHandled)
                {
                    continue;
                }

                if (_context.CancellationToken.IsCancellationRequested)
                {
                    await OnBrokenAsync(new OperationCanceledException("The call was cancelled.")).ConfigureAwait(false);
                }
                else
                {
                    // The terminator grace ran out: the engine never half-closed; end the call anyway.
                    _state = StreamState.Ended;
                }

                continue;
            }

            if (input.Kind == StreamInputKind.Broken)
            {
                await OnBrokenAsync(input.Error!).ConfigureAwait(false);
                continue;
            }

            _inputEnded |= input.Kind == StreamInputKind.End;
            await DispatchAsync(input).ConfigureAwait(false);
            if (_state == StreamState.Terminated && _inputEnded)
            {
                // The half-close that counted as Cancel already came: nothing left to wait for.
                _state = StreamState.Ended;
            }
        }
    }

    private async ValueTask DispatchAsync(StreamInput input)
    {
        switch (_state)
        {
            case StreamState.AwaitingInit:
                await OnAwaitingInitAsync(input).ConfigureAwait(false);
                break;
            case StreamState.Chunking:
                await OnChunkingAsync(input).ConfigureAwait(false);
                break;
            case StreamState.DataPhase:
                await OnDataPhaseAsync(input).ConfigureAwait(false);
                break;
            case StreamState.AwaitingCancel:
                await OnAwaitingCancelAsync(input).ConfigureAwait(false);
                break;
            case StreamState.Terminated:
                OnTerminated(input);
                break;
            default:
                // Unresponsive (a fault made the stream deaf on purpose): everything is ignored
                // until the engine breaks the call.
                break;
        }
    }

    /// <summary>docs/protocol.md rule 10: a broken stream is a Cancel nobody can answer.</summary>
    private async ValueTask OnBrokenAsync(Exception error)
    {
        WorkerLog.StreamBroken(_logger, Id, _state.ToString(), error.Message);
        if (_state is not (StreamState.Terminated or StreamState.Unresponsive))
        {
            await RunCancelHookAsync("the stream broke", CancellationToken.None).ConfigureAwait(false);
            _override = StreamOverride.None;
        }

        // A failure the gRPC layer raised while the call is still up (a message above the size
        // limit, a malformed message) is reported to the engine with its status, as gRPC would.
        if (error is RpcException rpc && !_context.CancellationToken.IsCancellationRequested)
        {
            _failStatus = rpc.Status;
        }

        _state = StreamState.Ended;
    }

    /// <summary>
    /// Worker-initiated cancel: ErrorResponse(WorkerError) + CancelResponse. The stream then waits,
    /// as after any terminator, for the engine to half-close (bounded by the grace): ending the
    /// call first could make the connection close under responses the engine has not read yet.
    /// </summary>
    private async ValueTask ShutDownAsync()
    {
        if (_state is StreamState.Terminated or StreamState.Ended)
        {
            return;
        }

        var reason = "worker is shutting down: " + _shutdownReason;
        await RunCancelHookAsync(reason, CancellationToken.None).ConfigureAwait(false);
        _override = StreamOverride.None;

        // At most one error per stream: when one already went out it stands as the reason.
        if (!_errorReported)
        {
            _writer.Send(UdfResponses.Error(ExecutionErrors.Worker(reason)));
        }

        SendTerminator(UdfResponses.Cancel(_metrics.Snapshot()), finished: false);
    }

    /// <summary>The one terminator: after it nothing is sent, and the call ends when the engine half-closes or the grace runs out.</summary>
    private void SendTerminator(UdfResponse terminator, bool finished)
    {
        _writer.Send(terminator, _settled);
        _finished = finished;
        EnterTerminated();
    }

    private void EnterTerminated()
    {
        _state = StreamState.Terminated;
        // Not linked to the shutdown: a stream cancelled by a shutdown still waits for the half-close.
        _grace = CancellationTokenSource.CreateLinkedTokenSource(_context.CancellationToken);
        _grace.CancelAfter(_settings.TerminatorGrace);
    }

    /// <summary>An error during init: InitResponse.error, then only the engine's Cancel is answered (rule 6).</summary>
    private void SendInitError(ExecutionError error)
    {
        LogError(error);
        _writer.Send(UdfResponses.InitError(error));
        _errorReported = true;
        _state = StreamState.AwaitingCancel;
    }

    /// <summary>A data-phase error: ErrorResponse, then only the engine's Cancel is answered (rule 6).</summary>
    private void SendError(ExecutionError error)
    {
        LogError(error);
        _writer.Send(UdfResponses.Error(error));
        _errorReported = true;
        _state = StreamState.AwaitingCancel;
    }

    private void LogError(ExecutionError error)
    {
        if (error.KindCase == ExecutionError.KindOneofCase.Protocol)
        {
            WorkerLog.ProtocolViolation(_logger, Id, error.Protocol.Message);
        }
        else
        {
            WorkerLog.UdfError(_logger, Id, WireText.Describe(error));
        }
    }

    private async ValueTask DisposeUdfAsync(Udf udf)
    {
        try
        {
            await udf.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            WorkerLog.UdfError(_logger, Id, "dispose failed: " + ex.Message);
        }
    }
}
