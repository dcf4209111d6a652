namespace Engine.Client.Cli.Operations;

/// <summary>What <c>engine-client run</c> was asked to do, parsed and checked.</summary>
internal sealed record RunRequest
{
    /// <summary>The running worker to run on (<c>--worker</c>), or <see langword="null"/> when <see cref="Specification"/> is given.</summary>
    public WorkerAddress? Worker { get; init; }

    /// <summary>The worker specification to launch a worker from for the run (<c>--spec</c>); it is stopped after.</summary>
    public WorkerSpecification? Specification { get; init; }

    /// <summary>Whether the run launches its own worker.</summary>
    public bool Launches => Specification is not null;

    /// <summary>
    /// The run's session source: a client for <see cref="Worker"/>, or a pool that launches one
    /// worker from <see cref="Specification"/>, keeps none idle and cancels its sessions when
    /// disposed. The caller disposes it.
    /// </summary>
    public WorkerSessionSource OpenSource()
    {
        if (Specification is { } specification)
        {
            return WorkerPool.Create(specification, new WorkerPoolOptions
            {
                MaxIdleWorkers = 0,
                CancelSessionsOnDispose = true,
                Connection = BuildConnectionOptions(),
                Session = BuildSessionOptions(),
            });
        }

        return WorkerClient.Create(Worker ?? throw new InvalidOperationException("A run needs a worker address or a specification."), BuildClientOptions());
    }

    /// <summary>The payload format tag (<c>Init.udf.format</c>).</summary>
    public required string Format { get; init; }

    /// <summary>The UDF payload bytes (empty when none was given).</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }

    public IReadOnlyDictionary<string, string> SessionConf { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> TaskContext { get; init; } = new Dictionary<string, string>();

    /// <summary>Payload chunk size; when set, a payload larger than it is always chunked.</summary>
    public int? ChunkSize { get; init; }

    /// <summary>The worker's inbound message limit (default 4 MiB).</summary>
    public int MaxMessageSize { get; init; } = new WorkerClientOptions().Connection.MaxSendMessageSize;

    /// <summary>Bound on the whole run, and cap of the session's protocol timeouts; <see langword="null"/> for none.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>The keepalive ping delay (<c>--keepalive</c>); <see langword="null"/> keeps the SDK default (no pings).</summary>
    public TimeSpan? KeepAlive { get; init; }

    /// <summary>Output rows (or batches) kept to show as a table when no output file is given.</summary>
    public int PreviewLimit { get; init; } = 20;

    /// <summary>
    /// The session's timeouts: the SDK defaults (Init response 30 s, idle 30 s), each capped at
    /// <see cref="Timeout"/>, so that no single protocol wait outlasts the run; and the Cancel
    /// acknowledgement grace: 2 s, or with a timeout a tenth of it between 100 ms and 2 s, so that
    /// a run whose timeout expired ends soon after.
    /// </summary>
    public SessionOptions BuildSessionOptions()
    {
        var options = new SessionOptions();
        if (Timeout is { } timeout)
        {
            options.InitResponseTimeout = Min(options.InitResponseTimeout, timeout);
            options.IdleTimeout = Min(options.IdleTimeout, timeout);
            options.CancelAcknowledgementTimeout = CancelGrace(timeout);
        }

        options.PayloadChunkSize = ChunkSize;
        return options;
    }

    /// <summary>The connection settings: the worker's message limit, the keepalive, a connect timeout capped at <see cref="Timeout"/>.</summary>
    public WorkerConnectionOptions BuildConnectionOptions()
    {
        var options = new WorkerConnectionOptions { MaxSendMessageSize = MaxMessageSize };
        if (KeepAlive is { } keepAlive)
        {
            options.KeepAlivePingDelay = keepAlive;
        }

        if (Timeout is { } timeout)
        {
            options.ConnectTimeout = Min(options.ConnectTimeout, timeout);
        }

        return options;
    }

    /// <summary>The client settings: <see cref="BuildConnectionOptions"/> and <see cref="BuildSessionOptions"/>.</summary>
    public WorkerClientOptions BuildClientOptions() => new()
    {
        Connection = BuildConnectionOptions(),
        Session = BuildSessionOptions(),
    };

    /// <summary>The Init sent to the worker.</summary>
    public SessionInit BuildInit()
    {
        var init = new SessionInit(Payload, Format);
        foreach (var (key, value) in SessionConf)
        {
            init.SessionConf[key] = value;
        }

        foreach (var (key, value) in TaskContext)
        {
            init.TaskContext[key] = value;
        }

        if (ChunkSize is { } chunk && Payload.Length > chunk)
        {
            init.Chunking = PayloadChunking.Always;
        }

        return init;
    }

    /// <summary>A tenth of <paramref name="timeout"/>, at least 100 ms, at most 2 s.</summary>
    public static TimeSpan CancelGrace(TimeSpan timeout) =>
        TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 10, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(2).Ticks));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a <= b ? a : b;
}
