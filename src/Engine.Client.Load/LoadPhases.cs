namespace Engine.Client.Load;

/// <summary>
/// The phases whose latency a load test records, each in its own HdrHistogram (values in
/// microseconds, from 1 µs to 1 hour, 3 significant digits). Their names are the keys of
/// <see cref="LoadResult.Latency"/>, of the JSON report's <c>latency</c> object and of thresholds
/// (<c>session.p99 &lt; 50ms</c>).
/// </summary>
public static class LoadPhases
{
    /// <summary><c>open</c>: asking the source for a session (a pool may launch a worker), from the actual start.</summary>
    public const string Open = "open";

    /// <summary><c>init</c>: Init sent (with its payload chunks) to the InitResponse.</summary>
    public const string Init = "init";

    /// <summary><c>firstBatch</c>: the InitResponse to the first output batch.</summary>
    public const string FirstBatch = "firstBatch";

    /// <summary>
    /// <c>batch</c>: an input batch handed to the session to the output batch of the same position,
    /// recorded for sessions whose output has as many batches as their input (echo-like UDFs).
    /// </summary>
    public const string Batch = "batch";

    /// <summary><c>finish</c>: the end of the input (Finish queued) to the worker's terminator, FinishResponse.</summary>
    public const string Finish = "finish";

    /// <summary><c>cancel</c>: Cancel sent on purpose to the session's end (the worker's acknowledgement).</summary>
    public const string Cancel = "cancel";

    /// <summary>
    /// <c>session</c>: the whole session, from its intended start in the open model (coordinated
    /// omission corrected: a stalled generator or worker shows here), from its actual start in the
    /// closed model, to its end.
    /// </summary>
    public const string Session = "session";

    /// <summary>
    /// <c>sessionFromActualStart</c>, open model only: the whole session from its actual start,
    /// the figure a generator that ignores coordinated omission would report, for comparison.
    /// </summary>
    public const string SessionFromActualStart = "sessionFromActualStart";

    /// <summary><c>heartbeat</c>: Manage heartbeat round trips sampled during the run.</summary>
    public const string Heartbeat = "heartbeat";

    /// <summary>Every phase, in report order.</summary>
    public static IReadOnlyList<string> All { get; } = [Session, SessionFromActualStart, Open, Init, FirstBatch, Batch, Finish, Cancel, Heartbeat];
}
