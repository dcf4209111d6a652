using System.Diagnostics;
using Engine.Client.Diagnostics;
using Engine.Client.Management;
using Engine.Client.Sessions;
using Engine.Client.Workers;
using Microsoft.Extensions.Logging;

namespace Engine.Client;

/// <summary>
/// Launches, watches, reuses and stops the workers of one specification (direct mode), and opens
/// sessions on them. The long-lived root object an engine builds once: thread-safe, and
/// <see cref="IAsyncDisposable"/> and <see cref="IDisposable"/> — disposing it stops every worker and
/// runs the environment cleanup.
/// </summary>
/// <remarks>
/// <para>
/// Placement: with <c>supports_reuse</c> a worker serves session after session (and several at once
/// with <c>supports_concurrent_udfs</c>, up to <see cref="WorkerPoolOptions.MaxSessionsPerWorker"/>);
/// idle workers are kept up to <see cref="WorkerPoolOptions.MaxIdleWorkers"/>. Otherwise every session
/// gets its own worker, stopped when the session closes. A worker whose session ended unsalvageably
/// (transport failure, unacknowledged cancel) is never reused.
/// </para>
/// <para>
/// Health: each worker gets a heartbeat every <see cref="WorkerPoolOptions.HeartbeatInterval"/>. A
/// worker whose process exits, or that misses <see cref="WorkerPoolOptions.MaxMissedHeartbeats"/> in
/// a row, is marked unhealthy at once: its live sessions fail with a transport failure that says why,
/// it is killed (SIGKILL to its process group, no graceful stop), and the next request gets a fresh
/// worker. <see cref="WorkerLost"/> reports it.
/// </para>
/// <para>
/// Launches: concurrent requests share the workers still starting (a starting worker's capacity is
/// reserved for the requests waiting for it), sessions go to the least loaded worker, and
/// <see cref="WorkerPoolOptions.MaxWorkers"/> (by default twice the processor count, at least 4)
/// caps the workers alive at once.
/// </para>
/// <para>
/// A killed engine leaves nothing running: every worker gets a parent-death signal and its process
/// group is killed (on Linux). Socket directories left by engines that died are removed when a
/// pool starts.
/// </para>
/// </remarks>
public sealed class WorkerPool : WorkerSessionSource
{
    private readonly WorkerSpecification _specification;
    private readonly WorkerPoolOptions _options;
    private readonly WorkerEnvironmentSetup _environment;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly EngineClientTelemetry _telemetry;
    private readonly KeyValuePair<string, object?>[] _poolTag;
    private readonly Lock _gate = new();
    private readonly List<PooledWorker> _workers = [];
    private readonly List<PendingLaunch> _pending = [];
    private readonly CancellationTokenSource _disposing = new();
    private TaskCompletionSource _changed = NewSignal();
    private int _launching;
    private TaskCompletionSource? _launchesDone;
    private Task? _dispose;
    private bool _disposed;

    private WorkerPool(WorkerSpecification specification, WorkerPoolOptions options)
    {
        _specification = specification;
        _options = options;
        _time = options.TimeProvider;
        _logger = options.LoggerFactory.CreateLogger<WorkerPool>();
        _environment = new WorkerEnvironmentSetup(specification, options.Environment);
        _telemetry = EngineClientTelemetry.For(options.MeterFactory);
        _poolTag = [new(EngineClientTelemetry.PoolTag, Name)];
        _telemetry.Register(this);
        if (specification.Transport == WorkerTransport.UnixDomainSocket)
        {
            SweepAbandonedDirectories(options.Process.SocketDirectory);
        }
    }

    /// <summary>
    /// Raised once for each worker marked unhealthy (its process exited, or it missed its
    /// heartbeats), with a snapshot whose <see cref="PooledWorkerInfo.State"/> is
    /// <see cref="PooledWorkerState.Unhealthy"/> and whose <see cref="PooledWorkerInfo.UnhealthyReason"/>
    /// says why; not for workers the pool stops itself. Raised on a pool thread after the worker's
    /// sessions were failed; the worker is being stopped. An exception thrown by a handler is
    /// logged and ignored. The pool does not launch a replacement until a session needs one.
    /// </summary>
    public event EventHandler<PooledWorkerInfo>? WorkerLost;

    /// <summary>Raised with a worker's id after each answered heartbeat (for tests and diagnostics).</summary>
    internal event Action<string>? HeartbeatAnswered;

