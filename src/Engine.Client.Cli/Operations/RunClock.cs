using System.Diagnostics;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// The time of one run: started before anything is read or connected, with the <c>--timeout</c>
/// deadline armed; remembers what the run was doing when the deadline expired.
/// </summary>
internal sealed class RunClock : IDisposable
{
    private readonly CancellationTokenSource _deadline = new();
    private readonly CancellationTokenRegistration _atDeadline;
    private string? _stageAtDeadline;

    private RunClock(TimeSpan? timeout, RunState state)
    {
        Timeout = timeout;
        Started = Stopwatch.GetTimestamp();
        _atDeadline = _deadline.Token.Register(() => _stageAtDeadline = state.Stage);
        if (timeout is { } value)
        {
            _deadline.CancelAfter(value);
        }
    }

    /// <summary>The run's bound, or <see langword="null"/> for none.</summary>
    public TimeSpan? Timeout { get; }

    /// <summary>When the run started (a <see cref="Stopwatch"/> timestamp).</summary>
    public long Started { get; }

    /// <summary>Cancelled when <see cref="Timeout"/> expires.</summary>
    public CancellationToken Deadline => _deadline.Token;

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(Started);

    /// <summary>The expired timeout and what the run was doing then, or <see langword="null"/> while it has not expired.</summary>
    public RunTimeout? Expired => _deadline.IsCancellationRequested && Timeout is { } timeout
        ? new RunTimeout(timeout, Volatile.Read(ref _stageAtDeadline) ?? "starting")
        : null;

    /// <summary>Starts the clock; the stage at the deadline is read from <paramref name="state"/>.</summary>
    public static RunClock Start(TimeSpan? timeout, RunState state) => new(timeout, state);

    public void Dispose()
    {
        _atDeadline.Dispose();
        _deadline.Dispose();
    }
}
