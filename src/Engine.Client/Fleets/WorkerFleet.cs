using System.Diagnostics;
using System.Globalization;
using System.Net;
using Engine.Client.Diagnostics;
using Engine.Client.Fleets;
using Engine.Client.Management;
using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Engine.Client;

/// <summary>
/// Sessions across many remote workers that this process did not launch (a Kubernetes Deployment
/// behind a headless Service, a list of hosts), shared with other engines: placed by load and
/// affinity, healed by ejection and retry before commit. The long-lived root object an engine builds
/// once: thread-safe, and <see cref="IAsyncDisposable"/> and <see cref="IDisposable"/> (disposing
/// closes every worker's channel; sessions still open then fail with a transport failure).
/// </summary>
/// <remarks>
/// <para>
/// Workers: a static list of addresses (<see cref="Create(IEnumerable{string}, WorkerFleetOptions?)"/>),
/// a DNS name resolved again every <see cref="WorkerFleetOptions.ResolveInterval"/> and after failures
/// (<see cref="CreateFromDns"/>: A/AAAA records with a port, or SRV records), or any grpc-dotnet
/// <see cref="Resolver"/> (<see cref="Create(Resolver, WorkerFleetOptions?)"/>). New addresses join;
/// addresses that disappear drain: no new sessions, running sessions finish, then the channel closes.
/// Each worker gets a <see cref="WorkerClient"/> built from the fleet's options (its
/// <see cref="WorkerFleetOptions.Connection"/>, heartbeat deadline, session defaults, logging, clock and meters).
/// </para>
/// <para>
/// Placement: least outstanding sessions with power-of-two-choices; a worker's load is this engine's
/// sessions on it plus the other engines' it reports in its heartbeat (<c>active_sessions</c>). A
/// worker at its limit (<see cref="WorkerFleetOptions.MaxSessionsPerWorker"/>, or its own
/// <c>max_sessions</c> metric) takes none. With an affinity key
/// (<see cref="OpenSessionAsync(SessionOptions?, string?, CancellationToken)"/>), consistent hashing
/// with bounded loads keeps a key on its worker while that worker is healthy and not overloaded.
/// </para>
/// <para>
/// Health: a heartbeat every <see cref="WorkerFleetOptions.HeartbeatInterval"/>;
/// <see cref="WorkerFleetOptions.FailuresToEject"/> consecutive failures eject a worker (never more
/// than <see cref="WorkerFleetOptions.MaxEjectedShare"/> of the fleet) for a time growing with each
/// ejection; when it is over a heartbeat probes it and an answer readmits it. A new identity in a
/// heartbeat at the same address is a restart: the sessions committed on the old incarnation fail at
/// once, saying so.
/// </para>
/// <para>
/// Retry before commit: a session whose Execute stream fails before the worker's first response
/// (connection refused, <c>Unavailable</c> as from a worker shutting down, no response within
/// <see cref="WorkerFleetOptions.AttemptTimeout"/>) is moved to another worker and its Init sent
/// there again, inside <see cref="WorkerSession.InitAsync"/>, up to
/// <see cref="WorkerFleetOptions.MaxAttempts"/> with exponential backoff and jitter. Never after
/// the first DataRequest was written. <see cref="SessionDiagnostics.Attempts"/> says where it went.
/// </para>
/// </remarks>
public sealed class WorkerFleet : WorkerSessionSource
{
    /// <summary>
    /// The attribute of a <see cref="BalancerAddress"/> that gives a worker's whole address
    /// (<c>unix:///path</c>, <c>https://name:port</c>); without it an address is
    /// <c>{<see cref="WorkerFleetOptions.Scheme"/>}://host:port</c>.
    /// </summary>
    public static readonly BalancerAttributesKey<string> AddressAttribute = new("engine_client.worker.address");

    /// <summary>Distinct workers tagged by address on session measurements; later ones share the tag <c>other</c>.</summary>
    internal const int MaxTaggedWorkers = 64;

    private readonly WorkerFleetOptions _options;
    private readonly ILogger _logger;
    private readonly EngineClientTelemetry _telemetry;
    private readonly KeyValuePair<string, object?> _fleetTag;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, FleetWorker> _workers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _taggedWorkers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _resolved = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Random _random;
    private readonly Resolver? _resolver;
    private FleetWorker[] _candidates = [];
    private AffinityRing<FleetWorker> _ring = AffinityRing<FleetWorker>.Empty;
    private TaskCompletionSource _changed = NewSignal();
    private string? _resolveError;
    private long _roundRobin;
    private Task? _dispose;
    private bool _disposed;

