namespace Engine.Client;

/// <summary>
/// Settings of the connection to one worker: the gRPC channel (message limits, keepalive, flow
/// control, sockets) and its Manage calls. Part of <see cref="WorkerClientOptions"/> and
/// <see cref="WorkerPoolOptions"/>; every property documents its default.
/// </summary>
public sealed class WorkerConnectionOptions
{
    /// <summary>128 MiB: what Spark's engine accepts inbound.</summary>
    internal const int DefaultMaxReceiveMessageSize = 128 * 1024 * 1024;

    /// <summary>4 MiB: the gRPC default most worker servers keep for inbound messages.</summary>
    internal const int DefaultMaxSendMessageSize = 4 * 1024 * 1024;

    /// <summary>
    /// Largest message accepted from the worker, in bytes. Default 128 MiB. Must be at least
    /// 64 KiB.
    /// </summary>
    public int MaxReceiveMessageSize { get; set; } = DefaultMaxReceiveMessageSize;

    /// <summary>
    /// Largest message the worker accepts, in bytes: Init payloads that would not fit are chunked,
    /// and a data batch larger than this is rejected before anything is sent. Default 4 MiB (the
    /// gRPC default); raise it when the worker accepts more, as the reference worker does (128 MiB).
    /// Must be at least 64 KiB.
    /// </summary>
    public int MaxSendMessageSize { get; set; } = DefaultMaxSendMessageSize;

