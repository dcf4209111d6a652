using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Apache.Arrow.Ipc;
using Grpc.Core;
using HdrHistogram;

namespace Engine.Client.Load;

/// <summary>
/// Runs a load test against any <see cref="WorkerSessionSource"/> (a <see cref="WorkerClient"/>, a
/// <see cref="WorkerPool"/>, a fleet) and measures it honestly.
/// </summary>
/// <example>
/// <code>
/// await using var client = WorkerClient.Create("unix:///run/udf/worker.sock");
/// var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = 200, Duration = TimeSpan.FromMinutes(1) };
/// options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory&lt;byte&gt;.Empty)
/// {
///     Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: null, batchRows: 1024, batches: 8),
/// });
/// LoadResult result = await LoadTest.RunAsync(client, options);
/// Console.WriteLine(result.Latency[LoadPhases.Session].GetValueAtPercentile(99) / 1000.0 + " ms");
/// </code>
/// </example>
public static class LoadTest
{
    /// <summary>
    /// Runs the load test: sessions start by the model until the bound (duration, session count or
    /// the end of the stages), then the sessions in flight drain (up to
    /// <see cref="LoadTestOptions.DrainTimeout"/>, then they are cancelled).
    /// </summary>
    /// <param name="source">Where sessions come from; not disposed.</param>
    /// <param name="options">The test.</param>
    /// <param name="cancellationToken">Stops the test early: starts stop, sessions in flight are cancelled, and the result says <see cref="LoadResult.Interrupted"/>.</param>
    /// <returns>The figures of the measured sessions.</returns>
    /// <exception cref="ArgumentException">The options are not valid (the message says which).</exception>
    public static Task<LoadResult> RunAsync(WorkerSessionSource source, LoadTestOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        return RunAsync([source], options, cancellationToken);
    }

    /// <summary>
    /// Runs the load test over several sources, taking them in turn (round robin) for each
    /// session; otherwise as <see cref="RunAsync(WorkerSessionSource, LoadTestOptions, CancellationToken)"/>.
    /// </summary>
    /// <param name="sources">Where sessions come from, at least one; not disposed.</param>
    /// <param name="options">The test.</param>
    /// <param name="cancellationToken">Stops the test early.</param>
    /// <returns>The figures of the measured sessions.</returns>
    /// <exception cref="ArgumentException">No source, or the options are not valid.</exception>
    public static Task<LoadResult> RunAsync(IReadOnlyList<WorkerSessionSource> sources, LoadTestOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(options);
        if (sources.Count == 0 || sources.Any(s => s is null))
        {
            throw new ArgumentException("Give at least one session source.", nameof(sources));
        }

        options.Validate();
        return RunCoreAsync(sources, options, cancellationToken);
    }