    private WorkerFleet(WorkerFleetOptions options, Resolver? resolver)
    {
        _options = options;
        _resolver = resolver;
        Time = options.TimeProvider;
        _logger = options.LoggerFactory.CreateLogger<WorkerFleet>();
        _telemetry = EngineClientTelemetry.For(options.MeterFactory);
        _fleetTag = new(EngineClientTelemetry.PoolTag, options.Name);
        _random = options.RandomSeed is { } seed ? new Random(seed) : new Random();
        RetryPipeline = BuildRetryPipeline(options);
        _telemetry.Register(this);
    }

    /// <summary>
    /// Raised when a worker joins, changes state (ejected, readmitted, draining) or leaves (then its
    /// snapshot says <see cref="FleetWorkerState.Draining"/> with no session in flight), and when a
    /// worker restarts. Raised on a fleet thread; an exception thrown by a handler is ignored.
    /// </summary>
    public event EventHandler<FleetWorkerInfo>? WorkerChanged;

    /// <summary>The fleet's name (<see cref="WorkerFleetOptions.Name"/>).</summary>
    public override string Name => _options.Name;

    /// <summary>The options in effect (a copy of those given).</summary>
    public WorkerFleetOptions Options => _options;

    internal TimeProvider Time { get; }

    internal ResiliencePipeline RetryPipeline { get; }

    /// <summary>A snapshot of every worker, in address order.</summary>
    public IReadOnlyList<FleetWorkerInfo> Workers
    {
        get
        {
            lock (_gate)
            {
                return [.. _workers.Values.OrderBy(w => w.Address, StringComparer.Ordinal).Select(Describe)];
            }
        }
    }

    /// <summary>Creates a fleet of the workers at <paramref name="addresses"/> (<c>unix:///path</c>, <c>http://host:port</c>, <c>https://host:port</c>).</summary>
    /// <exception cref="FormatException">An address is malformed; the message shows the accepted forms.</exception>
    /// <exception cref="ArgumentException">No address was given, or an option is invalid.</exception>
    public static WorkerFleet Create(IEnumerable<string> addresses, WorkerFleetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var parsed = addresses.Select(a => WorkerAddress.Parse(a.Trim()).ToString()).Distinct(StringComparer.Ordinal).ToList();
        if (parsed.Count == 0)
        {
            throw new ArgumentException("A fleet needs at least one worker address.", nameof(addresses));
        }

        var fleet = new WorkerFleet(Effective(options), resolver: null);
        fleet.Apply(parsed);
        fleet._resolved.TrySetResult();
        return fleet;
    }

