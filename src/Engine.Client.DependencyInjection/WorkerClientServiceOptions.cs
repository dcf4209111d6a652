namespace Engine.Client.DependencyInjection;

/// <summary>
/// How a container builds one named <see cref="WorkerClient"/> to a worker it does not launch,
/// registered with <c>services.AddWorkerClient(name)</c>. Bind it from configuration or set it in
/// code; it is validated when the host starts.
/// </summary>
public sealed class WorkerClientServiceOptions
{
    /// <summary>
    /// The worker's address: <c>unix:///absolute/path.sock</c> or <c>http://host:port</c>. Required;
    /// default <see langword="null"/>.
    /// </summary>
    public string? Address { get; set; }

    /// <summary>
    /// The client's settings. Its <see cref="WorkerClientOptions.LoggerFactory"/> and
    /// <see cref="WorkerClientOptions.TimeProvider"/>, left at their defaults, are replaced by the
    /// container's <c>ILoggerFactory</c> and <see cref="TimeProvider"/> when it has them.
    /// </summary>
    public WorkerClientOptions Client { get; set; } = new();
}
