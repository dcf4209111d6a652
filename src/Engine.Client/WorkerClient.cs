using System.Diagnostics;
using Engine.Client.Diagnostics;
using Engine.Client.Management;
using Engine.Client.Sessions;
using Engine.Client.Transport;
using Grpc.Core;
using Grpc.Net.Client;

namespace Engine.Client;

/// <summary>
/// A long-lived, thread-safe client for one worker: it owns the single gRPC channel to the worker,
/// opens sessions on it and sends Manage calls (heartbeat, shutdown). Create one per worker and
/// keep it; dispose it when done with the worker (sessions still open then fail with a transport
/// failure).
/// </summary>
/// <example>
/// <code>
/// await using var worker = WorkerClient.Create("unix:///tmp/worker.sock");
/// await using var session = await worker.OpenSessionAsync();
/// await session.InitAsync(new SessionInit(payload, "builtin"));
/// await foreach (var batch in session.ProcessAsync(input)) { ... }
/// var outcome = await session.CloseAsync();
/// </code>
/// </example>
public sealed class WorkerClient : WorkerSessionSource
{
    private readonly GrpcChannel? _channel;
    private readonly CallInvoker _invoker;
    private readonly WorkerClientOptions _options;
    private readonly ManageClient _manage;
    private SessionTelemetry? _sessionTelemetry;
    private int _disposed;

    private WorkerClient(WorkerAddress? address, GrpcChannel? channel, CallInvoker invoker, string name, WorkerClientOptions options)
    {
        Address = address;
        Name = name;
        _channel = channel;
        _invoker = invoker;
        _options = options;
        _manage = new ManageClient(invoker, name, options);
    }

    /// <summary>The worker's address, or <see langword="null"/> for a client over a custom call invoker.</summary>
    public WorkerAddress? Address { get; }

    /// <summary>The worker's name in errors and logs (its address by default).</summary>
    public override string Name { get; }

    /// <summary>
    /// A copy of the options in effect: changing it changes nothing (the client validated and kept
    /// its own copy when it was created). Each read returns a new copy.
    /// </summary>
    public WorkerClientOptions Options => _options.Clone();

    /// <summary>The call invoker of the channel (a fleet opens its own calls on it).</summary>
    internal CallInvoker Invoker => _invoker;

    /// <summary>Creates a client for the worker at <paramref name="address"/> (<c>unix:///path</c> or <c>http://host:port</c>).</summary>
    /// <exception cref="FormatException">The address is malformed; the message shows the accepted forms.</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static WorkerClient Create(string address, WorkerClientOptions? options = null) =>
        Create(WorkerAddress.Parse(address), options);

    /// <summary>Creates a client for the worker at <paramref name="address"/>.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static WorkerClient Create(WorkerAddress address, WorkerClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        var effective = (options ?? new WorkerClientOptions()).Clone();
        effective.Validate();
        var channel = WorkerChannelFactory.Create(address, effective);
        return new WorkerClient(address, channel, channel.CreateCallInvoker(), address.ToString(), effective);
    }

    /// <summary>A client over any gRPC call invoker (in-process transports, interceptors).</summary>
    internal static WorkerClient Create(CallInvoker invoker, string name, WorkerClientOptions? options = null)
    {
        var effective = (options ?? new WorkerClientOptions()).Clone();
        effective.Validate();
        return new WorkerClient(null, null, invoker, name, effective);
    }

    /// <summary>
    /// Opens a session on this worker. It completes at once: nothing goes on the wire until
    /// <see cref="WorkerSession.InitAsync"/>.
    /// </summary>
    /// <param name="options">Session settings; <see langword="null"/> uses <see cref="WorkerClientOptions.Session"/>.</param>
    /// <param name="cancellationToken">Not used: opening does no I/O.</param>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public override ValueTask<WorkerSession> OpenSessionAsync(SessionOptions? options = null, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(OpenSession(options, lease: null));

    /// <summary>The meters and tags of this client's sessions: the same for all of them, so built once.</summary>
    private SessionTelemetry SessionTelemetry() =>
        Volatile.Read(ref _sessionTelemetry) ?? Interlocked.CompareExchange(ref _sessionTelemetry, new SessionTelemetry(EngineClientTelemetry.For(_options.MeterFactory), _options.PoolName), null) ?? _sessionTelemetry!;

    internal WorkerSession OpenSession(SessionOptions? options, ISessionLease? lease, Activity? started = null)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return new WorkerSession(
            _invoker,
            Name,
            options ?? _options.Session,
            _options.Connection.MaxSendMessageSize,
            _options.TimeProvider,
            _options.LoggerFactory,
            lease,
            started is null ? SessionTelemetry() : new SessionTelemetry(EngineClientTelemetry.For(_options.MeterFactory), _options.PoolName) { Started = started });
    }

    /// <summary>
    /// Asks the worker for a heartbeat: proves its request thread answers, and returns its metrics.
    /// </summary>
    /// <param name="timeout">Deadline; <see langword="null"/> uses <see cref="WorkerClientOptions.HeartbeatTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="WorkerTransportException">The worker is unreachable, did not answer in time, or answered with the wrong branch.</exception>
    public Task<HeartbeatResult> HeartbeatAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _manage.HeartbeatAsync(timeout, cancellationToken);
    }

    /// <summary>A heartbeat that only asks whether the worker is up yet: not recorded as a Manage call.</summary>
    internal Task<HeartbeatResult> ProbeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _manage.HeartbeatAsync(timeout, cancellationToken, probe: true);
    }

    /// <summary>
    /// Tells the worker the engine intends no further sessions on it.
    /// </summary>
    /// <param name="reason">A diagnostic reason, or <see langword="null"/>.</param>
    /// <param name="cancelSessions">True: the worker cancels every in-flight session at once, then exits. False: they complete normally.</param>
    /// <param name="timeout">Deadline; <see langword="null"/> uses <see cref="WorkerConnectionOptions.ShutdownTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="WorkerTransportException">The worker is unreachable, did not answer in time, or answered with the wrong branch.</exception>
    public Task<ShutdownResult> ShutdownAsync(string? reason = null, bool cancelSessions = false, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _manage.ShutdownAsync(reason, cancelSessions, timeout, cancellationToken);
    }

    /// <summary>Closes the channel; sessions still open fail with a transport failure.</summary>
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _channel?.Dispose();
        }
    }

    /// <inheritdoc cref="Dispose"/>
    public override ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
