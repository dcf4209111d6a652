namespace Engine.Client;

/// <summary>
/// How the engine launches, watches and stops worker processes. The worker specification
/// decides what to run and its timeouts; these settings decide the engine's side. Clock and
/// logging come from <see cref="Client"/> (<see cref="WorkerClientOptions.TimeProvider"/>,
/// <see cref="WorkerClientOptions.LoggerFactory"/>).
/// </summary>
public sealed class WorkerProcessOptions
{
    /// <summary>
    /// Where private socket directories are created (each worker gets a fresh one, mode 0700, with
    /// its socket at <c>&lt;dir&gt;/w.sock</c>). Default <c>/tmp</c>: short, because Linux limits a
    /// socket path to 107 bytes.
    /// </summary>
    public string SocketDirectory { get; set; } = "/tmp";

    /// <summary>
    /// Deadline of each readiness heartbeat while a worker starts. Default 2 s. Attempts repeat
    /// until one is answered or the specification's initialization timeout expires.
    /// </summary>
    public TimeSpan ReadinessProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Pause between failed readiness attempts. Default 50 ms.</summary>
    public TimeSpan ReadinessPollInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Deadline of the Manage shutdown sent when a ready worker is stopped, before SIGTERM.
    /// Default 2 s.
    /// </summary>
    public TimeSpan ShutdownRequestTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long to wait for a process to disappear after SIGKILL (and for its output pipes to
    /// close) before giving up on it. Default 5 s.
    /// </summary>
    public TimeSpan KillWaitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Start each worker in its own process group (through <c>setsid</c>, when the system has it),
    /// so that SIGTERM and SIGKILL reach the worker's children too, such as the inner worker of a
    /// launcher script, and so that the group is killed when the engine process dies (the worker
    /// itself gets a parent-death signal either way, on Linux with util-linux <c>setpriv</c>).
    /// Default <see langword="true"/>.
    /// </summary>
    public bool UseProcessGroup { get; set; } = true;

    /// <summary>Lines of a worker's stdout and stderr kept for error messages. Default 64.</summary>
    public int OutputTailLines { get; set; } = 64;

    /// <summary>Characters of a worker's stdout and stderr kept for error messages. Default 16384.</summary>
    public int OutputTailChars { get; set; } = 16 * 1024;

    /// <summary>
    /// The client of each launched worker: built by the pool from its root options
    /// (<see cref="WorkerPoolOptions.Connection"/>, heartbeat deadline, session defaults, clock,
    /// logging, meters).
    /// </summary>
    internal WorkerClientOptions Client { get; set; } = new();

    /// <summary>
    /// Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.
    /// Every timeout and interval must be at most 24.8 days (2^31 - 1 ms, the longest wait of a timer or a socket timeout).
    /// </summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(SocketDirectory) || !Path.IsPathFullyQualified(SocketDirectory))
        {
            throw new ArgumentException($"{nameof(SocketDirectory)} is '{SocketDirectory}'; it must be an absolute directory path, e.g. /tmp.");
        }

        WorkerClientOptions.RequireFinitePositive(ReadinessProbeTimeout, nameof(ReadinessProbeTimeout));
        WorkerClientOptions.RequireFinitePositive(ShutdownRequestTimeout, nameof(ShutdownRequestTimeout));
        WorkerClientOptions.RequireFinitePositive(KillWaitTimeout, nameof(KillWaitTimeout));
        WorkerClientOptions.RequireAtMostLongest(ReadinessPollInterval, nameof(ReadinessPollInterval));
        if (ReadinessPollInterval < TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(ReadinessPollInterval)} is {ReadinessPollInterval}; it must not be negative.");
        }

        if (OutputTailLines < 1)
        {
            throw new ArgumentException($"{nameof(OutputTailLines)} is {OutputTailLines}; it must be at least 1.");
        }

        if (OutputTailChars < 80)
        {
            throw new ArgumentException($"{nameof(OutputTailChars)} is {OutputTailChars}; it must be at least 80.");
        }

        ArgumentNullException.ThrowIfNull(Client, nameof(Client));
        Client.Validate();
    }

    /// <summary>
    /// Called with the socket path (or <see langword="null"/> for TCP) after the endpoint was made and
    /// before the process starts; the conformance kit's process checks place a stale socket there.
    /// </summary>
    internal Action<string?>? BeforeStart { get; set; }

    /// <summary>
    /// Called with the whole command line (the resolved executable, the runner's arguments, then
    /// <c>--id</c> and <c>--connection</c>); the process runs what it returns. The conformance kit's
    /// process checks append unknown flags, or start the worker through a parent of their own.
    /// </summary>
    internal Func<IReadOnlyList<string>, IReadOnlyList<string>>? AdjustCommandLine { get; set; }

    internal WorkerProcessOptions Clone()
    {
        var clone = (WorkerProcessOptions)MemberwiseClone();
        clone.Client = Client.Clone();
        return clone;
    }
}
