using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Engine.Client.Diagnostics;
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
/// Shape: a single writer task owns the request stream (Init, payload chunks, data, Finish, Cancel
/// all pass through one bounded queue); a single reader task reads the response stream, delivers
/// data to a bounded output buffer and correlates control responses by position, enforcing the
/// protocol's order. One atomic state settles the outcome: the first terminal wins and wakes every
/// waiter.
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

    private static readonly UdfRequest EmptyFinish = new() { Control = new UdfControlRequest { Finish = new Finish() } };

    private readonly string _workerName;
    private readonly CallInvoker _invoker;
    private readonly SessionOptions _options;
    private readonly int _maxSendMessageSize;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ISessionLease? _lease;
    private readonly SessionStateMachine _state = new();
    private readonly Lock _gate = new();

    // Outbound: Init, one data batch at a time, Finish. Cancel never waits in it: it overtakes.
    private readonly Channel<Outbound> _outbound = Channel.CreateBounded<Outbound>(
        new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = false });

    private readonly Channel<ReadOnlyMemory<byte>> _output;
    private readonly WriteAck _ack = new();
    private readonly CancellationTokenSource _stopInput = new();
    private readonly TaskCompletionSource<SessionInitResult> _init = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private AsyncDuplexStreamingCall<UdfRequest, UdfResponse>? _call;
    private Task _readerTask = Task.CompletedTask;
    private Task _writerTask = Task.CompletedTask;
    private TaskCompletionSource<SessionOutcome>? _close;
    private readonly SessionTelemetry _telemetry;
    private Activity? _activity;
    private Activity? _initActivity;
    private Activity? _endActivity;
    private int _released;
    private int _processStarted;

    // Guarded by _gate.
    private bool _initWritten;
    private bool _initResponded;
    private bool _finishStarted;
    private bool _cancelRequested;
    private bool _cancelByCaller;
    private bool _cancelWritten;
    private bool _errorReceived;
    private bool _aborted;
    private bool _halfClosed;
    private string? _cancelReason;
    private SessionError? _priorError;
    private Exception? _localFailure;
    private Exception? _firstTransportError;
    private ReadOnlyMemory<byte>? _initData;

    private Exception? _outputFailure;

    // Writer-owned and reader-owned counters; read by snapshots.
    private long _batchesSent;
    private long _bytesSent;
    private long _batchesReceived;
    private long _bytesReceived;
    private long _startTimestamp;
    private long _lastWorkerMessageTimestamp;
    private long _outputDiscarded;

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
        _logger = loggerFactory.CreateLogger<WorkerSession>();
        _lease = lease;
        _telemetry = telemetry ?? SessionTelemetry.Default;
        _activity = _telemetry.Started;
        Id = Interlocked.Increment(ref s_lastSessionId);
        _output = Channel.CreateBounded<ReadOnlyMemory<byte>>(
            new BoundedChannelOptions(_options.OutputBufferCapacity) { SingleReader = true, SingleWriter = true });
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
        if (!_state.TryAdvance(SessionPhase.Created, SessionPhase.Initializing))
        {
            ThrowIfEnded("InitAsync");
            if (_state.Phase == SessionPhase.Cancelling)
            {
                throw new InvalidOperationException("InitAsync was called after the session was closed. Open a new session.");
            }

            throw new InvalidOperationException("InitAsync was already called on this session: Init is sent exactly once per session.");
        }

        _startTimestamp = _time.GetTimestamp();
        RememberArrowSchemas(init, plan);
        StartTelemetry(init);

        // Armed before the call starts: the InitResponse may be handled before StartCall returns,
        // and its arrival must find the deadline there to disarm.
        ArmWatchdog(WatchdogKind.InitResponse, _options.InitResponseTimeout);
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
        _state.TryAdvance(SessionPhase.Ready, SessionPhase.Processing);
        return ReadOutputAsync(input, options, cancellationToken);
    }

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

    private async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadOutputAsync(
        IAsyncEnumerable<ReadOnlyMemory<byte>> input,
        ProcessOptions? options,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.UnsafeRegister(
            static state => ((WorkerSession)state!).RequestCancel("the caller cancelled processing", byCaller: true), this);
        _ = PumpInputAsync(input, options, cancellationToken);

        var reader = _output.Reader;
        var completed = false;
        try
        {
            while (true)
            {
                ThrowIfOutputFailed();
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
                    ThrowIfOutputFailed();
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

    private void ThrowIfOutputFailed()
    {
        if (Volatile.Read(ref _outputFailure) is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
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
            call = _invoker.AsyncDuplexStreamingCall(WireMethods.Execute, null, default);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _ = FailToStartAsync(ex);
            return false;
        }

        bool abortNow;
        lock (_gate)
        {
            _call = call;
            abortNow = _aborted;
        }

        if (abortNow)
        {
            DisposeCall(call);
        }

        _readerTask = ReadLoopAsync(call);

        // Queued before the writer starts, so the writer finds Init at once and starts writing it
        // on this thread instead of waking up for it on another. Fails only when a Cancel that
        // raced the start completed the queue; the writer settles that.
        _outbound.Writer.TryWrite(new Outbound(OutboundKind.Init, null, plan));
        _writerTask = WriteLoopAsync(call);
        return true;
    }

    private void StartTelemetry(SessionInit init)
    {
        lock (_gate)
        {
            _telemetryStarted = true;
        }

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
            activity.SetTag("engine_client.udf.format", init.Format);
            if (init.Name is not null)
            {
                activity.SetTag("engine_client.udf.name", init.Name);
            }
        }
    }

    /// <summary>Starts the span of the session's ending step (Finish or Cancel), a child of the session span, ended with the outcome.</summary>
    private void StartEndActivity(string name)
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
        bool finish, cancel;
        lock (_gate)
        {
            finish = _finishStarted;
            cancel = _cancelWritten;
        }

        var now = _time.GetTimestamp();
        var start = Volatile.Read(ref _startTimestamp);
        var last = Volatile.Read(ref _lastWorkerMessageTimestamp);
        return new SessionDiagnostics
        {
            Worker = _worker,
            SessionId = Id,
            Attempts = _lease?.Attempts ?? [],
            Phase = _state.LastActivePhase,
            BatchesSent = Volatile.Read(ref _batchesSent),
            BytesSent = Volatile.Read(ref _bytesSent),
            BatchesReceived = Volatile.Read(ref _batchesReceived),
            BytesReceived = Volatile.Read(ref _bytesReceived),
            FinishSent = finish,
            CancelSent = cancel,
            SinceLastWorkerMessage = last == 0 ? null : _time.GetElapsedTime(last, now),
            Elapsed = start == 0 ? TimeSpan.Zero : _time.GetElapsedTime(start, now),
        };
    }

    private enum OutboundKind
    {
        Init,
        Data,
        Finish,
    }

    private readonly record struct Outbound(OutboundKind Kind, UdfRequest? Message, InitPlan? Plan);
}
