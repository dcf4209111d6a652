using Engine.Client.Load;
using Engine.Client.Tests.ReferenceWorker;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The run's end against what is still running on its other threads: a heartbeat probe cut short
/// by the end may fail in any way, and the run still returns its result; the starts not made by
/// the schedule's end are capped by the session bound, counting a start still queued to run; a due
/// start that meets an interrupt is counted as not started.
/// </summary>
[TestFixture]
public sealed class LoadRunEndTests
{
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(3);

    [Test]
    public async Task A_heartbeat_probe_that_fails_as_the_run_ends_does_not_fail_the_run()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions { Model = LoadModelKind.Closed, Target = 1, Duration = TimeSpan.FromMinutes(10), HeartbeatInterval = TimeSpan.FromMilliseconds(10), Seed = 1 };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.Heartbeats.Add(new LoadHeartbeatProbe(worker.Address, async token =>
        {
            entered.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
            }

            // What a Manage call whose connection the run's end tore down throws: not a cancellation.
            throw new IOException("the connection was closed as the run ended");
        }));

        using var stop = new CancellationTokenSource();
        var run = LoadTest.RunAsync(client, options, stop.Token);
        await Task.WhenAny(entered.Task, run).WaitAsync(RunBound);
        Assert.That(run.IsCompleted, Is.False, () => $"the run ended before its first heartbeat: {run.Exception}");
        await stop.CancelAsync();
        var result = await run.WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Interrupted, Is.True);
            Assert.That(result.Errors.Where(e => e.Outcome == "heartbeatFailed"), Is.Empty, "a probe cut short by the end is not a failed heartbeat");
        });
    }

    [Test]
    public async Task Starts_not_made_by_the_schedules_end_count_a_start_still_queued_against_the_session_bound()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 10_000,
            Duration = TimeSpan.FromMilliseconds(100),
            Sessions = 3,
            MaxInFlight = 1,
            Warmup = TimeSpan.Zero,
            Interval = TimeSpan.FromMilliseconds(20),
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        // The first start is held between its slot and its count, as a start queued behind busy
        // thread-pool threads is: it holds the only slot, so the second waits until the schedule
        // ends and the starts left are counted as not started while the first has not counted
        // itself yet.
        var held = new TaskCompletionSource<Func<Task>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var launches = 0;
        options.SessionLauncher = session =>
        {
            if (Interlocked.Increment(ref launches) == 1)
            {
                held.TrySetResult(session);
                return Task.CompletedTask;
            }

            return Task.Run(session);
        };
        var observer = new NotStartedObserver();
        options.Observer = observer;

        var run = LoadTest.RunAsync(client, options);
        await Task.WhenAny(observer.Seen.Task, run).WaitAsync(RunBound);
        Assert.That(run.IsCompleted, Is.False, () => $"the run ended before counting a start not made: {run.Exception}");
        var first = await held.Task.WaitAsync(RunBound);
        var running = Task.Run(first);
        var result = await run.WaitAsync(RunBound);
        await running.WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Started, Is.EqualTo(1));
            Assert.That(result.Sessions.NotStarted, Is.EqualTo(2), "the bound of 3 less the start made");
            Assert.That(result.Sessions.Started + result.Sessions.NotStarted, Is.EqualTo(3));
        });
    }

    [Test]
    public async Task A_due_start_that_meets_an_interrupt_after_taking_its_slot_is_counted_as_not_started()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();

        // One start a second: the first is due at once, the next a second later.
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 1,
            Duration = TimeSpan.FromMinutes(10),
            Warmup = TimeSpan.Zero,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());
        using var stop = new CancellationTokenSource();
        var interrupted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.StartHoldsSlot = () =>
        {
            // The interrupt lands while the first start holds its slot, before it is counted.
            if (interrupted.TrySetResult())
            {
                stop.Cancel();
            }
        };

        var result = await LoadTest.RunAsync(client, options, stop.Token).WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(interrupted.Task.IsCompleted, Is.True, "the first start reached its slot");
            Assert.That(result.Interrupted, Is.True);
            Assert.That(result.Sessions.Started, Is.Zero, "the start met the interrupt before it was made");
            Assert.That(result.Sessions.NotStarted, Is.EqualTo(1), "it was due and not made: counted, not lost");
        });
    }

    [Test]
    public async Task The_open_models_starts_stop_at_the_end_of_the_duration_not_at_its_last_start()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();

        // One start a ten seconds: the only start is due at once, the next after the 5 s duration.
        // Starting stops at the duration's end, and the drain limit (none) counts from then: the
        // session has the rest of the 5 s to finish. Were the end taken at the last start, the
        // drain limit would cut the session at once.
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 0.1,
            Duration = TimeSpan.FromSeconds(5),
            DrainTimeout = TimeSpan.Zero,
            Warmup = TimeSpan.Zero,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Started, Is.EqualTo(1));
            Assert.That(result.Sessions.Abandoned, Is.Zero, "the drain limit counts from the duration's end");
            Assert.That(result.Sessions.Finished, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task The_open_models_session_bound_still_ends_starting_when_reached()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();

        // The bound is reached long before the ten minutes: the run ends with its sessions.
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 100,
            Duration = TimeSpan.FromMinutes(10),
            Sessions = 3,
            Warmup = TimeSpan.Zero,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.That(result.Sessions.Finished, Is.EqualTo(3));
    }

    [Test]
    public async Task The_open_models_session_bound_ends_starting_at_once_not_at_the_next_starts_time()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();

        // One start every ten minutes, a bound of one: the bound is reached at the first start,
        // and the run ends with that session, long before the second start would be due.
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 1.0 / 600,
            Duration = TimeSpan.FromHours(1),
            Sessions = 1,
            Warmup = TimeSpan.Zero,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.That(result.Sessions.Finished, Is.EqualTo(1));
    }

    [Test]
    public async Task The_measured_time_runs_to_the_schedules_end_so_no_rate_exceeds_the_offered_rate()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();

        // Five starts a second for a second: due at 0, 0.2, ... 0.8 s; small sessions end long
        // before the second is over.
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 5,
            Duration = TimeSpan.FromSeconds(1),
            Warmup = TimeSpan.Zero,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);
        var rate = LoadThreshold.Parse("rate <= 5/s").Evaluate(result);

        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Finished, Is.EqualTo(5));
            Assert.That(result.Seconds, Is.GreaterThanOrEqualTo(1.0), "the measured time holds the whole schedule");
            Assert.That(rate.Passed, Is.True, () => $"finished sessions per second: {rate.ActualText}");
        });
    }

    /// <summary>
    /// Evenly spaced starts each take their slot of the schedule: the measured time runs to the
    /// first start not made, so the rate is the offered one also when the starts do not fill the
    /// bound exactly (2 starts at 1/s, or 2 starts at 0.5/s in 3 s).
    /// </summary>
    [TestCase(1.0, null, 2L, 2.0)]
    [TestCase(0.5, 3.0, null, 4.0)]
    public async Task The_measured_time_runs_to_the_first_start_not_made_so_the_rate_is_the_offered_one(double rate, double? duration, long? sessions, double slots)
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = rate,
            Duration = duration is { } d ? TimeSpan.FromSeconds(d) : null,
            Sessions = sessions,
            Warmup = TimeSpan.Zero,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);
        var offered = LoadThreshold.Parse(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"rate <= {rate}/s")).Evaluate(result);

        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Finished, Is.EqualTo(2));
            Assert.That(result.Seconds, Is.GreaterThanOrEqualTo(slots), "two starts take two slots of the schedule");
            Assert.That(offered.Passed, Is.True, () => $"finished sessions per second: {offered.ActualText}");
        });
    }

    [Test]
    public async Task Every_due_start_at_a_very_high_rate_is_started_or_counted_and_the_intervals_add_up()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();

        // A billion starts due in the second, one session at a time: nearly all are not started,
        // and each of them is counted.
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 1e9,
            Duration = TimeSpan.FromSeconds(1),
            MaxInFlight = 1,
            Warmup = TimeSpan.Zero,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);
        var s = result.Sessions;

        Assert.Multiple(() =>
        {
            Assert.That(s.Started + s.NotStarted, Is.EqualTo(1_000_000_000), $"started {s.Started}, not started {s.NotStarted}");
            Assert.That(result.Intervals.Sum(i => i.NotStarted), Is.EqualTo(s.NotStarted), "the intervals' starts not made add up to the total");
            Assert.That(result.Intervals.Sum(i => i.Started - i.WarmupStarted), Is.EqualTo(s.Started));
            Assert.That(result.Intervals.Sum(i => i.BehindSchedule), Is.EqualTo(s.BehindSchedule));
        });
    }

    [Test]
    public async Task The_session_bound_is_split_over_the_shards_the_remainder_to_the_first_ones()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var started = new List<long>();
        for (var index = 0; index < 2; index++)
        {
            var options = new LoadTestOptions
            {
                Model = LoadModelKind.Closed,
                Target = 2,
                Sessions = 5,
                Shard = new LoadShard(index, 2),
                Seed = 1,
            };
            options.Scenarios.Add(LoadTestScenarios.SmallEcho());
            var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);
            started.Add(result.Sessions.Started);
        }

        Assert.That(started, Is.EqualTo(new[] { 3L, 2L }), "5 sessions over 2 shards: 3 and 2, as one run of 5");
    }

    /// <summary>
    /// Sessions abandoned at the drain limit end after the last regular interval: the last
    /// interval still shows them ending (none in flight), even when it is short. Intervals of
    /// 0.6 s: starting stops at 1 s, the drain limit cancels at 1.9 s, 0.1 s after the interval
    /// of 1.2 to 1.8 s that had them in flight. (A short last interval in which only the number in
    /// flight changed used to be left out, and the report ended with a session in flight.)
    /// </summary>
    [Test]
    public async Task The_last_interval_shows_the_sessions_abandoned_at_the_drain_limit_ended()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Closed,
            Target = 2,
            Duration = TimeSpan.FromSeconds(1),
            DrainTimeout = TimeSpan.FromMilliseconds(900),
            Interval = TimeSpan.FromMilliseconds(600),
            Seed = 1,
        };
        options.Scenarios.Add(new LoadScenario("slow", "builtin", "delay 60s; select x"u8.ToArray())
        {
            Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 10, batchRows: null, batches: 1),
        });

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Abandoned, Is.EqualTo(2));
            Assert.That(result.Intervals[^1].InFlight, Is.Zero, () => string.Join("; ", result.Intervals.Select(i => $"{i.StartSeconds:0.###}+{i.Seconds:0.###} s: in flight {i.InFlight}")));
        });
    }

    private sealed class NotStartedObserver : ILoadObserver
    {
        public TaskCompletionSource Seen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnInterval(LoadInterval interval, IReadOnlyDictionary<string, HistogramBase> histograms)
        {
            if (interval.NotStarted > 0)
            {
                Seen.TrySetResult();
            }
        }
    }
}
