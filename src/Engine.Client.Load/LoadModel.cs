using System.Diagnostics;

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
    /// a process whose rate follows the stages as they ramp), from a random generator seeded by
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
    // The target as pieces that are linear in time, in order: the warm-up's held start target,
    // then one per stage (or one constant piece to the end without stages).
    private readonly Piece[] _pieces;

    public TargetSchedule(double start, IReadOnlyList<LoadStage>? stages, TimeSpan warmup, TimeSpan? duration)
    {
        LoadStage[] ramp = stages is null ? [] : [.. stages];
        var warmupSeconds = warmup.TotalSeconds;
        var measured = ramp.Length > 0
            ? ramp.Sum(s => s.Duration.TotalSeconds)
            : duration?.TotalSeconds ?? double.PositiveInfinity;
        EndSeconds = warmupSeconds + measured;
        MaxTarget = Math.Max(start, ramp.Length == 0 ? 0 : ramp.Max(s => s.Target));

        var pieces = new List<Piece>();
        if (ramp.Length == 0)
        {
            pieces.Add(new Piece(0, EndSeconds, start, start, 0));
        }
        else
        {
            double t = 0, before = 0, from = start;
            if (warmupSeconds > 0)
            {
                pieces.Add(new Piece(0, warmupSeconds, start, start, 0));
                before = start * warmupSeconds;
                t = warmupSeconds;
            }

            foreach (var stage in ramp)
            {
                var length = stage.Duration.TotalSeconds;
                pieces.Add(new Piece(t, length, from, stage.Target, before));
                before += (from + stage.Target) / 2 * length;
                t += length;
                from = stage.Target;
            }
        }

        _pieces = [.. pieces];
    }

    /// <summary>When starts stop, in seconds from the run's start (infinite without a duration or stages).</summary>
    public double EndSeconds { get; }

    /// <summary>The highest target of the run.</summary>
    public double MaxTarget { get; }

    /// <summary>The target at <paramref name="seconds"/> from the run's start.</summary>
    public double At(double seconds)
    {
        foreach (var p in _pieces)
        {
            if (seconds < p.Start + p.Length)
            {
                return p.From == p.To ? p.From : p.From + ((p.To - p.From) * ((seconds - p.Start) / p.Length));
            }
        }

        return _pieces[^1].To;
    }

    /// <summary>
    /// The time at which the target, integrated over time from the run's start, reaches
    /// <paramref name="cumulative"/> (for a rate: the time by which that many sessions were due);
    /// <see cref="double.PositiveInfinity"/> when it never does. A ramp integrates to a quadratic,
    /// solved exactly, so a ramp from zero starts its sessions as its rate grows.
    /// </summary>
    /// <param name="cumulative">Zero or more; calls with growing values may share <paramref name="piece"/>.</param>
    /// <param name="piece">Where to start looking (0 at first); left at the piece found.</param>
    public double TimeOfCumulative(double cumulative, ref int piece)
    {
        for (var i = piece; i < _pieces.Length; i++)
        {
            var p = _pieces[i];
            if (p.From == 0 && p.To == 0)
            {
                // No session is due while the target is zero, not even the first.
                continue;
            }

            var total = double.IsPositiveInfinity(p.Length) ? double.PositiveInfinity : (p.From + p.To) / 2 * p.Length;

            // Reached exactly at the end of a ramp down to zero, the rate is zero there: the start
            // is due when the rate is positive again (a later piece), not at that end.
            if (cumulative > p.Before + total || (cumulative == p.Before + total && p.To == 0))
            {
                continue;
            }

            piece = i;
            var c = Math.Max(0, cumulative - p.Before);
            if (c == 0)
            {
                return p.Start;
            }

            // Within the piece: From·u + a·u² = c, with a = (To - From) / (2·Length); the form
            // 2c / (From + √(From² + 4ac)) holds for a ramp up, a ramp down and a constant (a = 0:
            // exactly c / From, so even spacing at a constant rate has no rounding drift).
            var a = double.IsPositiveInfinity(p.Length) ? 0 : (p.To - p.From) / (2 * p.Length);
            var u = a == 0 ? c / p.From : 2 * c / (p.From + Math.Sqrt(Math.Max(0, (p.From * p.From) + (4 * a * c))));
            return p.Start + Math.Min(u, p.Length);
        }

        piece = _pieces.Length;
        return double.PositiveInfinity;
    }

    /// <summary>
    /// Past the schedule's end: the time at which the target, held at its last value after the end,
    /// would integrate to <paramref name="cumulative"/>; infinite when that value is 0 or the
    /// schedule has no end.
    /// </summary>
    public double TimeBeyondEnd(double cumulative)
    {
        var last = _pieces[^1].To;
        if (double.IsInfinity(EndSeconds) || !(last > 0))
        {
            return double.PositiveInfinity;
        }

        return EndSeconds + (Math.Max(0, cumulative - CumulativeAt(EndSeconds)) / last);
    }

    /// <summary>
    /// The target integrated over time from the run's start to <paramref name="seconds"/> (for a
    /// rate: how many sessions were due by then, as a real number); the inverse of
    /// <see cref="TimeOfCumulative"/>.
    /// </summary>
    public double CumulativeAt(double seconds)
    {
        foreach (var p in _pieces)
        {
            if (seconds < p.Start + p.Length)
            {
                var u = Math.Max(0, seconds - p.Start);
                var a = double.IsPositiveInfinity(p.Length) ? 0 : (p.To - p.From) / (2 * p.Length);
                return p.Before + (p.From * u) + (a * u * u);
            }
        }

        var last = _pieces[^1];
        return last.Before + ((last.From + last.To) / 2 * last.Length);
    }

    /// <summary>A piece of the target, linear from <paramref name="From"/> to <paramref name="To"/> over <paramref name="Length"/> seconds from <paramref name="Start"/>; <paramref name="Before"/> is the target integrated up to its start.</summary>
    private readonly record struct Piece(double Start, double Length, double From, double To, double Before);
}

