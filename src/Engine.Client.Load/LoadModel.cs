namespace Engine.Client.Load;

/// <summary>How sessions arrive.</summary>
public enum LoadModelKind
{
    /// <summary>
    /// Closed model: a fixed number of concurrent sessions, each loop starting its next session
    /// when its previous one ended (the target is a concurrency). A slow worker slows the
    /// arrivals down, as in a real engine with a fixed number of task slots.
    /// </summary>
    Closed,

    /// <summary>
    /// Open model: sessions start on a schedule at a rate in sessions per second, whatever the
    /// workers do (the target is a rate). Each session's latency counts from its intended start,
    /// so a stalled worker shows in the percentiles instead of slowing the schedule down.
    /// </summary>
    Open,
}

/// <summary>
/// One stage of a ramp: over <see cref="Duration"/>, the target (a rate in sessions per second for
/// <see cref="LoadModelKind.Open"/>, a concurrency for <see cref="LoadModelKind.Closed"/>) moves
/// linearly from the previous stage's target (or the start target) to <see cref="Target"/>.
/// </summary>
/// <param name="Duration">How long the stage lasts; positive.</param>
/// <param name="Target">The target at the end of the stage; zero or more.</param>
public sealed record LoadStage(TimeSpan Duration, double Target);

/// <summary>A shard of a run spread over several hosts: this process runs shard <see cref="Index"/> of <see cref="Count"/>.</summary>
/// <param name="Index">Zero-based index, less than <paramref name="Count"/>.</param>
/// <param name="Count">How many shards share the load; at least 1.</param>
public readonly record struct LoadShard(int Index, int Count)
{
    /// <summary>The whole run on one host.</summary>
    public static LoadShard Whole => new(0, 1);

    /// <summary>Shard text as given on the command line: <c>i/N</c>, with a zero-based <c>i</c>.</summary>
    public override string ToString() => $"{Index}/{Count}";
}

/// <summary>The target over time: the start target held during warm-up, then the stages or a constant target.</summary>
internal sealed class TargetSchedule
{
    private readonly double _start;
    private readonly LoadStage[] _stages;
    private readonly double _warmupSeconds;

    public TargetSchedule(double start, IReadOnlyList<LoadStage>? stages, TimeSpan warmup, TimeSpan? duration)
    {
        _start = start;
        _stages = stages is null ? [] : [.. stages];
        _warmupSeconds = warmup.TotalSeconds;
        var measured = _stages.Length > 0
            ? _stages.Sum(s => s.Duration.TotalSeconds)
            : duration?.TotalSeconds ?? double.PositiveInfinity;
        EndSeconds = _warmupSeconds + measured;
        MaxTarget = Math.Max(_start, _stages.Length == 0 ? 0 : _stages.Max(s => s.Target));
    }

    /// <summary>When starts stop, in seconds from the run's start (infinite without a duration or stages).</summary>
    public double EndSeconds { get; }

    /// <summary>The highest target of the run.</summary>
    public double MaxTarget { get; }

    /// <summary>The target at <paramref name="seconds"/> from the run's start.</summary>
    public double At(double seconds)
    {
        if (seconds < _warmupSeconds || _stages.Length == 0)
        {
            return _start;
        }

        var t = seconds - _warmupSeconds;
        var from = _start;
        foreach (var stage in _stages)
        {
            var length = stage.Duration.TotalSeconds;
            if (t < length)
            {
                return from + ((stage.Target - from) * (t / length));
            }

            t -= length;
            from = stage.Target;
        }

        return from;
    }
}