    private static async Task<LoadResult> RunCoreAsync(IReadOnlyList<WorkerSessionSource> sources, LoadTestOptions options, CancellationToken cancellationToken)
    {
        using var run = new LoadRun(sources, options);
        return await run.RunAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>One load test in progress.</summary>
internal sealed class LoadRun : IDisposable
{
    private static readonly double TicksPerSecond = Stopwatch.Frequency;

    private readonly WorkerSessionSource[] _sources;
    private long _nextSource = -1;
    private readonly LoadTestOptions _options;
    private readonly LoadScenario[] _scenarios;
    private readonly double[] _cumulativeWeights;
    private readonly TargetSchedule _schedule;
    private readonly LoadCounters _counters = new();
    private readonly PhaseRecorders _recorders = new();
    private readonly WorkerTable _workers = new();
    private readonly ErrorTable _errors = new();
    private readonly ErrorTable _heartbeatErrors = new();
    private readonly List<LoadInterval> _intervals = [];
    private readonly Random _random;
    private readonly Lock _randomGate = new();
    private readonly int _seed;
    private readonly CancellationTokenSource _stopStarting = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly SemaphoreSlim _slots;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _warmupTicks;
    private long _startTimestamp;
    private long _startedAll;
    private long _reserved;

    // This shard's share of the session bound (LoadTestOptions.ShardSessions), or null for none.
    private readonly long? _sessionBound;
    private long _sequence;
    private long _lastMeasuredEnd;
    private long _startingStopped;

    // The open model: the intended time (seconds) of the first start not made once starting ended
    // at the schedule's end or the session bound; NaN until then. Written by the scheduler before
    // it returns, read after it completed.
    private double _firstStartNotMade = double.NaN;
    private volatile bool _stopped;
    private Exception? _observerFailure;

    public LoadRun(IReadOnlyList<WorkerSessionSource> sources, LoadTestOptions options)
    {
        _sources = [.. sources];
        _slots = new SemaphoreSlim(options.MaxInFlight, options.MaxInFlight);
        _options = options;
        _scenarios = [.. options.Scenarios];
        _cumulativeWeights = new double[_scenarios.Length];
        var sum = 0.0;
        for (var i = 0; i < _scenarios.Length; i++)
        {
            sum += _scenarios[i].Weight;
            _cumulativeWeights[i] = sum;
        }

        _seed = options.Seed ?? Random.Shared.Next();
        _random = new Random(_seed + options.Shard.Index);
        _schedule = new TargetSchedule(options.Target, options.Stages is { Count: > 0 } ? options.Stages : null, options.Warmup, options.Stages is { Count: > 0 } ? null : options.Duration);
        _warmupTicks = (long)(options.Warmup.TotalSeconds * TicksPerSecond);
        _sessionBound = options.ShardSessions;
    }

    public void Dispose()
    {
        _stopStarting.Dispose();

        // A session that outlived the drain may still hold the abort token.
        if (_drained.Task.IsCompleted)
        {
            _abort.Dispose();
            _slots.Dispose();
        }
    }

    private double Seconds(long timestamp) => (timestamp - _startTimestamp) / TicksPerSecond;

    /// <summary>This shard's target at <paramref name="seconds"/>.</summary>
    private double ShardTarget(double seconds)
    {
        var total = _schedule.At(seconds);
        var shard = _options.Shard;
        if (_options.Model == LoadModelKind.Open)
        {
            return total / shard.Count;
        }

        var whole = (long)Math.Floor(total);
        return (whole / shard.Count) + (shard.Index < whole % shard.Count ? 1 : 0);
    }

    public async Task<LoadResult> RunAsync(CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var monitor = new GeneratorMonitor();
        _startTimestamp = Stopwatch.GetTimestamp();
        try
        {
            _options.Observer?.OnStarted(startedAt);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _observerFailure = ex;
        }

        using var interrupt = cancellationToken.Register(() =>
        {
            _stopStarting.Cancel();
            _abort.Cancel();
        });
        // The closed loops stop at the schedule's end through this timer. The open model's
        // scheduler ends on its own when its schedule does: a timer fires up to a few
        // milliseconds early, and would drop a start due just before the end.
        var stopAtEnd = _options.Model == LoadModelKind.Closed && !double.IsInfinity(_schedule.EndSeconds)
            ? StopStartingAtEndAsync(_schedule.EndSeconds < TimeSpan.MaxValue.TotalSeconds ? TimeSpan.FromSeconds(_schedule.EndSeconds) : Timeout.InfiniteTimeSpan)
            : Task.CompletedTask;

        using var intervalsDone = new CancellationTokenSource();
        var ticker = Task.Run(() => TickAsync(monitor, intervalsDone.Token), CancellationToken.None);
        var heartbeats = Task.Run(() => SampleHeartbeatsAsync(intervalsDone.Token), CancellationToken.None);

        var schedulers = _options.Model == LoadModelKind.Open
            ? [Task.Run(ScheduleOpenAsync, CancellationToken.None)]
            : Enumerable.Range(0, ClosedLoops()).Select(i => Task.Run(() => RunClosedLoopAsync(i), CancellationToken.None)).ToArray();
        // Closed loops run their sessions themselves: the drain limit counts from the end of
        // starting (the schedule's end, the session bound, an interrupt), not from the end of the
        // sessions the loops are still running.
        var starting = Task.WhenAll(schedulers);
        await Task.WhenAny(starting, Task.Delay(Timeout.InfiniteTimeSpan, _stopStarting.Token)).ConfigureAwait(false);
        await _stopStarting.CancelAsync().ConfigureAwait(false);
        _stopped = true;
        _startingStopped = StartingStoppedAt(cancellationToken.IsCancellationRequested);
        CheckDrained();

        if (!cancellationToken.IsCancellationRequested)
        {
            await Task.WhenAny(_drained.Task, LongWait.DelayAsync(_options.DrainTimeout, cancellationToken)).ConfigureAwait(false);
        }

        if (!_drained.Task.IsCompleted)
        {
            await _abort.CancelAsync().ConfigureAwait(false);

            // Cancelled sessions end within their Cancel acknowledgement timeout; a source that
            // hangs is not waited for forever.
            var grace = (_options.SessionOptions?.CancelAcknowledgementTimeout ?? TimeSpan.FromSeconds(2)) + TimeSpan.FromSeconds(30);
            await Task.WhenAny(_drained.Task, Task.Delay(grace, CancellationToken.None)).ConfigureAwait(false);
        }

        if (_drained.Task.IsCompleted)
        {
            // Every session ended: the loops that ran them return now.
            await starting.ConfigureAwait(false);
        }

        await intervalsDone.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(ticker, heartbeats, stopAtEnd).ConfigureAwait(false);
        CloseInterval(monitor, final: true);
        if (_observerFailure is { } failure)
        {
            throw new InvalidOperationException($"The load test's observer (LoadTestOptions.Observer) failed: {failure.Message}", failure);
        }

        return BuildResult(startedAt, monitor, cancellationToken.IsCancellationRequested);
    }

    /// <summary>
    /// When starting stopped: now, and not before the schedule's end when that is what stopped it
    /// (not an interrupt, not the session bound): a timer fires up to a few milliseconds early.
    /// </summary>
    private long StartingStoppedAt(bool interrupted)
    {
        var now = Stopwatch.GetTimestamp();
        if (interrupted)
        {
            return now;
        }

        var end = _schedule.EndSeconds;
        var boundReached = _sessionBound is { } bound && Interlocked.Read(ref _reserved) >= bound;
        var stopped = boundReached || !Representable(end) ? now : Math.Max(now, _startTimestamp + (long)Math.Ceiling(end * TicksPerSecond));

        // The open model's starts each take their slot of the schedule, up to the first start not
        // made: evenly spaced starts then give exactly the offered rate (2 starts at 1/s take 2 s,
        // not the 1 s from the first to the second).
        return Representable(_firstStartNotMade) ? Math.Max(stopped, _startTimestamp + (long)Math.Ceiling(_firstStartNotMade * TicksPerSecond)) : stopped;
    }

    /// <summary>Whether <paramref name="seconds"/> from the run's start is a time the clock counts (finite, not past its range).</summary>
    private bool Representable(double seconds) => !double.IsNaN(seconds) && !double.IsInfinity(seconds) && seconds * TicksPerSecond < long.MaxValue - _startTimestamp;

    /// <summary>Stops the closed loops' starts at the schedule's end, however far it is (<see cref="LongWait"/>); returns when starting stopped.</summary>
    private async Task StopStartingAtEndAsync(TimeSpan end)
    {
        try
        {
            await LongWait.DelayAsync(end, _stopStarting.Token).ConfigureAwait(false);
            await _stopStarting.CancelAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Starting stopped first: the session bound, an interrupt, or the loops ended.
        }
    }

    /// <summary>Loops enough for this shard's highest concurrency: its share is at most the ceiling of the whole over the shards.</summary>
    private int ClosedLoops() => (int)Math.Ceiling(_schedule.MaxTarget / _options.Shard.Count);

    // ---- Closed model: loops that each run one session at a time.

    private async Task RunClosedLoopAsync(int loop)
    {
        var stop = _stopStarting.Token;
        while (!stop.IsCancellationRequested)
        {
            var now = Stopwatch.GetTimestamp();
            var seconds = Seconds(now);
            if (seconds >= _schedule.EndSeconds)
            {
                return;
            }

            if (loop >= ShardTarget(seconds))
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(50), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            var measured = now - _startTimestamp >= _warmupTicks;
            if (measured && !Reserve())
            {
                await _stopStarting.CancelAsync().ConfigureAwait(false);
                return;
            }

            if (!TryCountInFlight(holdsSlot: false))
            {
                return;
            }

            await RunSessionAsync(now, now, measured).ConfigureAwait(false);
        }
    }

    private bool Reserve() => _sessionBound is not { } bound || Interlocked.Increment(ref _reserved) <= bound;

    /// <summary>
    /// Counts a start in flight, then looks at the stop: the run, once stopped, either sees this
    /// start in flight or this start sees the stop (both sides fenced), never neither. Stopped, the
    /// start is taken back, its slot first (as a session's end does: the drain may complete at the
    /// decrement, and the run then disposes the slots), and false is returned.
    /// </summary>
    private bool TryCountInFlight(bool holdsSlot)
    {
        Interlocked.Increment(ref _counters.InFlight);
        if (!_stopped)
        {
            return true;
        }

        if (holdsSlot)
        {
            _slots.Release();
        }

        Interlocked.Decrement(ref _counters.InFlight);
        CheckDrained();
        return false;
    }

    // ---- Open model: one scheduler starting sessions at their intended times.

    private async Task ScheduleOpenAsync()
    {
        var stop = _stopStarting.Token;
        var tolerance = (long)(_options.ScheduleTolerance.TotalSeconds * TicksPerSecond);
        var arrivals = NewArrivalSchedule(_schedule, _options, _seed);
        var spinBudget = new SpinBudget(Stopwatch.GetTimestamp());
        while (!stop.IsCancellationRequested)
        {
            if (_sessionBound is { } bound && Interlocked.Read(ref _reserved) >= bound)
            {
                // The session bound is reached: starting ends now, not at the next start's time
                // (which ends the measured time).
                arrivals.TryNext(out _);
                _firstStartNotMade = arrivals.FirstNotMadeAfter(_options.Sessions ?? bound, _options.Warmup.TotalSeconds);
                return;
            }

            if (!arrivals.TryNext(out var t))
            {
                _firstStartNotMade = arrivals.FirstNotMadeAtEnd();
                // Its starts made before the schedule's end, the scheduler waits for that end:
                // starting stops there, and the drain limit counts from then.
                await WaitForScheduleEndAsync(stop).ConfigureAwait(false);
                return;
            }

            if (t * TicksPerSecond >= long.MaxValue - _startTimestamp)
            {
                // Due further away than the clock counts (centuries): it never comes. Wait to be stopped.
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }

                return;
            }

            var intended = _startTimestamp + (long)(t * TicksPerSecond);

            // Never before the intended start, or the latency counted from it would be less than
            // the one counted from the actual start; and not late either, for every latency counts
            // from it. Timers run on a coarse clock and fire a millisecond or more off: a timer
            // waits until the last stretch before the start, and the rest is spun (yielding the
            // CPU to any thread that can run), as precise load generators' schedulers do.
            if (!await WaitUntilAsync(intended, stop, spinBudget).ConfigureAwait(false))
            {
                return;
            }

            var measured = intended - _startTimestamp >= _warmupTicks;
            if (measured && !Reserve())
            {
                // The bound was reached: this start is the first not made.
                _firstStartNotMade = t;
                return;
            }

            // At the cap, the start waits for a session to end: it runs late (behind schedule),
            // its latency still counting from its intended start, as in a real engine whose
            // tasks queue for a slot. Not past the schedule's end: the starts due by then that
            // could not be made are counted as not started.
            bool slot;
            var stopped = false;
            var atCap = LoadCounters.FindsCapReached(measured, _slots);
            try
            {
                var left = _schedule.EndSeconds - Seconds(Stopwatch.GetTimestamp());
                slot = left >= TimeSpan.MaxValue.TotalSeconds
                    ? await _slots.WaitAsync(Timeout.Infinite, stop).ConfigureAwait(false)
                    : await LongWait.EnterAsync(_slots, TimeSpan.FromSeconds(Math.Max(0, left)), stop).ConfigureAwait(false);

                // A timed wait may end a few milliseconds early (a coarse timer): it waits again for
                // the rest, so that the starts counted as not made run to the schedule's end.
                while (!slot && (left = _schedule.EndSeconds - Seconds(Stopwatch.GetTimestamp())) > 0)
                {
                    slot = await LongWait.EnterAsync(_slots, TimeSpan.FromMilliseconds(Math.Ceiling(left * 1000)), stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                slot = false;
                stopped = true;
            }

            if (!slot)
            {
                var notMade = CountNotStarted(t, measured, arrivals);
                if (!stopped)
                {
                    // The wait ran to the schedule's end: the cap, not a stop, kept these starts.
                    Interlocked.Add(ref _counters.NotStartedAtCap, notMade);
                }

                return;
            }

            // A start that meets the stop (an interrupt) here was due and is not made: it is
            // counted as not started, as one still waiting for its slot is.
            _options.StartHoldsSlot?.Invoke();
            if (stop.IsCancellationRequested)
            {
                _slots.Release();
                CountNotStarted(t, measured, arrivals);
                return;
            }

            if (!TryCountInFlight(holdsSlot: true))
            {
                CountNotStarted(t, measured, arrivals);
                return;
            }

            if (atCap)
            {
                // It waited for its slot and starts: counted where it is made, not where it waited.
                _counters.NoteCapWaited();
            }

            // The actual start, and so the lateness, is when the session begins to run: a start
            // queued behind the generator's own work (its thread pool) is late by that wait too.
            _ = _options.SessionLauncher is { } launch
                ? launch(() => RunLateOrNotAsync(intended, measured, tolerance))
                : Task.Run(() => RunLateOrNotAsync(intended, measured, tolerance), CancellationToken.None);
        }
    }

    /// <summary>An open-model session as it begins to run: its actual start is now, late when past its intended start by more than the tolerance.</summary>
    private Task RunLateOrNotAsync(long intended, bool measured, long tolerance)
    {
        var actual = Stopwatch.GetTimestamp();
        return RunSessionAsync(intended, actual, measured, holdsSlot: true, behindSchedule: measured && actual - intended > tolerance);
    }

    /// <summary>How long before a start the open model's scheduler stops waiting on a timer and spins: longer than a timer fires late.</summary>
    internal static readonly TimeSpan SpinBeforeStart = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Waits until <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp), never
    /// returning before it: on a timer, in whole milliseconds rounded down, until
    /// <see cref="SpinBeforeStart"/> (to less than a millisecond more) before it (in pieces of a timer's longest wait: a schedule may
    /// leave weeks between starts), then spinning, yielding the CPU on each turn. The start is then
    /// made within microseconds of its time, where a timer alone makes it 1 to 3 ms late, and each
    /// latency counted from the intended start would carry that delay of the generator's own.
    /// Returns false when stopped.
    /// </summary>
    internal static async ValueTask<bool> WaitUntilAsync(long timestamp, CancellationToken stop, SpinBudget? budget = null)
    {
        if (budget is not null && !budget.MaySpin(Stopwatch.GetTimestamp()))
        {
            // Over the spinning budget: the timer alone.
            return await OnTimerUntilAsync(timestamp, stop).ConfigureAwait(false);
        }

        var wait = timestamp - Stopwatch.GetTimestamp();

        var spinTicks = (long)(SpinBeforeStart.TotalSeconds * TicksPerSecond);
        while (wait > spinTicks)
        {
            // Less than a whole millisecond to wait on the timer: a timer's shortest wait would end
            // past the start. That stretch is spun too.
            var milliseconds = Math.Min(Math.Floor((wait - spinTicks) * 1000.0 / TicksPerSecond), LongWait.Longest.TotalMilliseconds);
            if (milliseconds < 1)
            {
                break;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(milliseconds), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            wait = timestamp - Stopwatch.GetTimestamp();
        }

        var spinning = Stopwatch.GetTimestamp();
        try
        {
            while (Stopwatch.GetTimestamp() < timestamp)
            {
                if (stop.IsCancellationRequested)
                {
                    return false;
                }

                Thread.Yield();
            }

            return true;
        }
        finally
        {
            budget?.Spent(Stopwatch.GetTimestamp() - spinning);
        }
    }

    /// <summary>
    /// Waits until the schedule's end (or the stop), never returning before it: timers fire up to
    /// a few milliseconds early, so it waits whole milliseconds, rounded up, and looks again. An
    /// endless schedule (no duration, no stages) has no end to wait for.
    /// </summary>
    private async Task WaitForScheduleEndAsync(CancellationToken stop)
    {
        var end = _schedule.EndSeconds;
        if (!Representable(end))
        {
            return;
        }

        await OnTimerUntilAsync(_startTimestamp + (long)Math.Ceiling(end * TicksPerSecond), stop).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits on a timer until <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp),
    /// never returning before it: timers fire up to a few milliseconds early, so it waits whole
    /// milliseconds, rounded up (in pieces of a timer's longest wait), and looks again. Returns
    /// false when stopped.
    /// </summary>
    private static async ValueTask<bool> OnTimerUntilAsync(long timestamp, CancellationToken stop)
    {
        var wait = timestamp - Stopwatch.GetTimestamp();
        while (wait > 0)
        {
            try
            {
                await LongWait.DelayAsync(TimeSpan.FromMilliseconds(Math.Ceiling(wait * 1000.0 / TicksPerSecond)), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            wait = timestamp - Stopwatch.GetTimestamp();
        }

        return true;
    }

    /// <summary>The open model's schedule of this shard: its Poisson gaps drawn from a generator seeded by the run's seed and the shard.</summary>
    internal static ArrivalSchedule NewArrivalSchedule(TargetSchedule schedule, LoadTestOptions options, int seed) =>
        new(schedule, options.Shard, options.Arrivals, new Random(unchecked((seed * 31) + options.Shard.Index) ^ 0x61727276));

    /// <summary>Counts the measured starts due from <paramref name="t"/> (the one not made) until now (or the end) that were never made; returns that count.</summary>
    private long CountNotStarted(double t, bool measured, ArrivalSchedule arrivals)
    {
        var until = Math.Min(_schedule.EndSeconds, Seconds(Stopwatch.GetTimestamp()));
        var count = arrivals.CountDue(t, _options.Warmup.TotalSeconds, until);

        if (_sessionBound is { } bound)
        {
            // The starts made are the places reserved, less the one this start reserved (a measured
            // start reserves one) and did not use: not the started count, which a start queued to
            // the thread pool has not added to yet.
            var made = Interlocked.Read(ref _reserved) - (measured ? 1 : 0);
            count = Math.Min(count, Math.Max(0, bound - made));
        }

        Interlocked.Add(ref _counters.NotStarted, count);
        return count;
    }

    // ---- One session.

    private (LoadScenario Scenario, bool Cancel, int CancelAt) Pick()
    {
        lock (_randomGate)
        {
            var scenario = _scenarios[0];
            if (_scenarios.Length > 1)
            {
                var x = _random.NextDouble() * _cumulativeWeights[^1];
                var index = Array.FindIndex(_cumulativeWeights, w => x < w);
                scenario = _scenarios[index < 0 ? ^1 : index];
            }

            var cancel = scenario.CancelShare > 0 && _random.NextDouble() < scenario.CancelShare;
            var at = cancel ? _random.Next(scenario.Input.Batches.Count + 1) : -1;
            return (scenario, cancel, at);
        }
    }

    /// <summary>
    /// One session, start to end, then its figures. One async method: a wrapper around it would
    /// cost a second state machine and a second await per session, which one session at a time
    /// pays on every session (docs/performance.md, "The load tester").
    /// </summary>
    private async Task RunSessionAsync(long intended, long actual, bool measured, bool holdsSlot = false, bool behindSchedule = false)
    {
        WorkerSession? session = null;
        CancellationTokenRegistration abortRegistration = default;
        try
        {
            var sequence = Interlocked.Increment(ref _sequence);
            Interlocked.Increment(ref _startedAll);
            // Counted in the order a snapshot reads backwards (LoadCounters.Take): the start, then
            // whether it was late, then (at the end) the outcome.
            Interlocked.Increment(ref measured ? ref _counters.Started : ref _counters.Warmup);
            if (behindSchedule)
            {
                Interlocked.Increment(ref _counters.BehindSchedule);
            }

            var (scenario, cancelOnPurpose, cancelAt) = Pick();
            var input = new SessionInput(this, scenario.Input, measured, cancelOnPurpose ? cancelAt : -1);
            var outputTimes = input.OutputTimes;
            var tally = input.Tally;
            var outputs = 0;
            long opened = 0, initialized = 0, firstOutput = 0, outputEnd = 0;
            Exception? openFailure = null;
            var source = _sources[(int)((ulong)Interlocked.Increment(ref _nextSource) % (ulong)_sources.Length)];
            var worker = source.Name;
            try
            {
                session = await source.OpenSessionAsync(_options.SessionOptions, _abort.Token).ConfigureAwait(false);
                opened = Stopwatch.GetTimestamp();
                input.Session = session;

                // The drain limit and interrupts reach the session through one registration that
                // cancels it, not through a cancellable token on each call: a token on InitAsync and
                // ProcessAsync costs a registration and a cancellable wait per step, which one session
                // at a time pays on every session.
                abortRegistration = _abort.Token.UnsafeRegister(
                    static state => ((WorkerSession)state!).Cancel("the load test stopped it (drain limit or interrupt)"), session);
                await session.InitAsync(scenario.BuildInit(sequence)).ConfigureAwait(false);
                initialized = Stopwatch.GetTimestamp();
                if (cancelOnPurpose && cancelAt == 0)
                {
                    input.CancelSent = Stopwatch.GetTimestamp();
                    session.Cancel(SessionInput.CancelReason);
                }
                else
                {
                    await foreach (var output in session.ProcessAsync(input).ConfigureAwait(false))
                    {
                        var now = Stopwatch.GetTimestamp();
                        if (firstOutput == 0)
                        {
                            firstOutput = now;
                        }

                        if (outputs < outputTimes.Length)
                        {
                            outputTimes[outputs] = now;
                        }

                        outputs++;
                        var rows = _options.CountOutputRows ? CountRows(output) : 0;
                        tally.BatchesReceived++;
                        tally.BytesReceived += output.Length;
                        tally.RowsReceived += rows;
                        if (measured)
                        {
                            Interlocked.Increment(ref _counters.BatchesReceived);
                            Interlocked.Add(ref _counters.BytesReceived, output.Length);
                            Interlocked.Add(ref _counters.RowsReceived, rows);
                        }
                    }

                    outputEnd = Stopwatch.GetTimestamp();
                }
            }
            catch (Exception ex) when (session is null && ex is not OutOfMemoryException)
            {
                openFailure = ex;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The outcome says what happened (the session is closed below, whatever was thrown).
            }

            var outcome = session is null ? null : await session.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            var end = Stopwatch.GetTimestamp();
            if (session is not null)
            {
                // Read once the session ended: a fleet session retried before its first
                // DataRequest moved to another worker, and the figures go to the one it ran on.
                worker = session.Worker;
            }

            abortRegistration.Dispose();
            if (session is not null)
            {
                var closing = session;
                session = null;
                await closing.DisposeAsync().ConfigureAwait(false);
            }

            if (_abort.IsCancellationRequested && outcome?.Kind != SessionOutcomeKind.Finished)
            {
                // Cancelled by the drain limit or an interrupt: not the worker's doing. Counted for its
                // worker too, so that the workers' sessions add up to the measured starts.
                if (measured)
                {
                    Interlocked.Increment(ref _counters.Abandoned);
                    _workers.Add(worker, "abandoned", tally, 0);
                }

                return;
            }

            if (!measured)
            {
                return;
            }

            string result;
            if (outcome is { Kind: SessionOutcomeKind.Finished })
            {
                result = "finished";
            }
            else if (outcome is { Kind: SessionOutcomeKind.Cancelled } && input.CancelSent != 0)
            {
                result = "cancelledOnPurpose";
            }
            else
            {
                result = ClassifyFailure(outcome, openFailure);
            }

            long sessionMicros = 0;
            if (opened != 0)
            {
                _recorders.Record(LoadPhases.Open, LatencyHistograms.Micros(actual, opened));
            }

            if (initialized != 0)
            {
                _recorders.Record(LoadPhases.Init, LatencyHistograms.Micros(opened, initialized));
            }

            if (firstOutput != 0)
            {
                _recorders.Record(LoadPhases.FirstBatch, LatencyHistograms.Micros(initialized, firstOutput));
            }

            switch (result)
            {
                case "finished":
                    // The latencies first, then the count: an interval that counts the session
                    // (its counters are taken before its histograms are rolled) has its latency.
                    sessionMicros = LatencyHistograms.Micros(intended, end);
                    _recorders.Record(LoadPhases.Session, sessionMicros);
                    if (_options.Model == LoadModelKind.Open)
                    {
                        _recorders.Record(LoadPhases.SessionFromActualStart, LatencyHistograms.Micros(actual, end));
                    }

                    if (input.InputEnd != 0 && outputEnd != 0)
                    {
                        _recorders.Record(LoadPhases.Finish, LatencyHistograms.Micros(input.InputEnd, outputEnd));
                    }

                    var inputTimes = input.InputTimes;
                    if (outputs == inputTimes.Length)
                    {
                        for (var i = 0; i < outputs; i++)
                        {
                            _recorders.Record(LoadPhases.Batch, LatencyHistograms.Micros(inputTimes[i], outputTimes[i]));
                        }
                    }

                    Interlocked.Increment(ref _counters.Finished);
                    break;
                case "cancelledOnPurpose":
                    _recorders.Record(LoadPhases.Cancel, LatencyHistograms.Micros(input.CancelSent, end));
                    Interlocked.Increment(ref _counters.Cancelled);
                    break;
                default:
                    Interlocked.Increment(ref _counters.Failed);
                    break;
            }

            _workers.Add(worker, result, tally, sessionMicros);
            InterlockedMax(ref _lastMeasuredEnd, end);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A bug here must not take the run down; it shows as an error kind. A session it left
            // open is disposed, so that its call and its lease are not kept.
            abortRegistration.Dispose();
            if (session is not null)
            {
                try
                {
                    await session.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception disposeFailure) when (disposeFailure is not OutOfMemoryException)
                {
                    // The failure that led here is the one reported.
                }
            }

            if (measured)
            {
                Interlocked.Increment(ref _counters.Failed);
                _errors.Add("generatorFailed", ex.GetType().Name, null, ex.Message);
            }
        }
        finally
        {
            if (holdsSlot)
            {
                _slots.Release();
            }

            Interlocked.Decrement(ref _counters.InFlight);
            CheckDrained();
        }
    }

    /// <summary>
    /// One session's input: the scenario's batches, handed to the session synchronously, each
    /// counted and time-stamped as it is handed over; at the chosen batch of a session cancelled on
    /// purpose, the Cancel instead. One object for the input, its enumerator and the session's
    /// figures: an async iterator would add its own object and a closure over the session's state.
    /// </summary>
    private sealed class SessionInput : IAsyncEnumerable<ReadOnlyMemory<byte>>, IAsyncEnumerator<ReadOnlyMemory<byte>>
    {
        public const string CancelReason = "cancelled on purpose by the load test";

        private readonly LoadRun _run;
        private readonly LoadInput _input;
        private readonly bool _measured;
        private readonly int _cancelAt;
        private CancellationToken _stopping;
        private int _index = -1;
        private bool _ended;

        public SessionInput(LoadRun run, LoadInput input, bool measured, int cancelAt)
        {
            _run = run;
            _input = input;
            _measured = measured;
            _cancelAt = cancelAt;
            InputTimes = new long[input.Batches.Count];
            OutputTimes = new long[input.Batches.Count];
        }

        /// <summary>The session to cancel at the chosen batch; set once it is open.</summary>
        public WorkerSession? Session { get; set; }

        public SessionTally Tally { get; } = new();

        /// <summary>When each batch was handed to the session (<see cref="Stopwatch"/> ticks).</summary>
        public long[] InputTimes { get; }

        /// <summary>When each output batch arrived; filled by the session's reader.</summary>
        public long[] OutputTimes { get; }

        /// <summary>When the input ended (every batch handed over), or 0.</summary>
        public long InputEnd { get; private set; }

        /// <summary>When the Cancel on purpose was sent, or 0.</summary>
        public long CancelSent { get; set; }

        public ReadOnlyMemory<byte> Current => _input.Batches[_index];

        public IAsyncEnumerator<ReadOnlyMemory<byte>> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            _stopping = cancellationToken;
            return this;
        }

        public ValueTask<bool> MoveNextAsync() => ValueTask.FromResult(MoveNext());

        public ValueTask DisposeAsync() => default;

        private bool MoveNext()
        {
            if (_ended)
            {
                return false;
            }

            var i = _index + 1;
            if (i == _cancelAt)
            {
                _ended = true;
                CancelSent = Stopwatch.GetTimestamp();
                Session!.Cancel(CancelReason);
                return false;
            }

            var batches = _input.Batches;
            if (i == batches.Count || _stopping.IsCancellationRequested)
            {
                _ended = true;
                InputEnd = Stopwatch.GetTimestamp();
                return false;
            }

            var batch = batches[i];
            var rows = _input.BatchRows[i];
            Tally.BatchesSent++;
            Tally.BytesSent += batch.Length;
            Tally.RowsSent += rows;
            if (_measured)
            {
                var counters = _run._counters;
                Interlocked.Increment(ref counters.BatchesSent);
                Interlocked.Add(ref counters.BytesSent, batch.Length);
                Interlocked.Add(ref counters.RowsSent, rows);
            }

            _index = i;
            InputTimes[i] = Stopwatch.GetTimestamp();
            return true;
        }
    }

    private string ClassifyFailure(SessionOutcome? outcome, Exception? openFailure)
    {
        if (outcome is null)
        {
            var transport = openFailure as WorkerTransportException;
            _errors.Add("openFailed", transport is null ? openFailure?.GetType().Name : Camel(transport.Reason.ToString()), transport?.StatusCode?.ToString(), openFailure?.Message);
            return "openFailed";
        }

        var kind = outcome.Kind switch
        {
            SessionOutcomeKind.Cancelled => "cancelled",
            SessionOutcomeKind.Failed => "failed",
            SessionOutcomeKind.TransportFailed => "transportFailed",
            SessionOutcomeKind.Interrupted => "interrupted",
            _ => "finished",
        };
        var exception = outcome.Exception as WorkerTransportException;
        var errorKind = outcome.Error is { } error ? Camel(error.Kind.ToString())
            : exception is not null ? Camel(exception.Reason.ToString())
            : outcome.Exception?.GetType().Name;
        var message = outcome.Error?.Message ?? outcome.Exception?.Message ?? outcome.CancelReason;
        _errors.Add(kind, errorKind, exception?.StatusCode?.ToString(), message);
        return kind;
    }

    private static string Camel(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];

    private static long CountRows(ReadOnlyMemory<byte> output)
    {
        try
        {
            using var reader = new ArrowStreamReader(output);
            long rows = 0;
            while (reader.ReadNextRecordBatch() is { } batch)
            {
                rows += batch.Length;
                batch.Dispose();
            }

            return rows;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Not Arrow (an opaque format): its rows are not known.
            return 0;
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private void CheckDrained()
    {
        if (_stopped && Interlocked.Read(ref _counters.InFlight) == 0)
        {
            _drained.TrySetResult();
        }
    }

    // ---- Heartbeats.

    private async Task SampleHeartbeatsAsync(CancellationToken done)
    {
        if (_options.Heartbeats.Count == 0 && _options.HeartbeatProbes is null)
        {
            return;
        }

        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(done).ConfigureAwait(false))
            {
                foreach (var probe in _options.Heartbeats)
                {
                    await SampleHeartbeatAsync(probe, done).ConfigureAwait(false);
                }

                // The workers of now: a fleet's membership is read again at every round.
                IReadOnlyList<LoadHeartbeatProbe> current;
                try
                {
                    current = _options.HeartbeatProbes?.Invoke() ?? [];
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    _heartbeatErrors.Add("heartbeatFailed", ex.GetType().Name, null, $"the heartbeat probes: {ex.Message}");
                    continue;
                }

                foreach (var probe in current)
                {
                    await SampleHeartbeatAsync(probe, done).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (done.IsCancellationRequested)
        {
        }
    }

    private async Task SampleHeartbeatAsync(LoadHeartbeatProbe probe, CancellationToken done)
    {
        var start = Stopwatch.GetTimestamp();

        // As for sessions, the warm-up's heartbeats are not counted, answered or failed.
        var measured = start - _startTimestamp >= _warmupTicks;
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(done);
            bound.CancelAfter(TimeSpan.FromSeconds(10));
            await probe.Call(bound.Token).ConfigureAwait(false);
            if (measured)
            {
                _recorders.Record(LoadPhases.Heartbeat, LatencyHistograms.Micros(start, Stopwatch.GetTimestamp()));
                _workers.AddHeartbeat(probe.Worker, answered: true);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Cut short by the run's end, a probe may throw anything (a transport error, say): that
            // is not the worker failing, and it must not fail the run and lose its report.
            if (!measured || done.IsCancellationRequested)
            {
                return;
            }

            _workers.AddHeartbeat(probe.Worker, answered: false);
            _heartbeatErrors.Add("heartbeatFailed", ex.GetType().Name, (ex as RpcException)?.StatusCode.ToString() ?? (ex as WorkerTransportException)?.StatusCode?.ToString(), $"{probe.Worker}: {ex.Message}");
        }
    }

    // ---- Intervals.

    private LoadCounters.Snapshot _previous;
    private long _previousStartedAll;
    private long _intervalStart;

    private async Task TickAsync(GeneratorMonitor monitor, CancellationToken done)
    {
        _intervalStart = _startTimestamp;
        using var timer = new PeriodicTimer(_options.Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(done).ConfigureAwait(false))
            {
                CloseInterval(monitor, final: false);
            }
        }
        catch (OperationCanceledException) when (done.IsCancellationRequested)
        {
        }
    }

    private void CloseInterval(GeneratorMonitor monitor, bool final)
    {
        var now = Stopwatch.GetTimestamp();

        // The counters before the histograms: a session records its latencies before it counts
        // its outcome, so every session this interval counts has its latency in a histogram by now.
        var snapshot = _counters.Take();
        var histograms = _recorders.Roll();
        var startedAll = Interlocked.Read(ref _startedAll);
        var sample = monitor.Next();
        var session = histograms[LoadPhases.Session];
        var seconds = (now - _intervalStart) / TicksPerSecond;
        // A short last interval with nothing in it is left out; one with any count (the starts not
        // made, counted at the end, say), or in which sessions ended (abandoned at the drain
        // limit), is kept, so that the intervals add up to the totals and end with none in flight.
        if (final && seconds < 0.25 && snapshot.Finished == _previous.Finished && snapshot.Failed == _previous.Failed
            && snapshot.Cancelled == _previous.Cancelled && startedAll == _previousStartedAll && session.TotalCount == 0
            && snapshot.NotStarted == _previous.NotStarted && snapshot.BehindSchedule == _previous.BehindSchedule
            && snapshot.Started == _previous.Started && snapshot.Warmup == _previous.Warmup && snapshot.InFlight == _previous.InFlight)
        {
            return;
        }

        var interval = new LoadInterval
        {
            Index = _intervals.Count,
            StartSeconds = Math.Round(Seconds(_intervalStart), 6),
            Seconds = Math.Round(seconds, 6),
            Warmup = snapshot.Warmup - _previous.Warmup > snapshot.Started - _previous.Started
                || (snapshot.Warmup == _previous.Warmup && snapshot.Started == _previous.Started && now - _startTimestamp < _warmupTicks),
            Target = Math.Round(ShardTarget(Seconds(now)), 6),
            Started = snapshot.Started + snapshot.Warmup - (_previous.Started + _previous.Warmup),
            WarmupStarted = snapshot.Warmup - _previous.Warmup,
            Finished = snapshot.Finished - _previous.Finished,
            Cancelled = snapshot.Cancelled - _previous.Cancelled,
            Failed = snapshot.Failed - _previous.Failed,
            NotStarted = snapshot.NotStarted - _previous.NotStarted,
            BehindSchedule = snapshot.BehindSchedule - _previous.BehindSchedule,
            InFlight = snapshot.InFlight,
            Traffic = snapshot.TrafficSince(_previous),
            SessionP50 = LatencyHistograms.Millis(session, 50),
            SessionP90 = LatencyHistograms.Millis(session, 90),
            SessionP99 = LatencyHistograms.Millis(session, 99),
            SessionMax = LatencyHistograms.MaxMillis(session),
            CpuPercent = Math.Round(sample.CpuPercent, 2),
            GcPauseMilliseconds = Math.Round(sample.GcPauseMilliseconds, 3),
            AllocatedBytes = sample.AllocatedBytes,
            ThreadPoolQueue = sample.ThreadPoolQueue,
            SessionHistogram = session.TotalCount == 0 ? null : LatencyHistograms.Encode(session),
        };
        _intervals.Add(interval);
        _previous = snapshot;
        _previousStartedAll = startedAll;
        _intervalStart = now;
        if (_options.Observer is { } observer && _observerFailure is null)
        {
            var start = _startTimestamp;
            foreach (var histogram in histograms.Values)
            {
                histogram.StartTimeStamp = (long)(Seconds(now) * 1000) - (long)(seconds * 1000);
                histogram.EndTimeStamp = (long)(Seconds(now) * 1000);
            }

            try
            {
                observer.OnInterval(interval, histograms);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _observerFailure = ex;
            }

            _ = start;
        }
    }

    // ---- Result.

    private LoadResult BuildResult(DateTimeOffset startedAt, GeneratorMonitor monitor, bool interrupted)
    {
        var snapshot = _counters.Take();
        var warmupEnd = _startTimestamp + _warmupTicks;
        // The measured time runs to the later of the last measured session's end and the moment
        // starting stopped: the offered load is spread over the whole schedule, so a run whose
        // sessions all ended early still counts its schedule's length (rates never exceed the
        // offered rate for want of time).
        var last = Math.Max(Interlocked.Read(ref _lastMeasuredEnd), _startingStopped);
        var measuredSeconds = Math.Max(0, (last - warmupEnd) / TicksPerSecond);
        var host = Environment.MachineName;
        var configuration = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["model"] = _options.Model == LoadModelKind.Open ? "open" : "closed",
            ["arrivals"] = _options.Model == LoadModelKind.Open ? (_options.Arrivals == LoadArrivals.Poisson ? "poisson" : "uniform") : "closed loop",
            ["target"] = _options.Target.ToString(CultureInfo.InvariantCulture) + (_options.Model == LoadModelKind.Open ? " sessions/s" : " concurrent sessions"),
            ["stages"] = _options.Stages is { Count: > 0 } stages
                ? string.Join(", ", stages.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Duration.TotalSeconds}s to {s.Target}")))
                : "none",
            ["duration"] = _options.Duration is { } d ? d.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s" : "none",
            ["sessions"] = _options.Sessions?.ToString(CultureInfo.InvariantCulture) ?? "no bound",
            ["warmup"] = _options.Warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s",
            ["drainTimeout"] = _options.DrainTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s",
            ["seed"] = _seed.ToString(CultureInfo.InvariantCulture),
            ["scenarios"] = string.Join("; ", _scenarios.Select(s => string.Create(CultureInfo.InvariantCulture,
                $"{s.Name} (weight {s.Weight}, format {s.Format}, payload {s.Payload.Length} B, input {s.Input.Description}, cancel share {s.CancelShare})"))),
        };
        if (_options.Model == LoadModelKind.Open)
        {
            // Settings of the open model only: a closed loop starts when its session ends.
            configuration["maxInFlight"] = _options.MaxInFlight.ToString(CultureInfo.InvariantCulture);
            configuration["scheduleTolerance"] = _options.ScheduleTolerance.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + " ms";
        }

        foreach (var (key, value) in _options.Labels)
        {
            configuration[key] = value;
        }

        return new LoadResult
        {
            StartedAt = startedAt,
            Seconds = Math.Round(measuredSeconds, 6),
            Model = _options.Model,
            Target = _options.Target,
            Shards = [_options.Shard.ToString()],
            Runs = [Guid.NewGuid().ToString("N")],
            Sources = _options.Targets.Count > 0 ? [.. _options.Targets] : [.. _sources.Select(s => s.Name)],
            Hosts = [host],
            Configuration = configuration,
            Interrupted = interrupted,
            Sessions = new LoadSessionCounts
            {
                Started = snapshot.Started,
                Finished = snapshot.Finished,
                Cancelled = snapshot.Cancelled,
                Failed = _errors.ByOutcome(),
                BehindSchedule = snapshot.BehindSchedule,
                NotStarted = snapshot.NotStarted,
                Warmup = Interlocked.Read(ref _counters.Warmup),
                Abandoned = Interlocked.Read(ref _counters.Abandoned),
            },
            Latency = _recorders.Totals(),
            InitChunks = _scenarios.ToDictionary(s => s.Name, s => s.InitChunks, StringComparer.Ordinal),
            Traffic = snapshot.TrafficSince(default),
            Workers = _workers.Figures(),
            Errors = [.. _errors.Kinds(), .. _heartbeatErrors.Kinds()],
            Generators = [monitor.Figures(host, snapshot, _options.Model, _options.MaxInFlight)],
            Intervals = [.. _intervals],
        };
    }
}
