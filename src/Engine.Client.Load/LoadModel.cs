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

/// <summary>How the open model spaces its starts.</summary>
public enum LoadArrivals
{
    /// <summary>Evenly: one start every 1/rate seconds (a shard's starts offset so that together the shards keep that spacing).</summary>
    Uniform,

    /// <summary>
    /// A Poisson process: gaps drawn from the exponential distribution of mean 1/rate (with stages,
    /// at the rate of the moment the gap starts), from a random generator seeded by
    /// <see cref="LoadTestOptions.Seed"/> and the shard, so a seed repeats the schedule. Independent
    /// engines' tasks arrive this way: bursts and lulls that even spacing never shows.
    /// Each shard runs its own process at its share of the rate; together they are a Poisson process at the whole rate.
    /// </summary>
    Poisson,
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
        SteadyFromSeconds = _stages.Length == 0 ? 0 : _warmupSeconds + _stages.Sum(s => s.Duration.TotalSeconds);
        MaxTarget = Math.Max(_start, _stages.Length == 0 ? 0 : _stages.Max(s => s.Target));
    }

    /// <summary>When starts stop, in seconds from the run's start (infinite without a duration or stages).</summary>
    public double EndSeconds { get; }

    /// <summary>From when on the target no longer changes, in seconds from the run's start.</summary>
    public double SteadyFromSeconds { get; }

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

/// <summary>
/// The open model's intended start times of one shard, in seconds from the run's start: evenly
/// spaced, or a Poisson process; each <see cref="TryNext"/> gives the next one until the schedule's
/// end. Not thread-safe: one scheduler takes them in order.
/// </summary>
internal sealed class ArrivalSchedule
{
    /// <summary>How far time moves on while the target is zero before the rate is looked at again.</summary>
    private const double ZeroRateStep = 0.01;

    private readonly TargetSchedule _schedule;
    private readonly int _shards;
    private readonly Random? _random;
    private double _t;

    // Even spacing at a constant rate is computed from the count of starts since the rate was
    // last seen to change, not summed gap by gap: a sum of 1/rate drifts (0.1 added 50 times is
    // below 5), which made a start too many at the end of a run.
    private double _segmentStart;
    private double _segmentRate = double.NaN;
    private long _segmentStarts;

    /// <param name="schedule">The whole run's target (a rate) over time.</param>
    /// <param name="shard">This shard: it takes 1/N of the rate.</param>
    /// <param name="arrivals">Even spacing or a Poisson process.</param>
    /// <param name="random">Draws the Poisson gaps; unused for even spacing.</param>
    public ArrivalSchedule(TargetSchedule schedule, LoadShard shard, LoadArrivals arrivals, Random random)
    {
        _schedule = schedule;
        _shards = shard.Count;
        if (arrivals == LoadArrivals.Poisson)
        {
            _random = random;
        }
        else
        {
            // Shards stagger their starts so that together they keep the whole rate's spacing.
            var first = schedule.At(0);
            _t = first > 0 ? (double)shard.Index / first : 0;
        }
    }

    /// <summary>When starts stop, in seconds from the run's start.</summary>
    public double EndSeconds => _schedule.EndSeconds;

    /// <summary>The next intended start, or <see langword="false"/> when the schedule ended (or its rate stays zero from here on).</summary>
    public bool TryNext(out double seconds)
    {
        while (true)
        {
            var rate = _schedule.At(_t) / _shards;
            if (rate <= 0)
            {
                _t += ZeroRateStep;
                if (_t >= _schedule.EndSeconds || _t > _schedule.SteadyFromSeconds)
                {
                    seconds = _schedule.EndSeconds;
                    return false;
                }

                continue;
            }

            if (_random is not null)
            {
                // An exponential gap of mean 1/rate (1 - u is in (0, 1]: the logarithm is finite).
                _t += -Math.Log(1 - _random.NextDouble()) / rate;
                seconds = _t;
                return _t < _schedule.EndSeconds;
            }

            if (rate != _segmentRate)
            {
                _segmentStart = _t;
                _segmentRate = rate;
                _segmentStarts = 0;
            }

            seconds = _t;
            if (_t >= _schedule.EndSeconds)
            {
                return false;
            }

            _segmentStarts++;
            _t = _segmentStart + (_segmentStarts / rate);
            return true;
        }
    }
}
