using System.Diagnostics;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using Engine.Client.Arrow;
using Engine.Client.Diagnostics;
using Engine.Client.Payloads;
using Engine.Client.Protocol;
using Engine.Client.Sessions;
using Engine.Client.Transport;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Engine.Client;

/// <summary>
/// One UDF execution on a worker: one bidirectional <c>Execute</c> stream, driven through
/// <see cref="InitAsync"/>, <see cref="ProcessAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, CancellationToken)"/>
/// and <see cref="CloseAsync"/>.
/// </summary>
/// <remarks>
/// <para>
/// Shape: a façade over four collaborators, each owning its own fields. The state machine owns
/// every protocol fact and decides (whether to write Cancel, whether a response is in order,
/// whether a terminator settles now); the writer's lock owns the request stream (Init, payload
/// chunks, data, Finish, Cancel and the half-close each hold it, one write in flight at a time,
/// written on the flow that produces it) and its input pump writes the input;
/// the reader's single task reads the response stream into a bounded output buffer; the watchdog
/// runs the deadlines. The outcome is settled once: the first terminal wins and wakes every waiter.
/// </para>
/// <para>
/// Thread safety: <see cref="CloseAsync"/>, <see cref="Cancel"/> and <see cref="DisposeAsync"/> may
/// be called from any thread at any time, also concurrently. <see cref="InitAsync"/> and
/// <see cref="ProcessAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, CancellationToken)"/> are called
/// once each, in that order.
/// </para>
/// </remarks>
public sealed partial class WorkerSession : IAsyncDisposable
{
    private static long s_lastSessionId;

    // One logger per factory, not one per session: creating one costs a type-name string, a lookup
    // under the factory's lock and a wrapper, on every short session.
    private static readonly ConditionalWeakTable<ILoggerFactory, ILogger> s_loggers = [];

    private readonly string _workerName;
    private readonly CallInvoker _invoker;
    private readonly SessionOptions _options;
    private readonly int _maxSendMessageSize;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ISessionLease? _lease;
    private readonly SessionStateMachine _state = new();
    private readonly SessionWatchdog _watchdog;
    private readonly SessionWriter _writer;
    private readonly SessionReader _reader;
    private readonly TaskCompletionSource<SessionInitResult> _init = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SessionTelemetry _telemetry;

    private AsyncDuplexStreamingCall<UdfRequest, UdfResponse>? _call;
    private TaskCompletionSource<SessionOutcome>? _close;
    private Activity? _activity;
    private Activity? _initActivity;
    private Activity? _endActivity;
    private ArrowSessionLayer? _arrow;
    private int _released;
    private int _processStarted;
    private long _startTimestamp;
    private bool _telemetryStarted;

    internal WorkerSession(
        CallInvoker invoker,
        string worker,
        SessionOptions options,
        int maxSendMessageSize,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        ISessionLease? lease = null,
        SessionTelemetry? telemetry = null)
    {
        ArgumentNullException.ThrowIfNull(invoker);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(maxSendMessageSize);

        _invoker = invoker;
        _workerName = worker;
        _options = options.Clone();
        _maxSendMessageSize = maxSendMessageSize;
        _time = timeProvider;
        _logger = s_loggers.GetValue(loggerFactory, static factory => factory.CreateLogger<WorkerSession>());
        _lease = lease;
        _telemetry = telemetry ?? SessionTelemetry.Default;
        _activity = _telemetry.Started;
        Id = Interlocked.Increment(ref s_lastSessionId);
        _watchdog = new SessionWatchdog(this, _state, _time, _options);
        _writer = new SessionWriter(this, _state, _watchdog, _options, maxSendMessageSize);
        _reader = new SessionReader(this, _state, _watchdog, _time, _options.OutputBufferCapacity);
    }

    /// <summary>Process-unique number of this session, used in logs, traces and errors.</summary>
    public long Id { get; }

    /// <summary>
    /// The worker this session runs on. In a fleet it names the worker of the latest attempt: a
    /// session retried before its first DataRequest moves to another worker.
    /// </summary>
    public string Worker => _worker;

    /// <summary>The worker of the current attempt (a fleet's lease may move the session before it commits).</summary>
    private string _worker => _lease?.CurrentWorker ?? _workerName;

    /// <summary>The current phase.</summary>
    public SessionPhase Phase => _state.Phase;

