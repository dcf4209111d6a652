namespace Engine.Client;

/// <summary>
/// The engine's limits on what a worker specification may ask for. The specification's own
/// timeouts are capped by these values, as Spark's engine does.
/// </summary>
public sealed class WorkerSpecificationOptions
{
    /// <summary>Used when the specification sets no <c>initialization_timeout_ms</c>: 10 s.</summary>
    internal static readonly TimeSpan DefaultInitializationTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Used when the specification sets no <c>graceful_termination_timeout_ms</c>: 5 s.</summary>
    internal static readonly TimeSpan DefaultGracefulTerminationTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest initialization timeout a specification gets; a larger value (or a default
    /// above it) is lowered to this. Default 30 s. Must be positive.
    /// </summary>
    public TimeSpan MaxInitializationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest SIGTERM grace a specification gets before SIGKILL; a larger value (or a default
    /// above it) is lowered to this. Default 30 s. Must not be negative.
    /// </summary>
    public TimeSpan MaxGracefulTerminationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (MaxInitializationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(MaxInitializationTimeout)} is {MaxInitializationTimeout}; it must be positive.");
        }

        if (MaxGracefulTerminationTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(MaxGracefulTerminationTimeout)} is {MaxGracefulTerminationTimeout}; it must not be negative.");
        }
    }

    internal WorkerSpecificationOptions Clone() => (WorkerSpecificationOptions)MemberwiseClone();
}