    /// <summary>The shortest <see cref="KeepAlivePingDelay"/> the .NET HTTP/2 client accepts: 1 s.</summary>
    internal static readonly TimeSpan MinKeepAlivePingDelay = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Delay between HTTP/2 keepalive pings, sent only while calls are active: a ping goes out
    /// when nothing arrived from the worker for this long. Default
    /// <see cref="Timeout.InfiniteTimeSpan"/>: no pings. When set, at least 1 s
    /// (1 s); to stay within every mainstream gRPC server's default
    /// limits, more than 5 minutes (for example 10 minutes).
    /// </summary>
    /// <remarks>
    /// <para>
    /// Why no pings by default: gRPC servers limit how often a client may ping while the server
    /// sends nothing, and close the connection of a client that pings more often. gRPC core (the
    /// C++, Python and Ruby servers) accepts one ping per 5 minutes
    /// (<c>grpc.http2.min_ping_interval_without_data_ms</c> = 300000) and, after more than 2 early
    /// pings (<c>grpc.http2.max_ping_strikes</c>), sends GOAWAY ENHANCE_YOUR_CALM "too_many_pings",
    /// which fails every call on the connection. grpc-java (<c>permitKeepAliveTime</c>) and
    /// grpc-go (<c>EnforcementPolicy.MinTime</c>) default to 5 minutes as well. A session that
    /// carries no data for a while (an engine whose input pauses, a sink UDF computing) is exactly
    /// that case: a ping every 60 s ended such a session on a Python worker after about 4 minutes.
    /// Kestrel (the reference worker) enforces no such limit.
    /// </para>
    /// <para>
    /// Nothing is lost by default: the liveness of a worker is the Manage heartbeat's job
    /// (<see cref="WorkerClient.HeartbeatAsync"/>, and the pool's heartbeat monitor), and a worker
    /// on a Unix socket or on loopback that dies closes its socket, which fails its sessions at
    /// once. gRPC's own clients do not ping by default either. Set a delay (above 5 minutes, or
    /// lower the server's limit to match) for a remote worker behind a network that can drop a
    /// connection silently (a host that vanishes, a NAT or firewall that forgets idle
    /// connections).
    /// </para>
    /// </remarks>
    public TimeSpan KeepAlivePingDelay { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// How long a keepalive ping may stay unanswered before the connection is dropped. Default
    /// 20 s; at least 1 s. Used only when <see cref="KeepAlivePingDelay"/> is set.
    /// </summary>
    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Time allowed to establish a connection. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>4 MiB: the default <see cref="Http2InitialStreamWindowSize"/>.</summary>
    internal const int DefaultHttp2InitialStreamWindowSize = 4 * 1024 * 1024;

    /// <summary>
    /// Initial HTTP/2 stream receive window, in bytes: how much output a worker may send on one
    /// session before the engine reads it. Default 4 MiB; <see langword="null"/> keeps the .NET
    /// client's own default (64 KiB, grown by dynamic window scaling up to the runtime's maximum,
    /// 16 MiB unless raised). Must be at least 65535 bytes and at most that maximum.
    /// </summary>
    /// <remarks>
    /// Why 4 MiB: dynamic scaling grows the window only when a window's worth of data takes longer
    /// than a round trip to arrive, which rarely happens over a Unix socket or loopback, where a
    /// round trip takes microseconds; the worker then stays limited to a small window in flight.
    /// Measured against a real worker (docs/performance.md): the runtime default streamed 1 MiB
    /// batches 9% slower over loopback TCP, with the worker waiting a third longer to send;
    /// 1 MiB and 16 MiB windows measured within the noise of 4 MiB. 4 MiB holds a whole batch of
    /// the usual sizes, matches the reference worker's own receive window, and bounds what a slow
    /// reader buffers per session.
    /// </remarks>
    public int? Http2InitialStreamWindowSize { get; set; } = DefaultHttp2InitialStreamWindowSize;

    /// <summary>
    /// Socket send and receive buffer size, in bytes. <see langword="null"/> (default) keeps the
    /// operating system's, with its automatic tuning for TCP. Must be at least 4096 bytes.
    /// </summary>
    /// <remarks>
    /// Measured (docs/performance.md): no size was faster than the operating system's defaults,
    /// and 1 MiB or more over a Unix socket was 9 to 36% slower. Setting a size also turns off
    /// TCP's automatic buffer tuning.
    /// </remarks>
    public int? SocketBufferSize { get; set; }

    /// <summary>Deadline of a Manage shutdown (the worker may settle its sessions first). Default 30 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Attempts of a Manage call that fails because the worker is unavailable (for example, still
    /// starting). Default 1 (no retry). Retries back off exponentially within the call's deadline.
    /// </summary>
    public int ManageAttempts { get; set; } = 1;

    /// <summary>
    /// TLS settings of <c>https://</c> addresses: trusted certificate authorities, the server name
    /// to expect, the client certificate for mutual TLS. Unused for other addresses. Default: the
    /// system's trust store, the address's host name, no client certificate. Never
    /// <see langword="null"/>.
    /// </summary>
    public WorkerTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// Supplies a bearer token sent as <c>authorization: Bearer &lt;token&gt;</c> with every call
    /// (each session's stream, each Manage call), asked before each call so that a refreshed token
    /// is used by the next one. Default <see langword="null"/>: no token.
    /// </summary>
    public WorkerTokenProvider? TokenProvider { get; set; }

    /// <summary>
    /// Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.
    /// Every timeout and interval must be at most 24.8 days (2^31 - 1 ms, the longest wait of a timer or a socket timeout).
    /// Reads the files of <see cref="Tls"/>: one missing, unreadable or without a usable
    /// certificate or key is reported with its setting, its path and what to give instead.
    /// </summary>
    public void Validate()
    {
        const int Min = 64 * 1024;
        if (MaxReceiveMessageSize < Min)
        {
            throw new ArgumentException($"{nameof(MaxReceiveMessageSize)} is {MaxReceiveMessageSize} bytes; it must be at least {Min}.");
        }

        if (MaxSendMessageSize < Min)
        {
            throw new ArgumentException($"{nameof(MaxSendMessageSize)} is {MaxSendMessageSize} bytes; it must be at least {Min}.");
        }

        WorkerClientOptions.RequireAtMostLongest(KeepAlivePingTimeout, nameof(KeepAlivePingTimeout));
        WorkerClientOptions.RequireAtMostLongest(KeepAlivePingDelay, nameof(KeepAlivePingDelay));
        if (KeepAlivePingTimeout != Timeout.InfiniteTimeSpan && KeepAlivePingTimeout < MinKeepAlivePingDelay)
        {
            throw new ArgumentException($"{nameof(KeepAlivePingTimeout)} is {KeepAlivePingTimeout}; it must be at least 1 s (or Timeout.InfiniteTimeSpan).");
        }

        if (KeepAlivePingDelay != Timeout.InfiniteTimeSpan && KeepAlivePingDelay < MinKeepAlivePingDelay)
        {
            throw new ArgumentException($"{nameof(KeepAlivePingDelay)} is {KeepAlivePingDelay}; it must be at least 1 s (or Timeout.InfiniteTimeSpan for no pings).");
        }

        WorkerClientOptions.RequirePositive(ConnectTimeout, nameof(ConnectTimeout));
        WorkerClientOptions.RequirePositive(ShutdownTimeout, nameof(ShutdownTimeout));
        if (ManageAttempts < 1)
        {
            throw new ArgumentException($"{nameof(ManageAttempts)} is {ManageAttempts}; it must be at least 1.");
        }

        if (Http2InitialStreamWindowSize is < 65535)
        {
            throw new ArgumentException($"{nameof(Http2InitialStreamWindowSize)} must be at least 65535 bytes.");
        }

        if (SocketBufferSize is < 4096)
        {
            throw new ArgumentException($"{nameof(SocketBufferSize)} must be at least 4096 bytes.");
        }

        ArgumentNullException.ThrowIfNull(Tls, nameof(Tls));
        if (Tls.IsConfigured)
        {
            Tls.Validate();
        }
    }

    internal WorkerConnectionOptions Clone()
    {
        var clone = (WorkerConnectionOptions)MemberwiseClone();
        clone.Tls = Tls?.Clone()!;
        return clone;
    }
}
