namespace Engine.Client.DependencyInjection;

/// <summary>
/// How a container builds one named <see cref="WorkerPool"/>, registered with
/// <c>services.AddWorkerPool(name)</c>. Bind it from configuration
/// (<c>.BindConfiguration("EngineClient:Pools:udf")</c>) or set it in code (<c>.Configure(o =&gt; ...)</c>);
/// it is validated when the host starts.
/// </summary>
/// <remarks>
/// Configuration shape: <c>SpecificationPath</c>, <c>StartWithHost</c>, <c>WorkersAtStart</c> and a
/// <c>Pool</c> section with the properties of <see cref="WorkerPoolOptions"/> (durations as
/// <c>hh:mm:ss.fff</c>, for example <c>"Pool": { "MaxIdleWorkers": 2, "HeartbeatInterval": "00:00:02" }</c>).
/// </remarks>
public sealed class WorkerPoolServiceOptions
{
    /// <summary>
    /// Path of the worker specification file (protobuf JSON of <c>UDFWorkerSpecification</c>), read
    /// when the pool is created. Used when <see cref="Specification"/> is <see langword="null"/>.
    /// Default <see langword="null"/>; one of the two is required.
    /// </summary>
    public string? SpecificationPath { get; set; }

    /// <summary>
    /// The worker specification, set in code; takes precedence over <see cref="SpecificationPath"/>.
    /// Default <see langword="null"/>.
    /// </summary>
    public WorkerSpecification? Specification { get; set; }

    /// <summary>
    /// The pool's settings. Its <see cref="WorkerPoolOptions.LoggerFactory"/> and
    /// <see cref="WorkerPoolOptions.TimeProvider"/>, left at their defaults, are replaced by the
    /// container's <c>ILoggerFactory</c> and <see cref="TimeProvider"/> when it has them; its
    /// <see cref="WorkerPoolOptions.Name"/>, left <see langword="null"/>, becomes the registration's
    /// name (or <c>default</c>).
    /// </summary>
    public WorkerPoolOptions Pool { get; set; } = new();

    /// <summary>
    /// Whether the host's start creates the pool and launches <see cref="WorkersAtStart"/> workers (a
    /// launch failure fails the host's start), and the host's stop closes the pool: new requests are
    /// refused and every worker is stopped as <see cref="WorkerPool.DisposeAsync"/> does, within the
    /// host's shutdown timeout. Default <see langword="false"/>: the pool is created on first use and
    /// closed when the container is disposed.
    /// </summary>
    public bool StartWithHost { get; set; }

    /// <summary>Workers launched when the host starts, with <see cref="StartWithHost"/>. Default 1; 0 creates the pool without launching.</summary>
    public int WorkersAtStart { get; set; } = 1;
}
