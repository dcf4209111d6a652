using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Client;

/// <summary>
/// Time limits of a worker specification's environment steps (verification, installation,
/// cleanup). A step still running at its limit is killed, with its children, and reported.
/// </summary>
public sealed class WorkerEnvironmentOptions
{
    /// <summary>Limit of <c>environment_verification</c>. Default 60 s. A verification that times out counts as failed: installation runs.</summary>
    public TimeSpan VerificationTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Limit of <c>installation</c>. Default 10 min. An installation that times out fails the setup.</summary>
    public TimeSpan InstallationTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Limit of <c>environment_cleanup</c>. Default 60 s.</summary>
    public TimeSpan CleanupTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Lines of a step's stdout and stderr kept for error messages. Default 64.</summary>
    public int OutputTailLines { get; set; } = 64;

    /// <summary>Characters of a step's stdout and stderr kept for error messages. Default 16384.</summary>
    public int OutputTailChars { get; set; } = 16 * 1024;

    /// <summary>Clock for every time limit: the pool's <see cref="WorkerPoolOptions.TimeProvider"/>.</summary>
    internal TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Logging: the pool's <see cref="WorkerPoolOptions.LoggerFactory"/>.</summary>
    internal ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>
    /// Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.
    /// Every timeout and interval must be at most 24.8 days (2^31 - 1 ms, the longest wait of a timer or a socket timeout).
    /// </summary>
    public void Validate()
    {
        WorkerClientOptions.RequireFinitePositive(VerificationTimeout, nameof(VerificationTimeout));
        WorkerClientOptions.RequireFinitePositive(InstallationTimeout, nameof(InstallationTimeout));
        WorkerClientOptions.RequireFinitePositive(CleanupTimeout, nameof(CleanupTimeout));
        if (OutputTailLines < 1)
        {
            throw new ArgumentException($"{nameof(OutputTailLines)} is {OutputTailLines}; it must be at least 1.");
        }

        if (OutputTailChars < 80)
        {
            throw new ArgumentException($"{nameof(OutputTailChars)} is {OutputTailChars}; it must be at least 80.");
        }

        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
    }

    internal WorkerEnvironmentOptions Clone() => (WorkerEnvironmentOptions)MemberwiseClone();
}
