using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Client;

/// <summary>
/// Settings of a <see cref="WorkerClient"/>, the root of its options: the connection to the worker
/// (<see cref="Connection"/>), heartbeat deadline, session defaults, and the logging, clock and
/// meters everything under the client uses. Every property documents its default; set them before
/// creating the client, which takes a validated copy (<see cref="Validate"/>).
/// </summary>
public sealed class WorkerClientOptions
{
    /// <summary>The connection to the worker: message limits, keepalive, flow control, Manage calls. Never <see langword="null"/>.</summary>
    public WorkerConnectionOptions Connection { get; set; } = new();

    /// <summary>Deadline of a Manage heartbeat. Default 5 s.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Defaults for sessions opened on this client. Never <see langword="null"/>.</summary>
    public SessionOptions Session { get; set; } = new();

    /// <summary>Logging. Default <see cref="NullLoggerFactory.Instance"/>.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Clock for every timeout and deadline. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Creates the meter (named <see cref="EngineClientDiagnostics.MeterName"/>) that this client's
    /// sessions and Manage calls record on; a dependency-injection container's factory, typically.
    /// Default <see langword="null"/>: a meter shared by the process.
    /// </summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>The name of the pool this client's worker belongs to, tagged on its measurements; <see langword="null"/> outside a pool.</summary>
    internal string? PoolName { get; set; }

    /// <summary>
    /// Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.
    /// Every timeout and interval must be at most 24.8 days (2^31 - 1 ms, the longest wait of a timer or a socket timeout).
    /// Reads the files of <see cref="WorkerConnectionOptions.Tls"/>: one missing, unreadable or
    /// without a usable certificate or key is reported with its setting, its path and what to give
    /// instead.
    /// </summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Connection, nameof(Connection));
        Connection.Validate();
        RequirePositive(HeartbeatTimeout, nameof(HeartbeatTimeout));
        ArgumentNullException.ThrowIfNull(Session, nameof(Session));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        Session.Validate(Connection.MaxSendMessageSize);
    }

    /// <summary>
    /// The longest timeout or interval a setting takes: 2^31 - 1 ms, about 24.8 days. Every such
    /// setting ends up in a timer, a socket timeout or a cancellable wait, and the shortest of
    /// their limits is this one; a longer value would fail later, inside, with an
    /// <see cref="ArgumentOutOfRangeException"/> instead of naming the setting.
    /// </summary>
    internal static readonly TimeSpan LongestTimeout = TimeSpan.FromMilliseconds(int.MaxValue);

    internal static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException($"{name} is {value}; it must be positive (or Timeout.InfiniteTimeSpan).");
        }

        RequireAtMostLongest(value, name);
    }

    /// <summary>Refuses a <paramref name="value"/> that is not positive (<see cref="Timeout.InfiniteTimeSpan"/> included) or over <see cref="LongestTimeout"/>, naming the setting.</summary>
    internal static void RequireFinitePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{name} is {value}; it must be positive.");
        }

        RequireAtMostLongest(value, name);
    }

    /// <summary>Refuses a finite <paramref name="value"/> over <see cref="LongestTimeout"/>, naming the setting.</summary>
    internal static void RequireAtMostLongest(TimeSpan value, string name)
    {
        if (value > LongestTimeout && value != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException($"{name} is {value}; it must be at most 24.8 days (2^31 - 1 ms, the longest wait of a timer or a socket timeout), or Timeout.InfiniteTimeSpan where that is allowed.");
        }
    }

    internal WorkerClientOptions Clone()
    {
        var clone = (WorkerClientOptions)MemberwiseClone();
        clone.Connection = Connection.Clone();
        clone.Session = Session.Clone();
        return clone;
    }
}
