using System.Globalization;

namespace Engine.Client.Management;

/// <summary>
/// Sends a heartbeat every interval, each with its own deadline, and declares the worker lost after
/// a number of misses in a row. Every timer runs on a <see cref="TimeProvider"/>.
/// </summary>
internal sealed class HeartbeatMonitor
{
    private readonly Func<TimeSpan, CancellationToken, Task<HeartbeatResult>> _probe;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _timeout;
    private readonly int _maxMissed;
    private readonly TimeProvider _time;

    public HeartbeatMonitor(
        Func<TimeSpan, CancellationToken, Task<HeartbeatResult>> probe,
        TimeSpan interval,
        TimeSpan timeout,
        int maxMissed,
        TimeProvider time)
    {
        _probe = probe;
        _interval = interval;
        _timeout = timeout;
        _maxMissed = maxMissed;
        _time = time;
    }

    /// <summary>An answered heartbeat.</summary>
    public event Action<HeartbeatResult>? Answered;

    /// <summary>
    /// A missed heartbeat: how many in a row, and why (the deadline, or the call's own failure such
    /// as <c>gRPC status Unavailable</c>), never the monitor's own cancellation of the call.
    /// </summary>
    public event Action<int, string>? Missed;

    /// <summary>
    /// Runs until <paramref name="stop"/> is cancelled (returns <see langword="null"/>) or the worker
    /// misses too many heartbeats (returns why, for example
    /// <c>missed 3 heartbeats in a row (last answer 6.1 s ago; ...)</c>).
    /// </summary>
    public async Task<string?> RunAsync(CancellationToken stop)
    {
        var lastAnswer = _time.GetTimestamp();
        var missed = 0;
        try
        {
            using var timer = new PeriodicTimer(_interval, _time);
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                using var deadline = new CancellationTokenSource(_timeout, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, deadline.Token);
                try
                {
                    var heartbeat = await _probe(_timeout, linked.Token).ConfigureAwait(false);
                    lastAnswer = _time.GetTimestamp();
                    missed = 0;
                    Answered?.Invoke(heartbeat);
                }
                catch (Exception ex) when (!stop.IsCancellationRequested && ex is WorkerTransportException or OperationCanceledException)
                {
                    missed++;
                    var why = Describe(ex, deadline.IsCancellationRequested);
                    Missed?.Invoke(missed, why);
                    if (missed >= _maxMissed)
                    {
                        var since = _time.GetElapsedTime(lastAnswer).TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
                        return $"missed {missed} heartbeats in a row (last answer {since} s ago; {why})";
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        return null;
    }

    /// <summary>
    /// Why a heartbeat was missed. The deadline cancels the call through its token, which the call
    /// reports as a cancellation by its caller; that is the deadline, and is said so.
    /// </summary>
    private string Describe(Exception error, bool deadlineExpired) =>
        deadlineExpired || error is WorkerTransportException { Reason: TransportFailureReason.Timeout }
            ? string.Create(CultureInfo.InvariantCulture, $"deadline exceeded: no answer within {_timeout.TotalSeconds:0.###} s")
            : error.Message;
}