    /// <summary>The settled outcome.</summary>
    /// <exception cref="InvalidOperationException">The session has not ended yet; await <see cref="CloseAsync"/>.</exception>
    public SessionOutcome Outcome => _state.Outcome;

    /// <summary>Whether the session has ended; then <see cref="Outcome"/> is available.</summary>
    public bool HasEnded => _state.IsSettled;

    /// <summary>A snapshot of what is in flight now.</summary>
    public SessionDiagnostics Diagnostics => Snapshot();

    /// <summary>
    /// Sends Init (chunking the payload when it would not fit the worker's message limit) and waits
    /// for the worker's InitResponse.
    /// </summary>
    /// <returns>The worker's InitResponse data.</returns>
    /// <exception cref="ArgumentException">The Init is invalid; nothing was sent.</exception>
    /// <exception cref="InvalidOperationException">Init was already called, or the session ended.</exception>
    /// <exception cref="WorkerExecutionException">The worker rejected Init; Cancel was sent.</exception>
    /// <exception cref="WorkerTransportException">The stream failed, timed out or the worker broke the protocol.</exception>
    /// <exception cref="OperationCanceledException">The caller cancelled (Cancel was sent), or the session was closed meanwhile.</exception>
    public async Task<SessionInitResult> InitAsync(SessionInit init, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(init);
        ThrowIfEnded("InitAsync");
        var plan = init.BuildPlan(_maxSendMessageSize, _options.EffectiveChunkSize(_maxSendMessageSize));
        cancellationToken.ThrowIfCancellationRequested();
        if (!_state.Fire(SessionEvent.InitCalled))
        {
            ThrowIfEnded("InitAsync");
            if (_state.Phase == SessionPhase.Cancelling)
            {
                throw new InvalidOperationException("InitAsync was called after the session was closed. Open a new session.");
            }

            throw new InvalidOperationException("InitAsync was already called on this session: Init is sent exactly once per session.");
        }

        _startTimestamp = _time.GetTimestamp();
        if (init.InputSchema is not null || init.OutputSchema is not null)
        {
            _arrow = NewArrowLayer(init.InputSchema, init.OutputSchema);
        }
        StartTelemetry(init);

        // Armed before the call starts: the InitResponse may be handled before StartCall returns,
        // and its arrival must find the deadline there to disarm.
        _watchdog.Arm(WatchdogKind.InitResponse, _options.InitResponseTimeout);
        if (!StartCall(plan))
        {
            return await _init.Task.ConfigureAwait(false);
        }

        using var registration = cancellationToken.UnsafeRegister(
            static state => ((WorkerSession)state!).RequestCancel("the caller cancelled Init", byCaller: true), this);
        try
        {
            return await _init.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            RequestCancel("the caller cancelled Init", byCaller: true);
            throw;
        }
    }