/// <summary>
/// The open model's intended start times of one shard, in seconds from the run's start; each
/// <see cref="TryNext"/> gives the next one until the schedule's end. The whole run's n-th start is
/// due when the rate integrated from the start reaches n (<see cref="TargetSchedule.TimeOfCumulative"/>):
/// evenly spaced, n = 0, 1, 2, ... with shard i of N taking n = i, i + N, ...; a Poisson process,
/// n grows by N times an exponential draw of mean 1 at each start of a shard (time-rescaling, so
/// that with stages the process follows the rate as it changes). Not thread-safe: one scheduler
/// takes them in order.
/// </summary>
internal sealed class ArrivalSchedule
{
    private readonly TargetSchedule _schedule;
    private readonly int _shards;
    private readonly Random? _random;
    private double _due;
    private int _piece;

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
            // Shards interleave: together they keep the whole rate's spacing.
            _due = shard.Index;
        }
    }

    /// <summary>When starts stop, in seconds from the run's start.</summary>
    public double EndSeconds => _schedule.EndSeconds;

    /// <summary>
    /// The time the last <see cref="TryNext"/> computed, also when it was past the schedule's end
    /// (then <see cref="TryNext"/> gave the end and <see langword="false"/>); infinite when the rate
    /// stays zero from there on.
    /// </summary>
    public double Unclamped { get; private set; }

    /// <summary>
    /// Counts the starts from <paramref name="first"/> (one this schedule gave) on, taking them,
    /// whose time is at least <paramref name="from"/> and before <paramref name="until"/> (at most
    /// the schedule's end); those before <paramref name="from"/> are taken and not counted. Exact at
    /// any rate: evenly spaced starts are skipped in closed form (their count from the integrated
    /// rate, less a margin taken one by one), a Poisson process's one by one.
    /// </summary>
    public long CountDue(double first, double from, double until)
    {
        var t = first;
        var more = true;
        if (t < from)
        {
            SkipBefore(from);
            while ((more = TryNext(out t)) && t < from)
            {
            }
        }

        if (!more || t >= until)
        {
            return 0;
        }

        long count = 1 + SkipBefore(until);
        while (TryNext(out t) && t < until)
        {
            count++;
        }

        return count;
    }

    /// <summary>
    /// Even spacing: takes, in closed form, the next starts that surely fall before
    /// <paramref name="seconds"/> (a margin of two starts short of the integrated rate, against
    /// rounding), and returns how many; a Poisson process takes none.
    /// </summary>
    private long SkipBefore(double seconds)
    {
        if (_random is not null || double.IsInfinity(seconds))
        {
            return 0;
        }

        var skip = Math.Floor((_schedule.CumulativeAt(seconds) - _due) / _shards) - 2;
        if (!(skip > 0))
        {
            return 0;
        }

        _due += skip * _shards;
        return (long)skip;
    }

    /// <summary>
    /// Once <see cref="TryNext"/> gave <see langword="false"/> at the schedule's end: the intended
    /// time of the whole run's first start not made, which ends the measured time at the latest
    /// (each start takes its slot of the schedule). For even spacing it is the first start of all
    /// the shards' interleaved starts at or past the end, the earliest of the shards' next starts:
    /// every shard stops at the end, so all of them give the same time, and a merge of the shards
    /// measures the time of one run (a shard's own next start is up to N - 1 starts later). For a
    /// Poisson process it is the end: its starts have no slots, and its rate is the starts over the
    /// time it ran (the next draw past the end, a random time, would stretch that time by 1/R on
    /// average, by several seconds at a rate of one a second).
    /// </summary>
    public double FirstNotMadeAtEnd()
    {
        if (_random is not null)
        {
            return _schedule.EndSeconds;
        }

        var first = WholeStartNotMade(Math.Ceiling(_schedule.CumulativeAt(_schedule.EndSeconds) - 1e-9));
        return Math.Max(TimeOfWholeStart(first), _schedule.EndSeconds);
    }

    /// <summary>
    /// Once a session bound stopped the starts (and <see cref="TryNext"/> took this shard's next):
    /// the intended time of the whole run's first start not made, the bound's next. For even
    /// spacing that is the whole schedule's start number <paramref name="sessions"/> counted from
    /// the first measured one (at or after <paramref name="warmupSeconds"/>): every shard makes its
    /// share of the bound, so all of them give the same time, as at the schedule's end. For a
    /// Poisson process it is this shard's next draw (one run alone: the bound's next start).
    /// </summary>
    public double FirstNotMadeAfter(long sessions, double warmupSeconds)
    {
        if (_random is not null)
        {
            return Unclamped;
        }

        var measuredFrom = Math.Ceiling(_schedule.CumulativeAt(warmupSeconds) - 1e-9);
        return TimeOfWholeStart(WholeStartNotMade(measuredFrom + sessions));
    }

    /// <summary>
    /// Even spacing: the whole schedule's start number <paramref name="wanted"/>, kept within the
    /// starts this shard's next one can follow: it is the whole schedule's start number _due - N
    /// (TryNext moved on past it), and every start of the N - 1 before it belongs to another shard.
    /// One run alone (N = 1) keeps its own next start.
    /// </summary>
    private double WholeStartNotMade(double wanted)
    {
        var own = _due - _shards;
        return double.IsNaN(wanted) ? own : Math.Clamp(wanted, own - _shards + 1, own);
    }

    /// <summary>The intended time of the whole schedule's start number <paramref name="start"/>, past the end as the target held at its last value would make it.</summary>
    private double TimeOfWholeStart(double start)
    {
        var piece = 0;
        var seconds = _schedule.TimeOfCumulative(start, ref piece);
        return double.IsPositiveInfinity(seconds) ? _schedule.TimeBeyondEnd(start) : seconds;
    }

    /// <summary>The next intended start, or <see langword="false"/> when the schedule ended (or its rate stays zero from here on).</summary>
    public bool TryNext(out double seconds)
    {
        if (_random is not null)
        {
            // An exponential draw of mean 1 (1 - u is in (0, 1]: the logarithm is finite).
            _due += -Math.Log(1 - _random.NextDouble()) * _shards;
        }

        seconds = _schedule.TimeOfCumulative(_due, ref _piece);
        Unclamped = double.IsPositiveInfinity(seconds) ? _schedule.TimeBeyondEnd(_due) : seconds;
        if (_random is null)
        {
            _due += _shards;
        }

        if (seconds >= _schedule.EndSeconds)
        {
            seconds = _schedule.EndSeconds;
            return false;
        }

        return true;
    }
}