    /// <summary>
    /// The pool's name (<see cref="WorkerPoolOptions.Name"/>, or <c>default</c>): the
    /// <c>engine_client.pool.name</c> tag of its measurements and spans.
    /// </summary>
    public override string Name => _options.Name!;

    /// <summary>Whether the pool is closed (disposed, or being disposed): it opens no more sessions.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_gate)
            {
                return _disposed;
            }
        }
    }

    /// <summary>The specification the pool launches workers from.</summary>
    public WorkerSpecification Specification => _specification;

    /// <summary>Creates a pool. No worker starts until a session is requested (or <see cref="StartWorkersAsync"/>).</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid; the message lists every problem.</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static WorkerPool Create(WorkerSpecification specification, WorkerPoolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(specification);
        specification.Validate();
        var given = options ?? new WorkerPoolOptions();
        given.Validate();
        return new WorkerPool(specification, given.Effective());
    }

    /// <summary>A snapshot of every worker: state, sessions, last heartbeat metrics.</summary>
    public IReadOnlyList<PooledWorkerInfo> Workers
    {
        get
        {
            lock (_gate)
            {
                return [.. _workers.Select(w => w.Describe())];
            }
        }
    }

    /// <summary>
    /// Opens a session on a worker: a reusable idle (or not full) worker when the specification
    /// allows, otherwise a freshly launched one. Runs the environment setup first, once per pool.
    /// </summary>
    /// <param name="options">Session settings; <see langword="null"/> uses <see cref="WorkerPoolOptions.Session"/>.</param>
    /// <param name="cancellationToken">Abandons the request (a worker being launched for it is stopped).</param>
    /// <exception cref="ObjectDisposedException">The pool is closed.</exception>
    /// <exception cref="WorkerEnvironmentException">The environment setup failed (it is not retried).</exception>
    /// <exception cref="WorkerLaunchException">The worker could not be launched; the message shows its exit code and output.</exception>
    public override async ValueTask<WorkerSession> OpenSessionAsync(SessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();

        // The session span starts here, so that a worker launched for it is its child; the session
        // ends it with its outcome. Activity.Current is restored for the caller when this returns.
        var activity = EngineClientTelemetry.ActivitySource.StartActivity("udf.session", ActivityKind.Client);
        PooledWorker worker;
        try
        {
            await _environment.EnsureAsync(cancellationToken).ConfigureAwait(false);
            worker = await AcquireAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity?.Dispose();
            throw;
        }

        var lease = new Lease(this, worker);
        WorkerSession session;
        try
        {
            session = worker.Process.Client.OpenSession(options ?? _options.Session, lease, activity);
            lease.Session = session;
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity?.Dispose();

            // Nothing will ever release this slot: do it now (a non-reusable worker is stopped).
            await ReleaseAsync(worker, null).ConfigureAwait(false);
            throw;
        }

        string? lost;
        lock (_gate)
        {
            worker.Sessions.Add(session);
            lost = worker.Healthy ? null : worker.UnhealthyReason;
        }

        if (lost is not null)
        {
            session.FailBecauseWorkerLost(lost);
        }

        return session;
    }

    /// <summary>The most launches <see cref="StartWorkersAsync"/> has in progress at once: each is a process start and a wait for its socket.</summary>
    internal const int MaxConcurrentStarts = 4;

    /// <summary>
    /// Launches <paramref name="count"/> workers now and keeps them idle, ready for sessions (for
    /// example to expose them to scripts), at most 4 launches at a time; returns them in launch
    /// order. They count as idle workers of the pool; session requests made while they start wait
    /// for them instead of launching others. Not limited by <see cref="WorkerPoolOptions.MaxWorkers"/>.
    /// </summary>
    /// <param name="count">Workers to launch, at least 1.</param>
    /// <param name="cancellationToken">Begins no further launch and stops waiting; launches in progress belong to the pool, which stops them when closed.</param>
    /// <exception cref="ObjectDisposedException">The pool is closed.</exception>
    /// <exception cref="WorkerLaunchException">A worker could not be launched; those already up keep running.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<IReadOnlyList<PooledWorkerInfo>> StartWorkersAsync(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ThrowIfDisposed();
        await _environment.EnsureAsync(cancellationToken).ConfigureAwait(false);
        var started = new List<PooledWorkerInfo>(count);
        while (started.Count < count)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var launches = new PendingLaunch[Math.Min(MaxConcurrentStarts, count - started.Count)];
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                for (var i = 0; i < launches.Length; i++)
                {
                    // Held by this call, no slot reserved: session requests may take the capacity meanwhile.
                    launches[i] = BeginLaunch();
                    launches[i].Holders = 1;
                }
            }

            foreach (var launch in launches)
            {
                _ = RunLaunchAsync(launch);
            }

            var launched = await Task.WhenAll(launches.Select(l => JoinAsync(l, reserved: false, cancellationToken))).ConfigureAwait(false);
            lock (_gate)
            {
                started.AddRange(launched.Select(w => w.Describe()));
            }
        }

        return started;
    }

    /// <summary>
    /// Closes the pool: later requests are rejected, launches in progress are abandoned, every
    /// worker is stopped (Manage shutdown, SIGTERM, SIGKILL after the graceful timeout) and the
    /// environment cleanup runs once. Idempotent and safe to call concurrently.
    /// </summary>
    public override ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _dispose ??= DisposeCoreAsync();
            return new ValueTask(_dispose);
        }
    }

    /// <summary>
    /// Closes the pool as <see cref="DisposeAsync"/> does and blocks until every worker is stopped
    /// and the cleanup has run: for containers and callers that dispose synchronously. Safe on a
    /// thread pool thread and under a <see cref="SynchronizationContext"/>.
    /// </summary>
    public override void Dispose()
    {
        // The asynchronous path is the only stop path (one behaviour to test). It is started on a
        // thread pool thread so that none of its continuations can be posted to the caller's
        // SynchronizationContext, which this thread blocks: that is the classic sync-over-async
        // deadlock, and ConfigureAwait(false) alone would not rule it out for continuations of
        // code the pool calls (a logger, a TimeProvider). Blocking one thread pool thread is safe:
        // the stop needs only a few short-lived callbacks, which other pool threads (or new ones
        // the pool injects) run.
        Task.Run(() => DisposeAsync().AsTask()).GetAwaiter().GetResult();
    }

    private void SweepAbandonedDirectories(string socketDirectory)
    {
        var (removed, failed) = WorkerEndpoint.SweepAbandoned(socketDirectory);
        foreach (var directory in removed)
        {
            PoolLog.AbandonedDirectoryRemoved(_logger, directory);
        }

        foreach (var (directory, error) in failed)
        {
            PoolLog.AbandonedDirectoryNotRemoved(_logger, error, directory);
        }
    }

    private async Task DisposeCoreAsync()
    {
        PooledWorker[] workers;
        Task launches;
        lock (_gate)
        {
            _disposed = true;
            workers = [.. _workers];
            launches = _launching == 0 ? Task.CompletedTask : (_launchesDone ??= NewSignal()).Task;
            SignalChanged();
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        await launches.ConfigureAwait(false);
        lock (_gate)
        {
            // Launches that completed meanwhile joined the list before seeing the pool closed.
            workers = [.. _workers];
        }

        await Task.WhenAll(workers.Select(w => StopWorkerAsync(w, "the pool is closing", _options.CancelSessionsOnDispose))).ConfigureAwait(false);
        _telemetry.Unregister(this);
        try
        {
            await _environment.CleanupAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            PoolLog.CleanupFailed(_logger, ex);
        }

        PoolLog.Closed(_logger, workers.Length);
    }

    private void ThrowIfDisposed()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
        }
    }

    private int Capacity => _specification.SupportsReuse && _specification.SupportsConcurrentUdfs ? _options.MaxSessionsPerWorker : 1;

    private async Task<PooledWorker> AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            PendingLaunch? launch = null;
            var begin = false;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_specification.SupportsReuse)
                {
                    // The least loaded worker; among equals the one that got the fewest sessions, so
                    // that sessions spread over the workers instead of piling on the first one.
                    var capacity = Capacity;
                    PooledWorker? candidate = null;
                    foreach (var worker in _workers)
                    {
                        if (worker.IsAvailable && worker.Active < capacity
                            && (candidate is null || worker.Active < candidate.Active || (worker.Active == candidate.Active && worker.Placed < candidate.Placed)))
                        {
                            candidate = worker;
                        }
                    }

                    if (candidate is not null)
                    {
                        candidate.Active++;
                        candidate.Placed++;
                        return candidate;
                    }

                    // A worker still starting has room: its capacity is reserved for the requests
                    // that wait for it, so concurrent requests do not each launch a worker.
                    launch = _pending.FirstOrDefault(l => !l.Abandoned && l.Reserved < capacity);
                }

                if (launch is null && (_options.MaxWorkers is not { } max || _workers.Count + _pending.Count < max))
                {
                    launch = BeginLaunch();
                    begin = true;
                }

                if (launch is not null)
                {
                    launch.Reserved++;
                    launch.Holders++;
                }

                changed = _changed.Task;
            }

            if (launch is not null)
            {
                if (begin)
                {
                    _ = RunLaunchAsync(launch);
                }

                return await JoinAsync(launch, reserved: true, cancellationToken).ConfigureAwait(false);
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Registers a launch; the caller holds the lock and starts <see cref="RunLaunchAsync"/> once it is released.</summary>
    private PendingLaunch BeginLaunch()
    {
        var launch = new PendingLaunch(_disposing.Token);
        _pending.Add(launch);
        _launching++;
        return launch;
    }

    /// <summary>
    /// Waits for a launch this request holds. <paramref name="reserved"/>: the request reserved a
    /// session slot on it. Cancelling gives the hold (and the slot) back; a launch nobody holds any
    /// more is abandoned and its process stopped.
    /// </summary>
    private async Task<PooledWorker> JoinAsync(PendingLaunch launch, bool reserved, CancellationToken cancellationToken)
    {
        try
        {
            return await launch.Joined.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            PooledWorker? joined;
            var abandon = false;
            lock (_gate)
            {
                joined = launch.Worker;
                if (joined is null)
                {
                    launch.Holders--;
                    if (reserved)
                    {
                        launch.Reserved--;
                    }

                    abandon = launch.Holders == 0;
                    launch.Abandoned = abandon;
                }
            }

            if (abandon)
            {
                try
                {
                    await launch.Abandon.CancelAsync().ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    // The launch ended meanwhile; a worker it started nobody holds is stopped.
                }
            }
            else if (joined is not null && reserved)
            {
                // The worker joined with this request's slot taken: give it back.
                await ReleaseAsync(joined, null).ConfigureAwait(false);
            }

            throw;
        }
    }

    private void RecordLaunch(long start, string outcome)
    {
        var tags = new TagList { _poolTag[0], { "outcome", outcome } };
        _telemetry.Launches.Add(1, tags);
        _telemetry.LaunchDuration.Record(_time.GetElapsedTime(start).TotalSeconds, tags);
    }

    /// <summary>Launches the worker of <paramref name="launch"/> and hands it to the requests holding it, with their slots taken.</summary>
    private async Task RunLaunchAsync(PendingLaunch launch)
    {
        try
        {
            WorkerProcess process;
            using var activity = EngineClientTelemetry.ActivitySource.StartActivity("udf.worker.launch", ActivityKind.Internal);
            activity?.SetTag(EngineClientTelemetry.PoolTag, Name);
            var start = _time.GetTimestamp();
            try
            {
                process = await WorkerProcess.StartAsync(_specification, _options.Process, id: null, launch.Abandon.Token).ConfigureAwait(false);
                RecordLaunch(start, "success");
                if (activity is { IsAllDataRequested: true })
                {
                    activity.SetTag("engine_client.worker", process.Id);
                    activity.SetTag("engine_client.worker.pid", process.ProcessId);
                }
            }
            catch (Exception ex)
            {
                RecordLaunch(start, "failure");
                activity?.SetStatus(ActivityStatusCode.Error, ex is OperationCanceledException && _disposing.IsCancellationRequested ? "the pool closed" : ex.Message);
                lock (_gate)
                {
                    _pending.Remove(launch);
                }

                if (ex is OperationCanceledException && _disposing.IsCancellationRequested)
                {
                    launch.Joined.TrySetException(new ObjectDisposedException(nameof(WorkerPool), "The pool was closed while a worker was being launched for this request."));
                }
                else if (ex is OperationCanceledException)
                {
                    // Abandoned: nobody waits for it any more.
                    launch.Joined.TrySetCanceled();
                }
                else
                {
                    launch.Joined.TrySetException(ex);
                }

                return;
            }

            PooledWorker? worker = null;
            string? stopReason = null;
            lock (_gate)
            {
                _pending.Remove(launch);
                if (_disposed)
                {
                    stopReason = "the pool is closing";
                }
                else if (launch.Holders == 0)
                {
                    stopReason = "the requests it was launched for were abandoned";
                }
                else
                {
                    worker = new PooledWorker(process, _time) { Active = launch.Reserved, Placed = launch.Reserved };
                    _workers.Add(worker);
                    launch.Worker = worker;
                }
            }

            if (worker is null)
            {
                // Nothing may leak.
                await process.StopAsync(reason: stopReason, cancellationToken: CancellationToken.None).ConfigureAwait(false);
                if (_disposed)
                {
                    launch.Joined.TrySetException(new ObjectDisposedException(nameof(WorkerPool), "The pool was closed while a worker was being launched for this request."));
                }
                else
                {
                    launch.Joined.TrySetCanceled();
                }

                return;
            }

            PoolLog.WorkerJoined(_logger, worker.Id, process.ProcessId, process.Address.ToString());

            // The worker's watchers outlive this request: they must not run under its session span
            // (their heartbeats would all become its children). The caller's current activity is
            // restored when this method returns.
            Activity.Current = null;
            _ = WatchExitAsync(worker);
            _ = MonitorHeartbeatsAsync(worker);
            launch.Joined.TrySetResult(worker);
        }
        finally
        {
            launch.Abandon.Dispose();
            TaskCompletionSource? done = null;
            lock (_gate)
            {
                _launching--;
                if (_launching == 0 && _launchesDone is not null)
                {
                    done = _launchesDone;
                    _launchesDone = null;
                }

                SignalChanged();
            }

            done?.TrySetResult();
        }
    }

    /// <summary>A session ended (or could not be opened): free its slot, and stop the worker when it may not be reused.</summary>
    private async ValueTask ReleaseAsync(PooledWorker worker, WorkerSession? session)
    {
        string? stopReason = null;
        var kill = false;
        lock (_gate)
        {
            worker.Active--;
            if (session is not null && worker.Sessions.Remove(session))
            {
                worker.Served++;
            }

            if (worker.Active == 0 && !worker.Stopping)
            {
                if (_disposed)
                {
                    stopReason = "the pool is closing";
                }
                else if (!_specification.SupportsReuse)
                {
                    stopReason = "its session ended and the specification does not allow reuse";
                }
                else if (!worker.Healthy)
                {
                    stopReason = worker.UnhealthyReason;
                    kill = true;
                }
                else if (worker.Retired)
                {
                    stopReason = "a session on it ended unsalvageably";
                }
                else if (_workers.Count(w => w.IsAvailable && w.Active == 0) > _options.MaxIdleWorkers)
                {
                    stopReason = "more workers are idle than the pool keeps";
                }
            }

            SignalChanged();
        }

        if (stopReason is not null)
        {
            await StopWorkerAsync(worker, stopReason, cancelSessions: false, kill).ConfigureAwait(false);
        }
    }

    /// <summary>Stops a worker: asked to stop, or (<paramref name="kill"/>, a lost worker) killed at once.</summary>
    private async Task StopWorkerAsync(PooledWorker worker, string reason, bool cancelSessions, bool kill = false)
    {
        lock (_gate)
        {
            worker.Stopping = true;
            worker.StopReason ??= reason;
        }

        PoolLog.StoppingWorker(_logger, worker.Id, reason);
        await worker.StopMonitoring().ConfigureAwait(false);
        try
        {
            await (kill ? worker.Process.KillAsync(reason) : worker.Process.StopAsync(cancelSessions, reason)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            PoolLog.StopFailed(_logger, worker.Id, ex);
        }

        lock (_gate)
        {
            _workers.Remove(worker);
            SignalChanged();
        }
    }

    /// <summary>Marks a worker unhealthy: its sessions fail now with the reason, and it is stopped.</summary>
    private void MarkLost(PooledWorker worker, string reason, string kind)
    {
        WorkerSession[] sessions;
        lock (_gate)
        {
            if (!worker.Healthy || worker.Stopping)
            {
                return;
            }

            worker.Healthy = false;
            worker.UnhealthyReason = $"worker {worker.Id} (pid {worker.Process.ProcessId}) {reason}";
            sessions = [.. worker.Sessions];
            SignalChanged();
        }

        PoolLog.WorkerLost(_logger, worker.Id, reason, sessions.Length);
        _telemetry.Losses.Add(1, _poolTag[0], new KeyValuePair<string, object?>("reason", kind));
        foreach (var session in sessions)
        {
            session.FailBecauseWorkerLost(worker.UnhealthyReason);
        }

        // The stop first: a slow handler must not delay it.
        // It is known not to answer (or gone): no Manage shutdown, no SIGTERM grace.
        _ = StopWorkerAsync(worker, worker.UnhealthyReason, cancelSessions: false, kill: true);
        RaiseWorkerLost(worker);
    }

    private void RaiseWorkerLost(PooledWorker worker)
    {
        if (WorkerLost is not { } handlers)
        {
            return;
        }

        PooledWorkerInfo info;
        lock (_gate)
        {
            info = worker.Describe();
        }

        try
        {
            handlers(this, info);
        }
        catch (Exception ex)
        {
            PoolLog.WorkerLostHandlerFailed(_logger, ex, worker.Id);
        }
    }

    private async Task WatchExitAsync(PooledWorker worker)
    {
        var exit = await worker.Process.Exited.ConfigureAwait(false);
        MarkLost(worker, $"exited with {exit}", "exited");
    }

    private async Task MonitorHeartbeatsAsync(PooledWorker worker)
    {
        var client = worker.Process.Client;
        var monitor = new HeartbeatMonitor(
            (timeout, ct) => client.HeartbeatAsync(timeout, ct),
            _options.HeartbeatInterval,
            _options.HeartbeatTimeout,
            _options.MaxMissedHeartbeats,
            _time);
        monitor.Answered += heartbeat =>
        {
            worker.Answered(heartbeat);
            HeartbeatAnswered?.Invoke(worker.Id);
        };
        monitor.Missed += (missed, reason) =>
        {
            worker.Missed(missed);
            _telemetry.MissedHeartbeats.Add(1, _poolTag);
            PoolLog.HeartbeatMissed(_logger, worker.Id, missed, _options.MaxMissedHeartbeats, reason);
        };
        try
        {
            var lost = await monitor.RunAsync(worker.MonitorStop.Token).ConfigureAwait(false);
            if (lost is not null)
            {
                MarkLost(worker, lost, "heartbeats");
            }
        }
        catch (ObjectDisposedException)
        {
            // The worker's client was disposed by its stop.
        }
        finally
        {
            worker.MonitorDone.TrySetResult();
        }
    }

    private void SignalChanged()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// A worker being launched. Its session slots are reserved, as they are taken, by the requests
    /// that wait for it. Mutable fields are guarded by the pool's lock.
    /// </summary>
    private sealed class PendingLaunch(CancellationToken disposing)
    {
        /// <summary>Cancelled when the pool closes or nobody holds the launch any more.</summary>
        public CancellationTokenSource Abandon { get; } = CancellationTokenSource.CreateLinkedTokenSource(disposing);

        /// <summary>Completes with the worker once it joined the pool (its <see cref="PooledWorker.Active"/> counts the reserved slots).</summary>
        public TaskCompletionSource<PooledWorker> Joined { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Session slots reserved by waiting requests.</summary>
        public int Reserved { get; set; }

        /// <summary>Requests waiting for it (session requests and <see cref="StartWorkersAsync"/> calls).</summary>
        public int Holders { get; set; }

        /// <summary>Nobody holds it any more: no request may join it.</summary>
        public bool Abandoned { get; set; }

        /// <summary>The worker, once it joined.</summary>
        public PooledWorker? Worker { get; set; }
    }

    /// <summary>One session's hold on one worker.</summary>
    private sealed class Lease(WorkerPool pool, PooledWorker worker) : ISessionLease
    {
        public WorkerSession? Session { get; set; }

        public void Invalidate(SessionOutcome outcome)
        {
            lock (pool._gate)
            {
                worker.Retired = true;
            }
        }

        public ValueTask ReleaseAsync(SessionOutcome outcome) => pool.ReleaseAsync(worker, Session);

        public async ValueTask<string?> ExplainStreamFailureAsync()
        {
            string? reason;
            lock (pool._gate)
            {
                reason = !worker.Healthy ? worker.UnhealthyReason
                    : worker.Stopping ? $"worker {worker.Id} was being stopped ({worker.StopReason})"
                    : pool._disposed ? "the pool is closing"
                    : null;
            }

            if (reason is not null)
            {
                return reason;
            }

            // The stream usually breaks a moment before the worker's exit is reaped.
            var exited = worker.Process.Exited;
            var first = await Task.WhenAny(exited, Task.Delay(pool._options.WorkerExitGrace, pool._time)).ConfigureAwait(false);
            return first == exited
                ? $"worker {worker.Id} (pid {worker.Process.ProcessId}) exited with {await exited.ConfigureAwait(false)}"
                : null;
        }
    }
}