    /// <summary>
    /// Streams <paramref name="input"/> to the worker and its output back, full duplex, then sends
    /// Finish. Enumerate the result to drive the session; it ends when the worker's FinishResponse
    /// arrives.
    /// </summary>
    /// <param name="input">
    /// The input batches in the session's data format. Each item's memory is sent without copying
    /// and is no longer used once the session asks for the next item. Items must not be empty.
    /// </param>
    /// <param name="cancellationToken">Cancels the session: Cancel is sent and the enumeration throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The output batches. Each item's memory stays valid after enumeration moves on.</returns>
    /// <exception cref="InvalidOperationException">Init has not succeeded, processing already started, or the session ended.</exception>
    public IAsyncEnumerable<ReadOnlyMemory<byte>> ProcessAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> input, CancellationToken cancellationToken = default) =>
        ProcessAsync(input, options: null, cancellationToken);

    /// <inheritdoc cref="ProcessAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, CancellationToken)"/>
    /// <param name="input">The input batches; see the other overload.</param>
    /// <param name="options">Per-call options, such as the Finish callback; <see langword="null"/> for defaults.</param>
    /// <param name="cancellationToken">Cancels the session.</param>
    public IAsyncEnumerable<ReadOnlyMemory<byte>> ProcessAsync(
        IAsyncEnumerable<ReadOnlyMemory<byte>> input,
        ProcessOptions? options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        switch (_state.Phase)
        {
            case SessionPhase.Created:
                throw new InvalidOperationException("ProcessAsync was called before InitAsync: the worker must accept Init before any data is sent.");
            case SessionPhase.Initializing:
                throw new InvalidOperationException("ProcessAsync was called while Init is still in progress: await InitAsync first.");
        }

        if (!_init.Task.IsCompletedSuccessfully)
        {
            ThrowIfEnded("ProcessAsync");
            throw new InvalidOperationException("ProcessAsync was called although Init did not succeed. Open a new session.");
        }

        if (Interlocked.Exchange(ref _processStarted, 1) != 0)
        {
            throw new InvalidOperationException("ProcessAsync was already called on this session: a session processes one input stream.");
        }

        // Init succeeded. If the session failed since (an ErrorResponse right after the
        // InitResponse, say), the enumeration surfaces that failure.
        _state.Fire(SessionEvent.ProcessCalled);
        return ReadOutputAsync(input, options, cancellationToken);
    }

    /// <summary>
    /// <see cref="ProcessAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, ProcessOptions?, CancellationToken)"/>
    /// with output the caller owns and returns: each batch is a <see cref="PooledOutput"/> whose
    /// <see cref="PooledOutput.Dispose"/> gives its buffer back for a later batch, so a long session
    /// allocates no array per batch. Open the session with <see cref="SessionOptions.PooledOutput"/>
    /// for that; without it the batches are the received messages' own arrays and disposing only
    /// ends access to them.
    /// </summary>
    /// <param name="input">The input batches; see <see cref="ProcessAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, CancellationToken)"/>.</param>
    /// <param name="options">Per-call options, such as the Finish callback; <see langword="null"/> for defaults.</param>
    /// <param name="cancellationToken">Cancels the session: Cancel is sent and the enumeration throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>
    /// The output batches. The caller owns each one from the moment it is yielded, also after the
    /// enumeration moves on, and should dispose it once done; reading a disposed batch throws
    /// <see cref="ObjectDisposedException"/>.
    /// </returns>
    /// <exception cref="InvalidOperationException">Init has not succeeded, processing already started, or the session ended.</exception>
    public IAsyncEnumerable<PooledOutput> ProcessPooledAsync(
        IAsyncEnumerable<ReadOnlyMemory<byte>> input,
        ProcessOptions? options = null,
        CancellationToken cancellationToken = default) =>
        OwnedAsync(ProcessAsync(input, options, cancellationToken));

    private static async IAsyncEnumerable<PooledOutput> OwnedAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> output)
    {
        await foreach (var batch in output.ConfigureAwait(false))
        {
            yield return new PooledOutput(PooledBuffer.Adopt(batch));
        }
    }

    /// <summary>
    /// Streams Arrow record batches to the worker and its output batches back, full duplex, then
    /// sends Finish. Enumerate the result to drive the session; it ends when the worker's
    /// FinishResponse arrives.
    /// </summary>
    /// <param name="input">
    /// The input batches. Each one is encoded as one Arrow IPC stream per DataRequest, split by
    /// rows into several DataRequests when it would not fit the worker's message limit
    /// (<see cref="WorkerConnectionOptions.MaxSendMessageSize"/>). The caller keeps owning every input
    /// batch: the session is done with a batch once it asks for the next one, so the source may
    /// dispose it then, never before.
    /// </param>
    /// <param name="cancellationToken">Cancels the session: Cancel is sent and the enumeration throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>
    /// The output batches, read without copying: their buffers point into the received message,
    /// which the batch keeps alive. The caller owns each batch; it stays valid after the
    /// enumeration moves on, and disposing it is optional (its memory is managed).
    /// </returns>
    /// <remarks>
    /// <para>
    /// Input batches are checked before anything of them is sent: a null batch, a batch whose
    /// memory was released by <see cref="RecordBatch.Dispose()"/>, or a batch whose schema differs
    /// from the session's input schema (<see cref="SessionInit.InputSchema"/>, else the first
    /// batch's) ends the session: the enumeration throws <see cref="ArgumentException"/> naming the
    /// batch (and the field that differs) and Cancel is sent.
    /// </para>
    /// <para>
    /// Output that is not a valid Arrow IPC stream, or whose schema differs from the session's
    /// output schema (<see cref="SessionInit.OutputSchema"/>, else the first output batch's),
    /// ends the session the same way with a <see cref="WorkerOutputException"/>.
    /// </para>
    /// </remarks>
    /// <exception cref="InvalidOperationException">Init has not succeeded, processing already started, or the session ended.</exception>
    public IAsyncEnumerable<RecordBatch> ProcessAsync(IAsyncEnumerable<RecordBatch> input, CancellationToken cancellationToken = default) =>
        ProcessAsync(input, options: null, cancellationToken);

    /// <inheritdoc cref="ProcessAsync(IAsyncEnumerable{RecordBatch}, CancellationToken)"/>
    /// <param name="input">The input batches; see the other overload.</param>
    /// <param name="options">Per-call options, such as the Finish callback; <see langword="null"/> for defaults.</param>
    /// <param name="cancellationToken">Cancels the session.</param>
    public IAsyncEnumerable<RecordBatch> ProcessAsync(
        IAsyncEnumerable<RecordBatch> input,
        ProcessOptions? options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);

        // Without declared schemas (or before InitAsync, when the bytes level refuses with the
        // reason) the layer takes the first batch's schema.
        var arrow = _arrow ?? NewArrowLayer(null, null);
        return arrow.ProcessAsync(input, options, cancellationToken);
    }

    private ArrowSessionLayer NewArrowLayer(Schema? input, Schema? output) =>
        new(this, input, output, _maxSendMessageSize - SessionWriter.DataFramingAllowance);

    /// <summary>
    /// Asks the worker to cancel this execution (Cancel, after Finish when Finish already went). Returns
    /// at once; <see cref="CloseAsync"/> returns the outcome. Does nothing once the session ended.
    /// </summary>
    /// <param name="reason">A diagnostic reason sent to the worker.</param>
    public void Cancel(string? reason = null) => RequestCancel(reason ?? "cancelled by the engine", byCaller: true);

    /// <summary>
    /// Ends the session and returns its outcome. When the session is still running, Cancel is sent
    /// and its acknowledgement awaited (bounded by <see cref="SessionOptions.CancelAcknowledgementTimeout"/>).
    /// Idempotent and thread-safe; never throws for worker or transport failures; the worker is
    /// released exactly once.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting: the call is aborted and the outcome is <see cref="SessionOutcomeKind.Interrupted"/> unless already settled.</param>
    public Task<SessionOutcome> CloseAsync(CancellationToken cancellationToken = default)
    {
        var close = new TaskCompletionSource<SessionOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var existing = Interlocked.CompareExchange(ref _close, close, null);
        if (existing is not null)
        {
            return existing.Task;
        }

        _ = RunCloseAsync(close, cancellationToken);
        return close.Task;
    }

    /// <summary>Closes the session (see <see cref="CloseAsync"/>).</summary>
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    /// <summary>The session's logger.</summary>
    internal ILogger Logger => _logger;

    /// <summary>The session's meters and tags.</summary>
    internal SessionTelemetry Telemetry => _telemetry;

    /// <summary>The outbound side.</summary>
    internal SessionWriter Writer => _writer;

    /// <summary>The inbound side.</summary>
    internal SessionReader Reader => _reader;

    /// <summary>Whether Init succeeded.</summary>
    internal bool InitSucceeded => _init.Task.IsCompletedSuccessfully;

    /// <summary>The worker answered Init: records its duration, ends its span, returns the time since InitAsync started.</summary>
    internal TimeSpan OnInitAnswered()
    {
        var elapsed = _time.GetElapsedTime(_startTimestamp);
        _telemetry.Instruments.InitDuration.Record(elapsed.TotalSeconds, _telemetry.PoolOnly);
        Interlocked.Exchange(ref _initActivity, null)?.Dispose();
        return elapsed;
    }

    /// <summary>Init succeeded.</summary>
    internal void CompleteInit(SessionInitResult result) => _init.TrySetResult(result);

    private async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadOutputAsync(
        IAsyncEnumerable<ReadOnlyMemory<byte>> input,
        ProcessOptions? options,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.UnsafeRegister(
            static state => ((WorkerSession)state!).RequestCancel("the caller cancelled processing", byCaller: true), this);
        _ = _writer.PumpInputAsync(input, options, cancellationToken);

        var reader = _reader.Output;
        var completed = false;
        try
        {
            while (true)
            {
                _reader.ThrowIfOutputFailed();
                if (reader.TryRead(out var item))
                {
                    yield return item;
                    continue;
                }

                bool more;
                try
                {
                    more = await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    RequestCancel("the caller cancelled processing", byCaller: true);
                    throw;
                }

                if (!more)
                {
                    OnOutputDone();
                    _reader.ThrowIfOutputFailed();
                    completed = true;
                    yield break;
                }
            }
        }
        finally
        {
            if (!completed)
            {
                RequestCancel("the engine stopped reading the output", byCaller: false);
            }

            OnOutputDone();
        }
    }

    private void ThrowIfEnded(string operation)
    {
        if (_state.OutcomeOrNull is { } outcome)
        {
            throw new InvalidOperationException(
                $"{operation} was called after the session ended ({outcome.Kind}). Open a new session.", outcome.Exception);
        }
    }

    private bool StartCall(InitPlan plan)
    {
        AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call;
        try
        {
            call = _invoker.AsyncDuplexStreamingCall(_options.PooledOutput ? PooledMessages.Execute : WireMethods.Execute, null, default);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _ = FailToStartAsync(ex);
            return false;
        }

        Volatile.Write(ref _call, call);
        if (_state.IsAborted && Interlocked.Exchange(ref _call, null) is { } aborted)
        {
            DisposeCall(aborted);
        }

        _reader.Start(call);
        _writer.Start(call, plan);
        return true;
    }

    /// <summary>How a pooled worker failed (exit code, signal), or <see langword="null"/>: no pool, or it cannot say.</summary>
    internal async ValueTask<string?> ExplainStreamFailureAsync()
    {
        if (_lease is null)
        {
            return null;
        }

        try
        {
            return await _lease.ExplainStreamFailureAsync().ConfigureAwait(false);
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
        var explanation = await ExplainStreamFailureAsync().ConfigureAwait(false);
        SettleTransport(
            explanation is null ? TransportFailureReason.Rpc : TransportFailureReason.WorkerLost,
            explanation is null ? "opening the Execute stream failed" : $"{explanation}; opening the Execute stream failed",
            exception);
    }

    private void StartTelemetry(SessionInit init)
    {
        Volatile.Write(ref _telemetryStarted, true);

        _telemetry.Instruments.ActiveSessions.Add(1, _telemetry.PoolOnly);
        var activity = _activity ?? EngineClientTelemetry.ActivitySource.StartActivity("udf.session", ActivityKind.Client);
        if (activity is not null)
        {
            _activity = activity;
            _initActivity = EngineClientTelemetry.ActivitySource.StartActivity("udf.session.init", ActivityKind.Internal, activity.Context);
        }

        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("engine_client.worker", _worker);
            if (_telemetry.Pool is { } pool)
            {
                activity.SetTag(EngineClientTelemetry.PoolTag, pool);
            }

            activity.SetTag("engine_client.session.id", Id);
            activity.SetTag("engine_client.udf.format", init.PayloadFormat);
            if (init.Name is not null)
            {
                activity.SetTag("engine_client.udf.name", init.Name);
            }
        }
    }

    /// <summary>Starts the span of the session's ending step (Finish or Cancel), a child of the session span, ended with the outcome.</summary>
    internal void StartEndActivity(string name)
    {
        if (_activity is not { } session || Volatile.Read(ref _endActivity) is not null)
        {
            return;
        }

        var step = EngineClientTelemetry.ActivitySource.StartActivity(name, ActivityKind.Internal, session.Context);
        if (step is null)
        {
            return;
        }

        Volatile.Write(ref _endActivity, step);
        if (_state.IsSettled)
        {
            // The outcome came first: end the span here, once.
            Interlocked.Exchange(ref _endActivity, null)?.Dispose();
        }
    }

    private SessionDiagnostics Snapshot()
    {
        var finish = _state.FinishStarted;
        var cancel = _state.CancelWritten;
        var now = _time.GetTimestamp();
        var start = Volatile.Read(ref _startTimestamp);
        var last = _reader.LastWorkerMessageTimestamp;
        return new SessionDiagnostics
        {
            Worker = _worker,
            SessionId = Id,
            Attempts = _lease?.Attempts ?? [],
            Phase = _state.LastActivePhase,
            BatchesSent = _writer.BatchesSent,
            BytesSent = _writer.BytesSent,
            BatchesReceived = _reader.BatchesReceived,
            BytesReceived = _reader.BytesReceived,
            FinishSent = finish,
            CancelSent = cancel,
            SinceLastWorkerMessage = last == 0 ? null : _time.GetElapsedTime(last, now),
            Elapsed = start == 0 ? TimeSpan.Zero : _time.GetElapsedTime(start, now),
        };
    }
}
