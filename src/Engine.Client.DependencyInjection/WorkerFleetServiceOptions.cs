namespace Engine.Client.DependencyInjection;

/// <summary>
/// How a container builds one named <see cref="WorkerFleet"/> of remote workers it does not launch,
/// registered with <c>services.AddWorkerFleet(name)</c>. Bind it from configuration
/// (<c>.BindConfiguration("EngineClient:Fleets:udf")</c>) or set it in code (<c>.Configure(o =&gt; ...)</c>);
/// it is validated when the host starts.
/// </summary>
/// <remarks>
/// Configuration shape: either <c>Addresses</c> (an array: <c>"Addresses": [ "http://10.0.0.5:7070", "unix:///run/w.sock" ]</c>,
/// or the keys <c>Addresses:0</c>, <c>Addresses:1</c>, ...) or <c>Dns</c> (<c>"dns:///udf-workers.ns.svc.cluster.local:7070"</c>),
/// <c>StartWithHost</c>, and a <c>Fleet</c> section with the properties of <see cref="WorkerFleetOptions"/>
/// (durations as <c>hh:mm:ss.fff</c>, enums by name: <c>"Fleet": { "Placement": "RoundRobin", "FailuresToEject": 2, "BaseEjectionTime": "00:00:30" }</c>).
/// </remarks>
public sealed class WorkerFleetServiceOptions
{
    /// <summary>
    /// The workers' addresses (<c>unix:///absolute/path.sock</c>, <c>http://host:port</c>,
    /// <c>https://host:port</c>): a static fleet (<see cref="WorkerFleet.Create(IEnumerable{string}, WorkerFleetOptions?)"/>).
    /// Default empty; either this or <see cref="Dns"/> is required, not both.
    /// </summary>
    public IList<string> Addresses { get; } = new List<string>();

    /// <summary>
    /// A DNS target (<c>dns:///name:port</c> for A/AAAA records, <c>dns:///name</c> for SRV records,
    /// <c>dns://server:port/name[:port]</c> to ask a given DNS server), resolved again every
    /// <see cref="WorkerFleetOptions.ResolveInterval"/> (<see cref="WorkerFleet.CreateFromDns"/>).
    /// Default <see langword="null"/>; either this or <see cref="Addresses"/> is required, not both.
    /// </summary>
    public string? Dns { get; set; }

    /// <summary>
    /// The fleet's settings. Its <see cref="WorkerFleetOptions.LoggerFactory"/>,
    /// <see cref="WorkerFleetOptions.TimeProvider"/> and <see cref="WorkerFleetOptions.MeterFactory"/>,
    /// left at their defaults, are replaced by the container's <c>ILoggerFactory</c>,
    /// <see cref="TimeProvider"/> and <c>IMeterFactory</c> when it has them; its
    /// <see cref="WorkerFleetOptions.Name"/>, left at its default <c>fleet</c>, becomes the
    /// registration's name (the default registration keeps <c>fleet</c>).
    /// </summary>
    public WorkerFleetOptions Fleet { get; set; } = new();

    /// <summary>
    /// Whether the host's start creates the fleet and waits for its discovery to answer once (at once
    /// for <see cref="Addresses"/>; a failed first DNS resolution does not fail the start: the fleet
    /// keeps resolving, and <see cref="WorkerFleet.ResolveError"/> says why), and the host's stop
    /// closes the fleet: new requests are refused and every worker's channel closes, as
    /// <see cref="WorkerFleet.DisposeAsync"/> does. Default <see langword="false"/>: the fleet is
    /// created on first use and closed when the container is disposed. Either way the workers are not
    /// shut down: they belong to the fleet, not to this process.
    /// </summary>
    public bool StartWithHost { get; set; }
}
