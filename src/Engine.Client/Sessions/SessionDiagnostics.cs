using System.Globalization;

namespace Engine.Client;

/// <summary>
/// A snapshot of a session for errors and outcomes: which worker, which phase, and what was in
/// flight when it was taken.
/// </summary>
public sealed record SessionDiagnostics
{
    /// <summary>The worker's address or name.</summary>
    public required string Worker { get; init; }

    /// <summary>Process-unique session number, also used in logs and traces.</summary>
    public required long SessionId { get; init; }

    /// <summary>The phase the session was in (the last one before it ended, for outcomes).</summary>
    public required SessionPhase Phase { get; init; }

    /// <summary>
    /// The workers this session was tried on, in order, the last one being where it ran (a
    /// <see cref="WorkerFleet"/> retries a session on another worker when it failed before any data
    /// left). Empty for a session of a single worker or a pool.
    /// </summary>
    public IReadOnlyList<SessionAttempt> Attempts { get; init; } = [];

    /// <summary>DataRequests written.</summary>
    public long BatchesSent { get; init; }

    /// <summary>DataResponses received.</summary>
    public long BatchesReceived { get; init; }

    /// <summary>Data bytes written (batch bytes, without framing).</summary>
    public long BytesSent { get; init; }

    /// <summary>Data bytes received (batch bytes, without framing).</summary>
    public long BytesReceived { get; init; }

    /// <summary>Whether Finish started going out.</summary>
    public bool FinishSent { get; init; }

    /// <summary>Whether Cancel went out.</summary>
    public bool CancelSent { get; init; }

    /// <summary>Time since the worker's last message on this stream, when it sent any.</summary>
    public TimeSpan? SinceLastWorkerMessage { get; init; }

    /// <summary>Time since InitAsync started.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>For example <c>3 batches (1.2 KiB) sent, 2 batches (800 B) received</c>.</summary>
    public string Traffic => string.Create(
        CultureInfo.InvariantCulture,
        $"{BatchesSent} batches ({FormatBytes(BytesSent)}) sent, {BatchesReceived} batches ({FormatBytes(BytesReceived)}) received");

    /// <summary>One line naming the worker, the session, the phase and what was in flight.</summary>
    public string Describe()
    {
        var text = string.Create(
            CultureInfo.InvariantCulture,
            $"worker {Worker}, session {SessionId}, phase {Phase}; {Traffic}; Finish {(FinishSent ? "sent" : "not sent")}, Cancel {(CancelSent ? "sent" : "not sent")}");
        if (SinceLastWorkerMessage is { } since)
        {
            text += string.Create(CultureInfo.InvariantCulture, $"; last worker message {since.TotalSeconds:0.###} s ago");
        }
        else
        {
            text += "; no worker message yet";
        }

        return text;
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB"),
    };
}