/// <summary>
/// How much the open model's scheduler may spin before its starts: a fifth of the wall time, over
/// windows of a second, spread evenly (a start may spin while the time spun in the window is under a
/// fifth of the window's time so far, plus one start's stretch). At a few hundred starts a second
/// and more, spinning before every start would keep a core busy: on a generator of two cores that
/// delayed the sessions themselves (p99 from their actual start 80 to 140 ms instead of 5 to 6 ms
/// at 2,000 starts a second) and set off the busy-generator warning. Past the budget a start waits
/// on the timer alone, a millisecond or two late, as before the spin.
/// </summary>
internal sealed class SpinBudget(long start)
{
    /// <summary>The share of the wall time that may be spun.</summary>
    public const double Share = 0.2;

    private static readonly long Window = Stopwatch.Frequency;
    private static readonly long Allowance = (long)(LoadRun.SpinBeforeStart.TotalSeconds * Stopwatch.Frequency);
    private long _windowStart = start;
    private long _spent;

    /// <summary>Whether a start at <paramref name="now"/> (a <see cref="Stopwatch"/> timestamp) may spin its last stretch.</summary>
    public bool MaySpin(long now)
    {
        if (now - _windowStart >= Window)
        {
            _windowStart = now;
            _spent = 0;
        }

        return _spent <= (Share * (now - _windowStart)) + Allowance;
    }

    /// <summary>Counts <paramref name="ticks"/> (<see cref="Stopwatch"/> ticks) spun.</summary>
    public void Spent(long ticks) => _spent += Math.Max(0, ticks);
}