    /// <summary>
    /// Creates a fleet whose workers come from <paramref name="resolver"/>, any grpc-dotnet resolver
    /// (a <see cref="PollingResolver"/> for your own discovery): each result replaces the set of
    /// workers; a failed result keeps the workers known. The fleet starts the resolver, asks it to
    /// refresh every <see cref="WorkerFleetOptions.ResolveInterval"/> and after failures, and disposes
    /// it. See <see cref="AddressAttribute"/> for how addresses map to workers.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static WorkerFleet Create(Resolver resolver, WorkerFleetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var fleet = new WorkerFleet(Effective(options), resolver);
        fleet.StartResolver();
        return fleet;
    }

    /// <summary>
    /// Creates a fleet found through DNS: <c>dns:///name:port</c> (A and AAAA records, each address
    /// with that port), <c>dns:///name</c> without a port (SRV records: each target and its port, as a
    /// Kubernetes headless Service publishes <c>_port._tcp.service.namespace.svc.cluster.local</c>),
    /// and <c>dns://server:port/name[:port]</c> to ask a given DNS server instead of the system's.
    /// </summary>
    /// <exception cref="FormatException">The target is malformed.</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static WorkerFleet CreateFromDns(string target, WorkerFleetOptions? options = null)
    {
        var effective = Effective(options);
        var resolver = new DnsWorkerResolver(DnsTarget.Parse(target), effective.LoggerFactory);
        var fleet = new WorkerFleet(effective, resolver);
        fleet.StartResolver();
        return fleet;
    }

    /// <summary>
    /// Opens a session on a worker of the fleet, placed by load. Nothing goes on the wire until
    /// <see cref="WorkerSession.InitAsync"/>, which retries on another worker when the stream fails
    /// before the worker's first response.
    /// </summary>
    /// <param name="options">Session settings; <see langword="null"/> uses <see cref="WorkerFleetOptions.Session"/>.</param>
    /// <param name="cancellationToken">Abandons the request (waiting for the first resolution, or for a worker under its limit).</param>
    /// <exception cref="ObjectDisposedException">The fleet was disposed.</exception>
    /// <exception cref="WorkerUnreachableException">The fleet has no worker to place on (none resolved, every one draining).</exception>
    public override ValueTask<WorkerSession> OpenSessionAsync(SessionOptions? options = null, CancellationToken cancellationToken = default) =>
        OpenSessionAsync(options, affinityKey: null, cancellationToken);

    /// <summary>
    /// Opens a session placed by <paramref name="affinityKey"/>: the same key goes to the same worker
    /// while it is healthy and its load is under the bound of
    /// <see cref="WorkerFleetOptions.AffinityLoadFactor"/>, and only about 1/N of keys move when a
    /// worker joins or leaves. A digest of the UDF payload is the natural key.
    /// </summary>
    /// <param name="options">Session settings; <see langword="null"/> for the defaults.</param>
    /// <param name="affinityKey">The key; <see langword="null"/> places by load alone.</param>
    /// <param name="cancellationToken">Abandons the request.</param>
    /// <exception cref="ObjectDisposedException">The fleet was disposed.</exception>
    /// <exception cref="WorkerUnreachableException">The fleet has no worker to place on.</exception>
    public async ValueTask<WorkerSession> OpenSessionAsync(SessionOptions? options, string? affinityKey, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _resolved.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var activity = EngineClientTelemetry.ActivitySource.StartActivity("udf.session", ActivityKind.Client);
        try
        {
            var sessionOptions = options ?? _options.Session;
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    ObjectDisposedException.ThrowIf(_disposed, this);
                    if (Place(affinityKey, exclude: null, out var kind) is { } worker)
                    {
                        var lease = new FleetLease(this, worker, affinityKey) { Incarnation = worker.Incarnation, Activity = activity };
                        worker.Sessions.Add(lease);
                        worker.Placed++;
                        var telemetry = new SessionTelemetry(_telemetry, Name, () => lease.Worker.MetricTag) { Started = activity };
                        WorkerSession session;
                        try
                        {
                            session = new WorkerSession(
                                new FleetCallInvoker(this, lease),
                                worker.Address,
                                sessionOptions,
                                _options.Connection.MaxSendMessageSize,
                                Time,
                                _options.LoggerFactory,
                                lease,
                                telemetry);
                        }
                        catch
                        {
                            worker.Sessions.Remove(lease);
                            throw;
                        }

                        lease.Session = session;
                        _telemetry.FleetPlacements.Add(1, _fleetTag, new KeyValuePair<string, object?>("kind", kind));
                        if (activity is { IsAllDataRequested: true })
                        {
                            activity.SetTag("engine_client.fleet.placement", kind);
                        }

                        return session;
                    }

                    if (_candidates.Length == 0)
                    {
                        throw new WorkerUnreachableException(Name, NoWorkerMessage());
                    }

                    // Every worker is at its limit: wait for a session to end or a heartbeat to free room.
                    changed = _changed.Task;
                }

                await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Heartbeats every worker now, all at once, and returns the snapshot once each answered or
    /// missed (bounded by <see cref="WorkerClientOptions.HeartbeatTimeout"/>). A miss counts as a
    /// failure of the worker, an answer as for a regular heartbeat (readmitting an ejected worker
    /// whose ejection time is over).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The fleet was disposed.</exception>
    public async Task<IReadOnlyList<FleetWorkerInfo>> HeartbeatAllAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _resolved.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        FleetWorker[] workers;
        lock (_gate)
        {
            workers = [.. _workers.Values];
        }

        await Task.WhenAll(workers.Select(w => HeartbeatOnceAsync(w, cancellationToken))).ConfigureAwait(false);
        return Workers;
    }

    /// <summary>
    /// Waits until the fleet's discovery answered once (at once for a static list) and returns the
    /// snapshot of its workers; after a failed first resolution the snapshot is empty and
    /// <see cref="ResolveError"/> says why.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The fleet was disposed.</exception>
    public async Task<IReadOnlyList<FleetWorkerInfo>> WaitForWorkersAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _resolved.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return Workers;
    }

    /// <summary>Why the last resolution failed, or <see langword="null"/> when it succeeded (or the fleet has a static list).</summary>
    public string? ResolveError
    {
        get
        {
            lock (_gate)
            {
                return _resolveError;
            }
        }
    }

    /// <summary>
    /// Closes the fleet: later requests are rejected, heartbeats and resolution stop, and every
    /// worker's channel closes (sessions still open end with a transport failure). Workers are not
    /// asked to shut down: they belong to the fleet, not to this engine. Idempotent.
    /// </summary>
    public override ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _dispose ??= DisposeCoreAsync();
            return new ValueTask(_dispose);
        }
    }

    /// <inheritdoc cref="DisposeAsync"/>
    public override void Dispose() => Task.Run(() => DisposeAsync().AsTask()).GetAwaiter().GetResult();

    /// <summary>For tests: the worker a key maps to with every worker accepting (no load bound).</summary>
    internal string? HomeOf(string key)
    {
        lock (_gate)
        {
            return _ring.Find(AffinityRing<FleetWorker>.Hash(key), _ => true)?.Address;
        }
    }

    /// <summary>For tests: the value of a worker's tag on session measurements.</summary>
    internal string MetricTagOf(string address)
    {
        lock (_gate)
        {
            return _workers[address].MetricTag;
        }
    }

    private static WorkerFleetOptions Effective(WorkerFleetOptions? options)
    {
        var effective = (options ?? new WorkerFleetOptions()).Clone();
        effective.Validate();
        return effective;
    }

    private static ResiliencePipeline BuildRetryPipeline(WorkerFleetOptions options)
    {
        if (options.MaxAttempts == 1)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder { TimeProvider = options.TimeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(FleetCall.ShouldRetry(args.Outcome.Exception)),
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
            })
            .Build();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void SignalChanged()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private void ThrowIfDisposed()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
        }
    }

    private string NoWorkerMessage() =>
        _workers.Count == 0
            ? $"The fleet '{Name}' has no worker: {_resolveError ?? (_resolver is null ? "none was given" : "its discovery found none")}."
            : $"The fleet '{Name}' has no worker that takes sessions: its {_workers.Count} workers are draining.";

    private FleetWorkerInfo Describe(FleetWorker worker) => new()
    {
        Address = worker.Address,
        Identity = worker.Identity,
        State = worker.State,
        SessionsInFlight = worker.InFlight,
        ReportedLoad = worker.ReportedActive,
        SessionLimit = worker.Limit(_options.MaxSessionsPerWorker),
        LastHeartbeatAge = worker.LastHeartbeat == 0 ? null : Time.GetElapsedTime(worker.LastHeartbeat),
        Ejections = worker.Ejections,
        Incarnations = worker.Incarnations,
        LastFailure = worker.LastFailure,
    };

    private void RaiseChanged(FleetWorker worker)
    {
        if (WorkerChanged is not { } handlers)
        {
            return;
        }

        FleetWorkerInfo info;
        lock (_gate)
        {
            info = Describe(worker);
        }

        try
        {
            handlers(this, info);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A handler's failure is the handler's business.
        }
    }

    // ---- Membership -------------------------------------------------------------------------

    private void StartResolver()
    {
        _resolver!.Start(OnResolved);

        // A resolver (grpc-dotnet's PollingResolver among them) resolves on Refresh, not on Start:
        // the first resolution is asked for now, not one ResolveInterval later.
        RefreshResolver();
        _ = RefreshLoopAsync();
    }

    private async Task RefreshLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                bool failing;
                lock (_gate)
                {
                    failing = _resolveError is not null;
                }

                // After a failure, sooner: a second, or the interval when it is shorter.
                var wait = failing && _options.ResolveInterval > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : _options.ResolveInterval;
                await Task.Delay(wait, Time, _stop.Token).ConfigureAwait(false);
                RefreshResolver();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Asks the resolver to resolve again (after failures of workers, too).</summary>
    private void RefreshResolver()
    {
        if (_resolver is null || _stop.IsCancellationRequested)
        {
            return;
        }

        try
        {
            _resolver.Refresh();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            // Disposed meanwhile.
        }
    }

    private void OnResolved(ResolverResult result)
    {
        if (result.Status.StatusCode != Grpc.Core.StatusCode.OK)
        {
            int known;
            lock (_gate)
            {
                _resolveError = $"{result.Status.StatusCode}: {result.Status.Detail}";
                known = _workers.Count;
            }

            FleetLog.ResolveFailed(_logger, Name, _resolveError, known);
            _resolved.TrySetResult();
            return;
        }

        var addresses = new List<string>();
        foreach (var address in result.Addresses ?? [])
        {
            string text;
            if (address.Attributes.TryGetValue(AddressAttribute, out var whole) && whole is not null)
            {
                text = whole;
            }
            else
            {
                var host = address.EndPoint.Host;
                var hostText = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{host}]" : host;
                text = string.Create(CultureInfo.InvariantCulture, $"{_options.Scheme}://{hostText}:{address.EndPoint.Port}");
            }

            try
            {
                addresses.Add(WorkerAddress.Parse(text).ToString());
            }
            catch (FormatException ex)
            {
                FleetLog.AddressIgnored(_logger, Name, text, ex.Message);
            }
        }

        lock (_gate)
        {
            _resolveError = null;
        }

        Apply(addresses);
        _resolved.TrySetResult();
    }

    /// <summary>Makes <paramref name="addresses"/> the fleet's set: new ones join, missing ones drain.</summary>
    private void Apply(IReadOnlyCollection<string> addresses)
    {
        var wanted = new HashSet<string>(addresses, StringComparer.Ordinal);
        var joined = new List<FleetWorker>();
        var changed = new List<FleetWorker>();
        var removed = new List<FleetWorker>();
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            foreach (var address in wanted)
            {
                if (_workers.TryGetValue(address, out var known))
                {
                    if (known.Draining)
                    {
                        known.Draining = false;
                        changed.Add(known);
                    }

                    continue;
                }

                var client = WorkerClient.Create(WorkerAddress.Parse(address), _options.ClientOptions());
                var worker = new FleetWorker(address, client);
                if (_taggedWorkers.Count < MaxTaggedWorkers || _taggedWorkers.Contains(address))
                {
                    _taggedWorkers.Add(address);
                    worker.MetricTag = address;
                }

                _workers.Add(address, worker);
                joined.Add(worker);
            }

            foreach (var worker in _workers.Values)
            {
                if (!wanted.Contains(worker.Address) && !worker.Draining)
                {
                    worker.Draining = true;
                    changed.Add(worker);
                    if (worker.InFlight == 0)
                    {
                        removed.Add(worker);
                    }
                }
            }

            foreach (var worker in removed)
            {
                RemoveLocked(worker);
            }

            RebuildLocked();
        }

        foreach (var worker in joined)
        {
            FleetLog.WorkerJoined(_logger, Name, worker.Address);
            StartMonitor(worker);
            RaiseChanged(worker);
        }

        foreach (var worker in changed)
        {
            if (worker.Draining)
            {
                FleetLog.WorkerDraining(_logger, Name, worker.Address, worker.InFlight);
            }

            RaiseChanged(worker);
        }

        foreach (var worker in removed)
        {
            _ = CloseWorkerAsync(worker);
        }
    }

    private void RemoveLocked(FleetWorker worker)
    {
        worker.Removed = true;
        _workers.Remove(worker.Address);
    }

    /// <summary>Rebuilds the placement candidates and the affinity ring after a change of membership or state.</summary>
    private void RebuildLocked()
    {
        _candidates = [.. _workers.Values.Where(w => !w.Draining).OrderBy(w => w.Address, StringComparer.Ordinal)];
        _ring = AffinityRing<FleetWorker>.Build(_candidates, w => w.Address, _options.AffinityPointsPerWorker);
        SignalChanged();
    }

    private async Task CloseWorkerAsync(FleetWorker worker)
    {
        await worker.MonitorStop.CancelAsync().ConfigureAwait(false);
        await worker.Client.DisposeAsync().ConfigureAwait(false);
        FleetLog.WorkerRemoved(_logger, Name, worker.Address);
        RaiseChanged(worker);
    }

    // ---- Placement --------------------------------------------------------------------------

    private bool Eligible(FleetWorker worker, bool allowEjected, HashSet<FleetWorker>? exclude) =>
        (allowEjected || !worker.Ejected)
        && (exclude is null || !exclude.Contains(worker))
        && (worker.Limit(_options.MaxSessionsPerWorker) is not { } limit || worker.Load < limit);

    /// <summary>Chooses a worker, under the lock; <see langword="null"/> when none may take a session now.</summary>
    private FleetWorker? Place(string? key, HashSet<FleetWorker>? exclude, out string kind)
    {
        var candidates = _candidates;
        kind = "none";
        if (candidates.Length == 0)
        {
            return null;
        }

        // Ejected workers take sessions only when every candidate is ejected (better a chance than none).
        var allowEjected = candidates.All(w => w.Ejected);
        if (key is not null)
        {
            var eligible = 0;
            long total = 0;
            foreach (var worker in candidates)
            {
                if (allowEjected || !worker.Ejected)
                {
                    eligible++;
                    total += worker.Load;
                }
            }

            // Mirrokni, Thorup and Zadimoghaddam: capacity ceil((1 + epsilon) * m / n), m counting the new session.
            var capacity = (long)Math.Ceiling(_options.AffinityLoadFactor * (total + 1) / Math.Max(eligible, 1));
            var home = _ring.Find(AffinityRing<FleetWorker>.Hash(key), w => Eligible(w, allowEjected, exclude) && w.Load + 1 <= capacity);
            if (home is not null)
            {
                kind = allowEjected ? "panic" : ReferenceEquals(home, _ring.Find(AffinityRing<FleetWorker>.Hash(key), w => allowEjected || !w.Ejected)) ? "affinity" : "affinity_spill";
                return home;
            }
        }

        if (_options.Placement == FleetPlacement.RoundRobin)
        {
            for (var i = 0; i < candidates.Length; i++)
            {
                var worker = candidates[(int)((ulong)_roundRobin++ % (ulong)candidates.Length)];
                if (Eligible(worker, allowEjected, exclude))
                {
                    kind = allowEjected ? "panic" : "round_robin";
                    return worker;
                }
            }

            return null;
        }

        var chosen = PowerOfTwo(candidates, allowEjected, exclude);
        kind = chosen is null ? "none" : allowEjected ? "panic" : "least_loaded";
        return chosen;
    }

    private FleetWorker? PowerOfTwo(FleetWorker[] candidates, bool allowEjected, HashSet<FleetWorker>? exclude)
    {
        // Two distinct eligible workers drawn at random: a few draws usually find them; otherwise scan.
        FleetWorker? a = null;
        FleetWorker? b = null;
        for (var draw = 0; draw < 8 && b is null; draw++)
        {
            var worker = candidates[_random.Next(candidates.Length)];
            if (!Eligible(worker, allowEjected, exclude) || ReferenceEquals(worker, a))
            {
                continue;
            }

            if (a is null)
            {
                a = worker;
            }
            else
            {
                b = worker;
            }
        }

        if (b is null)
        {
            var eligible = candidates.Where(w => Eligible(w, allowEjected, exclude)).ToList();
            if (eligible.Count == 0)
            {
                return null;
            }

            if (eligible.Count == 1)
            {
                return eligible[0];
            }

            var first = _random.Next(eligible.Count);
            var second = _random.Next(eligible.Count - 1);
            a = eligible[first];
            b = eligible[second >= first ? second + 1 : second];
        }

        return b is null || a!.Load < b.Load || (a.Load == b.Load && a.Placed <= b.Placed) ? a : b;
    }

    /// <summary>
    /// The worker for the next attempt of a session whose attempt on <paramref name="failed"/> failed:
    /// another one when the fleet has one, else any that may take it; moves the lease there.
    /// <see langword="null"/> when none may.
    /// </summary>
    internal FleetWorker? PlaceRetry(FleetLease lease, FleetWorker failed, string failure)
    {
        FleetWorker? next;
        lock (_gate)
        {
            if (_disposed || lease.Released)
            {
                return null;
            }

            var tried = new HashSet<FleetWorker>(ReferenceEqualityComparer.Instance);
            foreach (var attempt in lease.Attempts ?? [])
            {
                if (_workers.TryGetValue(attempt.Worker, out var worker))
                {
                    tried.Add(worker);
                }
            }

            next = Place(lease.AffinityKey, tried, out _) ?? Place(lease.AffinityKey, exclude: null, out _);
            if (next is null)
            {
                return null;
            }

            lease.Worker.Sessions.Remove(lease);
            var left = lease.Worker;
            next.Sessions.Add(lease);
            next.Placed++;
            lease.MoveTo(next, failure);
            lease.Incarnation = next.Incarnation;
            if (left.Draining && left.InFlight == 0 && !left.Removed)
            {
                RemoveLocked(left);
                RebuildLocked();
                _ = CloseWorkerAsync(left);
            }

            SignalChanged();
        }

        _telemetry.FleetRetries.Add(1, _fleetTag);
        _telemetry.FleetPlacements.Add(1, _fleetTag, new KeyValuePair<string, object?>("kind", "retry"));
        FleetLog.SessionRetried(_logger, Name, lease.Session?.Id ?? 0, next.Address, lease.AttemptCount, failure);
        if (lease.Activity is { IsAllDataRequested: true } activity)
        {
            activity.SetTag("engine_client.worker", next.Address);
            activity.SetTag("engine_client.fleet.attempts", lease.AttemptCount);
            activity.AddEvent(new ActivityEvent("engine_client.fleet.retry", tags: new ActivityTagsCollection
            {
                ["engine_client.worker"] = next.Address,
                ["engine_client.fleet.failure"] = failure,
            }));
        }

        return next;
    }

    // ---- Sessions ---------------------------------------------------------------------------

    internal void OnCommitted(FleetLease lease)
    {
        lock (_gate)
        {
            lease.Committed = true;
        }

        if (lease.Activity is { IsAllDataRequested: true } activity)
        {
            activity.SetTag("engine_client.worker", lease.Worker.Address);
            activity.SetTag("engine_client.fleet.attempts", lease.AttemptCount);
        }
    }

    internal void OnAttemptFailed(FleetLease lease, FleetWorker worker, string why) =>
        RecordFailure(worker, $"session {lease.Session?.Id} failed before commit: {why}");

    internal void OnSessionBroke(FleetLease lease, SessionOutcome outcome)
    {
        if (outcome.Kind == SessionOutcomeKind.TransportFailed && lease.LostReason is null)
        {
            RecordFailure(lease.Worker, $"session {outcome.Diagnostics.SessionId}: {outcome.Exception?.Message}");
        }
    }

    internal ValueTask ReleaseAsync(FleetLease lease, SessionOutcome outcome)
    {
        FleetWorker? close = null;
        var worker = lease.Worker;
        lock (_gate)
        {
            if (!lease.MarkReleased())
            {
                return ValueTask.CompletedTask;
            }

            worker.Sessions.Remove(lease);
            if (outcome.WorkerReusable)
            {
                worker.ConsecutiveFailures = 0;
            }

            if (worker.Draining && worker.InFlight == 0 && !worker.Removed)
            {
                RemoveLocked(worker);
                RebuildLocked();
                close = worker;
            }

            SignalChanged();
        }

        if (close is not null)
        {
            _ = CloseWorkerAsync(close);
        }

        return ValueTask.CompletedTask;
    }

    internal string? Explain(FleetLease lease)
    {
        lock (_gate)
        {
            if (lease.LostReason is { } lost)
            {
                return lost;
            }

            return _disposed ? $"the fleet '{Name}' is closing" : null;
        }
    }

    // ---- Health -----------------------------------------------------------------------------

    private void StartMonitor(FleetWorker worker)
    {
        // The watchers outlive whoever caused the join: they must not run under its span.
        var current = Activity.Current;
        Activity.Current = null;
        try
        {
            _ = MonitorAsync(worker);
        }
        finally
        {
            Activity.Current = current;
        }
    }

    private async Task MonitorAsync(FleetWorker worker)
    {
        var stop = worker.MonitorStop.Token;
        try
        {
            // The first heartbeat at once: the worker's identity and load, and a quick verdict.
            await HeartbeatOnceAsync(worker, stop).ConfigureAwait(false);
            var monitor = new HeartbeatMonitor(
                (timeout, ct) => worker.Client.HeartbeatAsync(timeout, ct),
                _options.HeartbeatInterval,
                _options.HeartbeatTimeout,
                int.MaxValue,
                Time);
            monitor.Answered += heartbeat => OnHeartbeat(worker, heartbeat);
            monitor.Missed += (_, reason) => RecordFailure(worker, "missed a heartbeat: " + reason);
            await monitor.RunAsync(stop).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException)
        {
            // The worker left, or the fleet closed.
        }
    }

    private async Task HeartbeatOnceAsync(FleetWorker worker, CancellationToken cancellationToken, bool probe = false)
    {
        try
        {
            var heartbeat = await worker.Client.HeartbeatAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            OnHeartbeat(worker, heartbeat, probe);
        }
        catch (WorkerTransportException ex)
        {
            RecordFailure(worker, "missed a heartbeat: " + ex.Message, probe);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            RecordFailure(worker, "missed a heartbeat: no answer in time", probe);
        }
        catch (ObjectDisposedException)
        {
            // It left meanwhile.
        }
    }

    /// <summary>An answered heartbeat: the worker's load and incarnation; readmission of an ejected worker whose ejection time is over, or whose probe this was (its timer may fire a little before the deadline, as for a failed probe).</summary>
    private void OnHeartbeat(FleetWorker worker, HeartbeatResult heartbeat, bool probe = false)
    {
        var (identity, incarnation, active, limit) = FleetWorker.Read(heartbeat);
        FleetLease[] committed = [];
        FleetLease[] uncommitted = [];
        string? previous = null;
        var readmitted = false;
        lock (_gate)
        {
            if (worker.Removed)
            {
                return;
            }

            if (worker.Incarnation is not null && worker.Incarnation != incarnation)
            {
                previous = worker.Identity ?? worker.Incarnation;
                var reason = $"worker {worker.Address} restarted: its identity changed from {Show(worker.Incarnation)} to {Show(incarnation)}, and this session was bound to the old incarnation";
                var bound = worker.Sessions.Where(l => l.Incarnation is null || l.Incarnation != incarnation).ToList();
                foreach (var lease in bound)
                {
                    if (lease.Committed)
                    {
                        lease.LostReason = reason;
                    }
                }

                committed = [.. bound.Where(l => l.Committed)];
                uncommitted = [.. bound.Where(l => !l.Committed)];
            }

            if (worker.Incarnation != incarnation)
            {
                worker.Incarnations++;
            }

            worker.Incarnation = incarnation;
            worker.Identity = identity;
            worker.LastHeartbeat = Time.GetTimestamp();
            worker.ReportedActive = active;
            worker.ReportedLimit = limit;
            worker.Others = active is { } reported ? Math.Max(0, reported - worker.InFlight) : 0;
            worker.ConsecutiveFailures = 0;
            if (worker.Ejected && (probe || Time.GetTimestamp() >= worker.EjectedUntil))
            {
                worker.Ejected = false;
                readmitted = true;
            }

            SignalChanged();
        }

        if (previous is not null)
        {
            FleetLog.WorkerRestarted(_logger, Name, worker.Address, previous, identity ?? incarnation, committed.Length);
            foreach (var lease in committed)
            {
                lease.Session?.FailBecauseWorkerLost(lease.LostReason!);
            }

            foreach (var lease in uncommitted)
            {
                lease.Call?.AbandonUncommitted($"worker {worker.Address} restarted");
            }
        }

        if (readmitted)
        {
            FleetLog.WorkerReadmitted(_logger, Name, worker.Address);
            _telemetry.FleetReadmissions.Add(1, _fleetTag);
        }

        if (previous is not null || readmitted)
        {
            RaiseChanged(worker);
        }
    }

    private static string Show(string incarnation) => incarnation.TrimEnd('/');

    /// <summary>Counts a failure of <paramref name="worker"/>; ejects it at the threshold, within the fleet's share.</summary>
    /// <param name="worker">The worker that failed.</param>
    /// <param name="reason">Why, for logs.</param>
    /// <param name="probe">
    /// The failure is the probe at the end of an ejection: the worker is ejected again whatever the
    /// clock says. The probe's timer may fire a little before the high-resolution ejection deadline
    /// (timers tick in milliseconds); without this the worker would stay ejected with no probe left,
    /// never readmitted.
    /// </param>
    private void RecordFailure(FleetWorker worker, string reason, bool probe = false)
    {
        var ejected = false;
        double seconds = 0;
        int failures;
        int ejectedCount = 0, total = 0;
        var limited = false;
        lock (_gate)
        {
            if (worker.Removed || _disposed)
            {
                return;
            }

            worker.ConsecutiveFailures++;
            worker.LastFailure = reason;
            failures = worker.ConsecutiveFailures;
            if (worker.Ejected)
            {
                // A probe after the ejection time failed: ejected again, for longer.
                if (probe || Time.GetTimestamp() >= worker.EjectedUntil)
                {
                    seconds = EjectLocked(worker);
                    ejected = true;
                }
            }
            else if (failures >= _options.FailuresToEject)
            {
                total = _candidates.Length;
                ejectedCount = _candidates.Count(w => w.Ejected);
                var allowed = Math.Max(1, (int)Math.Floor(_options.MaxEjectedShare * total));
                if (ejectedCount + 1 <= allowed)
                {
                    seconds = EjectLocked(worker);
                    ejected = true;
                }
                else
                {
                    limited = true;
                }
            }
        }

        FleetLog.WorkerFailed(_logger, Name, worker.Address, failures, reason);
        if (limited)
        {
            FleetLog.EjectionLimited(_logger, Name, worker.Address, reason, ejectedCount, total);
        }

        if (ejected)
        {
            FleetLog.WorkerEjected(_logger, Name, worker.Address, seconds, worker.Ejections, reason);
            _telemetry.FleetEjections.Add(1, _fleetTag);
            RaiseChanged(worker);
            RefreshResolver();
        }
    }

    private double EjectLocked(FleetWorker worker)
    {
        var wasEjected = worker.Ejected;
        worker.Ejected = true;
        worker.Ejections++;
        worker.ConsecutiveFailures = 0;
        var ticks = Math.Min(_options.BaseEjectionTime.Ticks * worker.Ejections, _options.MaxEjectionTime.Ticks);
        var duration = TimeSpan.FromTicks(ticks);
        worker.EjectedUntil = Time.GetTimestamp() + (long)(duration.TotalSeconds * Time.TimestampFrequency);
        _ = ProbeAfterAsync(worker, duration);
        if (!wasEjected)
        {
            SignalChanged();
        }

        return duration.TotalSeconds;
    }

    /// <summary>When the ejection time is over, a heartbeat probes the worker: an answer readmits it, a miss ejects it again.</summary>
    private async Task ProbeAfterAsync(FleetWorker worker, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, Time, worker.MonitorStop.Token).ConfigureAwait(false);
            await HeartbeatOnceAsync(worker, worker.MonitorStop.Token, probe: true).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    // ---- Closing ----------------------------------------------------------------------------

    private async Task DisposeCoreAsync()
    {
        FleetWorker[] workers;
        lock (_gate)
        {
            _disposed = true;
            workers = [.. _workers.Values];
            SignalChanged();
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _resolved.TrySetResult();
        _resolver?.Dispose();
        foreach (var worker in workers)
        {
            await worker.MonitorStop.CancelAsync().ConfigureAwait(false);
            await worker.Client.DisposeAsync().ConfigureAwait(false);
        }

        _telemetry.Unregister(this);
    }
}
