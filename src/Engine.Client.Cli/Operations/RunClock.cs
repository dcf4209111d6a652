using System.Diagnostics;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// The time of one run: started before anything is read or connected, with the <c>--timeout</c>
/// deadline armed; remembers what the run was doing when the deadline expired.
/// </summary>
internal sealed class RunClock : IDisposable
{
    private readonly CancellationTokenSource _deadline = new();
    private readonly ITimer? _timer;
    private string? _stageAtDeadline;

    private RunClock(TimeSpan? timeout, RunState state)
    {
        Timeout = timeout;
        Started = Stopwatch.GetTimestamp();
        if (timeout is { } value)
        {
            // The stage is read before the token is cancelled: cancelling runs the callbacks of
            // every linked source first (in reverse order of registration), and those move the
            // run on to "closing the session" before a callback registered here would run.
            _timer = TimeProvider.System.CreateTimer(
                _ =>
                {
                    Volatile.Write(ref _stageAtDeadline, state.Stage);
                    try
                    {
                        _deadline.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // The run ended as the deadline came.
                    }
                },
                null,
                value,
                global::System.Threading.Timeout.InfiniteTimeSpan);
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
        _timer?.Dispose();
        _deadline.Dispose();
    }
}
