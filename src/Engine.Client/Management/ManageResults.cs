namespace Engine.Client;

/// <summary>A worker's answer to a Manage heartbeat.</summary>
public sealed class HeartbeatResult
{
    internal HeartbeatResult(IReadOnlyDictionary<string, string> metrics, TimeSpan roundTrip, DateTimeOffset receivedAt)
    {
        Metrics = metrics;
        RoundTrip = roundTrip;
        ReceivedAt = receivedAt;
    }

    /// <summary>Worker-global metrics as the worker reports them (active sessions, rows, memory, ...).</summary>
    public IReadOnlyDictionary<string, string> Metrics { get; }

    /// <summary>Time from sending the heartbeat to its answer.</summary>
    public TimeSpan RoundTrip { get; }

    /// <summary>When the answer arrived, on the client's <see cref="TimeProvider"/>.</summary>
    public DateTimeOffset ReceivedAt { get; }
}

/// <summary>A worker's answer to a Manage shutdown.</summary>
public sealed class ShutdownResult
{
    internal ShutdownResult(bool sessionsSettled, TimeSpan roundTrip)
    {
        SessionsSettled = sessionsSettled;
        RoundTrip = roundTrip;
    }

    /// <summary>Whether every Execute stream on the worker was settled before it answered.</summary>
    public bool SessionsSettled { get; }

    /// <summary>Time from sending the request to its answer.</summary>
    public TimeSpan RoundTrip { get; }
}
