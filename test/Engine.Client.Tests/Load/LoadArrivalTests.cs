using System.Text.Json;
using Engine.Client.Load;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The open model's arrivals: evenly spaced by default, a Poisson process with <c>--arrivals
/// poisson</c> (exponential gaps of mean 1/rate from the seeded generator). The schedule itself is
/// checked on many starts without a worker; one short run goes through the command.
/// </summary>
[TestFixture]
public sealed class LoadArrivalTests
{
    private const double Rate = 200;
    private const int Starts = 20_000;

    private static double[] Gaps(LoadArrivals arrivals, int seed, LoadShard shard, int count)
    {
        var times = Times(arrivals, seed, shard, count);
        return [.. times.Zip(times.Skip(1), (a, b) => b - a)];
    }

    private static List<double> Times(LoadArrivals arrivals, int seed, LoadShard shard, int count)
    {
        var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = Rate, Arrivals = arrivals, Shard = shard };
        var schedule = new TargetSchedule(Rate, null, TimeSpan.Zero, TimeSpan.FromHours(10));
        var arrivalSchedule = LoadRun.NewArrivalSchedule(schedule, options, seed);
        var times = new List<double>(count);
        while (times.Count < count && arrivalSchedule.TryNext(out var t))
        {
            times.Add(t);
        }

        Assert.That(times, Has.Count.EqualTo(count));
        return times;
    }

    /// <summary>
    /// The starts due in a window, counted in closed form for even spacing, are the ones the
    /// schedule gives one by one: at a constant rate, over a warm-up and a ramp (up and down), for
    /// every shard, from a start before the window and from one inside it.
    /// </summary>
    [TestCase(1000.0, 0, 1, 0, 0.0, 0.5, 3.25)]
    [TestCase(1000.0, 0, 3, 2, 0.0, 0.5, 3.25)]
    [TestCase(333.3, 2, 1, 0, 0.7, 2.0, 6.9)]
    [TestCase(50.0, 1, 2, 1, 0.0, 0.0, 9.0)]
    [TestCase(50.0, 1, 2, 0, 4.0, 1.0, 8.5)]
    public void Starts_counted_in_closed_form_are_the_ones_given_one_by_one(double rate, int warmupSeconds, int shards, int index, double first, double from, double until)
    {
        var stages = new List<LoadStage> { new(TimeSpan.FromSeconds(3), rate * 3), new(TimeSpan.FromSeconds(2), rate * 3), new(TimeSpan.FromSeconds(4), 0) };
        var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = rate, Shard = new LoadShard(index, shards), Stages = stages };
        var schedule = new TargetSchedule(rate, stages, TimeSpan.FromSeconds(warmupSeconds), null);

        // One by one: the first start at or after `first`, then every start in [from, until).
        var oneByOne = LoadRun.NewArrivalSchedule(schedule, options, 1);
        double t;
        while (oneByOne.TryNext(out t) && t < first)
        {
        }

        var start = t;
        long expected = 0;
        for (var more = true; more && t < until; more = oneByOne.TryNext(out t))
        {
            if (t >= from)
            {
                expected++;
            }
        }

        var closed = LoadRun.NewArrivalSchedule(schedule, options, 1);
        while (closed.TryNext(out t) && t < first)
        {
        }

        Assert.That(t, Is.EqualTo(start));
        Assert.That(closed.CountDue(t, from, until), Is.EqualTo(expected));
    }

    private static (double Mean, double Cv) Stats(double[] gaps)
    {
        var mean = gaps.Average();
        var sd = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / (gaps.Length - 1));
        return (mean, sd / mean);
    }

    /// <summary>
    /// Evenly spaced starts at a constant rate: exactly rate × duration of them over the shards
    /// together, each shard its share (starts at i/rate + k·N/rate before the end). A gap summed
    /// start by start drifts below the end and made one start too many (51 at 10/s for 5 s).
    /// </summary>
    [TestCase(10.0, 5, 1, 0, 50)]
    [TestCase(3.0, 7, 1, 0, 21)]
    [TestCase(7.0, 3, 2, 0, 11)]
    [TestCase(7.0, 3, 2, 1, 10)]
    [TestCase(0.3, 10, 1, 0, 3)]
    [TestCase(1000.0, 60, 1, 0, 60_000)]
    [TestCase(1000.0, 60, 3, 2, 20_000)]
    [TestCase(200.0, 3600, 1, 0, 720_000)]
    public void Uniform_arrivals_at_a_constant_rate_make_exactly_rate_times_duration_starts(double rate, int seconds, int shards, int index, int expected)
    {
        var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = rate, Shard = new LoadShard(index, shards) };
        var arrivals = LoadRun.NewArrivalSchedule(new TargetSchedule(rate, null, TimeSpan.Zero, TimeSpan.FromSeconds(seconds)), options, 1);
        long starts = 0;
        var last = double.NaN;
        while (arrivals.TryNext(out var t))
        {
            Assert.That(t, Is.LessThan(seconds));
            last = t;
            starts++;
        }

        Assert.That(starts, Is.EqualTo(expected), $"last start at {last:R} s");
    }

    /// <summary>
    /// A ramp from rate 0: the n-th start is due when the rate integrated from the start reaches n.
    /// 0 to 30/s over 3 s is 45 starts, the k-th at √(k/5) s; 0 to 20/s, 20/s held, then back to 0,
    /// a second each, is 40. (The gap used to be 1/rate at its start: at a rate near 0 that is
    /// past the end, and the ramp made 1 start.)
    /// </summary>
    [Test]
    public void Uniform_arrivals_on_a_ramp_from_zero_follow_the_integrated_rate()
    {
        var up = UniformTimes(new TargetSchedule(0, [new LoadStage(TimeSpan.FromSeconds(3), 30)], TimeSpan.Zero, null));
        var upHoldDown = UniformTimes(new TargetSchedule(0, [new LoadStage(TimeSpan.FromSeconds(1), 20), new LoadStage(TimeSpan.FromSeconds(1), 20), new LoadStage(TimeSpan.FromSeconds(1), 0)], TimeSpan.Zero, null));
        var afterWarmup = UniformTimes(new TargetSchedule(10, [new LoadStage(TimeSpan.FromSeconds(2), 30)], TimeSpan.FromSeconds(1), null));
        var zero = UniformTimes(new TargetSchedule(0, [new LoadStage(TimeSpan.FromSeconds(10), 0)], TimeSpan.FromSeconds(2), null));
        var zeroThenRamp = UniformTimes(new TargetSchedule(0, [new LoadStage(TimeSpan.FromSeconds(1), 0), new LoadStage(TimeSpan.FromSeconds(3), 30)], TimeSpan.Zero, null));
        var downThenZero = UniformTimes(new TargetSchedule(0, [new LoadStage(TimeSpan.FromSeconds(2), 40), new LoadStage(TimeSpan.FromSeconds(1), 0), new LoadStage(TimeSpan.FromSeconds(1), 0)], TimeSpan.Zero, null));
        var downThenUp = UniformTimes(new TargetSchedule(0, [new LoadStage(TimeSpan.FromSeconds(2), 40), new LoadStage(TimeSpan.FromSeconds(1), 0), new LoadStage(TimeSpan.FromSeconds(1), 40)], TimeSpan.Zero, null));

        Assert.Multiple(() =>
        {
            Assert.That(up, Has.Count.EqualTo(45));
            Assert.That(up.Select((t, k) => t - Math.Sqrt(k / 5.0)), Has.All.EqualTo(0).Within(1e-9));
            Assert.That(upHoldDown, Has.Count.EqualTo(40));
            Assert.That(upHoldDown.Count(t => t >= 1 && t < 2), Is.EqualTo(20), "20 in the held second");
            Assert.That(afterWarmup, Has.Count.EqualTo(10 + 40), "10 in the warm-up second at the start rate, then 10 to 30/s over 2 s");
            Assert.That(up.Zip(up.Skip(1), (a, b) => b - a), Has.All.Positive, "in order");
            Assert.That(zero, Is.Empty, "no start while the rate is zero, not even a first one");
            Assert.That(zeroThenRamp, Has.Count.EqualTo(45));
            Assert.That(zeroThenRamp[0], Is.EqualTo(1), "the first start when the ramp begins, not during the second of rate zero");
            Assert.That(downThenZero, Has.Count.EqualTo(60), "the area: no start at the moment the rate reaches zero, with a stage of zero after it");
            Assert.That(downThenUp, Has.Count.EqualTo(80), "the area of 0 to 40 to 0 to 40/s: the 61st start when the rate grows again");
            Assert.That(downThenUp[60], Is.EqualTo(3), "due as the last ramp begins");
        });
    }

    /// <summary>
    /// Poisson arrivals on the same ramp make on average the integrated rate, 45 starts (over 400
    /// seeds, the mean of a Poisson count of 45 has a standard error of 0.34), with more of them
    /// in the last second than in the first, as the rate grows.
    /// </summary>
    [Test]
    public void Poisson_arrivals_on_a_ramp_from_zero_follow_the_integrated_rate_on_average()
    {
        var counts = new List<int>();
        int first = 0, last = 0;
        for (var seed = 0; seed < 400; seed++)
        {
            var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = 0, Arrivals = LoadArrivals.Poisson };
            var arrivals = LoadRun.NewArrivalSchedule(new TargetSchedule(0, [new LoadStage(TimeSpan.FromSeconds(3), 30)], TimeSpan.Zero, null), options, seed);
            var count = 0;
            while (arrivals.TryNext(out var t))
            {
                count++;
                first += t < 1 ? 1 : 0;
                last += t >= 2 ? 1 : 0;
            }

            counts.Add(count);
        }

        Assert.Multiple(() =>
        {
            Assert.That(counts.Average(), Is.EqualTo(45).Within(1.5));
            Assert.That(first / 400.0, Is.EqualTo(5).Within(0.6), "the first second integrates to 5");
            Assert.That(last / 400.0, Is.EqualTo(25).Within(1.5), "the last second integrates to 25");
        });
    }

    private static List<double> UniformTimes(TargetSchedule schedule)
    {
        var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = 0 };
        var arrivals = LoadRun.NewArrivalSchedule(schedule, options, 1);
        var times = new List<double>();
        while (arrivals.TryNext(out var t) && times.Count < 10_000)
        {
            times.Add(t);
        }

        return times;
    }

    /// <summary>
    /// 20,000 Poisson gaps at 200/s: their mean is 1/rate = 5 ms within 3% (the standard error of
    /// the mean is 0.7%), their coefficient of variation 1 within 0.05 (an exponential's is 1,
    /// its standard error here about 1%); uniform gaps are all 5 ms, a coefficient of variation of 0.
    /// </summary>
    [TestCase(1)]
    [TestCase(42)]
    public void Poisson_gaps_have_mean_one_over_the_rate_and_a_coefficient_of_variation_near_1_uniform_ones_near_0(int seed)
    {
        var (poissonMean, poissonCv) = Stats(Gaps(LoadArrivals.Poisson, seed, LoadShard.Whole, Starts));
        var (uniformMean, uniformCv) = Stats(Gaps(LoadArrivals.Uniform, seed, LoadShard.Whole, Starts));
        TestContext.Out.WriteLine($"poisson: mean gap {poissonMean * 1000:0.0000} ms, cv {poissonCv:0.0000}; uniform: mean gap {uniformMean * 1000:0.0000} ms, cv {uniformCv:0.000000}");

        Assert.Multiple(() =>
        {
            Assert.That(poissonMean, Is.EqualTo(1 / Rate).Within(3).Percent);
            Assert.That(poissonCv, Is.EqualTo(1).Within(0.05));
            Assert.That(uniformMean, Is.EqualTo(1 / Rate).Within(1e-6).Percent);
            Assert.That(uniformCv, Is.LessThan(1e-6));
        });
    }

    [Test]
    public void A_seed_repeats_the_Poisson_schedule_and_another_seed_does_not()
    {
        var first = Times(LoadArrivals.Poisson, 7, LoadShard.Whole, 1000);
        var again = Times(LoadArrivals.Poisson, 7, LoadShard.Whole, 1000);
        var other = Times(LoadArrivals.Poisson, 8, LoadShard.Whole, 1000);

        Assert.That(again, Is.EqualTo(first));
        Assert.That(other, Is.Not.EqualTo(first));
    }

    /// <summary>
    /// Two shards each run a Poisson process at half the rate (mean gap 2/rate); their starts
    /// together are one at the whole rate (mean gap 1/rate, coefficient of variation near 1), and
    /// the shards' schedules differ.
    /// </summary>
    [Test]
    public void Poisson_shards_keep_their_share_and_together_make_the_whole_rate()
    {
        var shard0 = Times(LoadArrivals.Poisson, 3, new LoadShard(0, 2), Starts / 2);
        var shard1 = Times(LoadArrivals.Poisson, 3, new LoadShard(1, 2), Starts / 2);
        var (mean0, _) = Stats([.. shard0.Zip(shard0.Skip(1), (a, b) => b - a)]);
        var (mean1, _) = Stats([.. shard1.Zip(shard1.Skip(1), (a, b) => b - a)]);

        // Together, up to the time both shards still cover.
        var until = Math.Min(shard0[^1], shard1[^1]);
        var merged = shard0.Concat(shard1).Where(t => t <= until).Order().ToList();
        var (mergedMean, mergedCv) = Stats([.. merged.Zip(merged.Skip(1), (a, b) => b - a)]);
        TestContext.Out.WriteLine($"shard gaps {mean0 * 1000:0.000} / {mean1 * 1000:0.000} ms; together {mergedMean * 1000:0.000} ms, cv {mergedCv:0.000}");

        Assert.Multiple(() =>
        {
            Assert.That(mean0, Is.EqualTo(2 / Rate).Within(4).Percent);
            Assert.That(mean1, Is.EqualTo(2 / Rate).Within(4).Percent);
            Assert.That(mergedMean, Is.EqualTo(1 / Rate).Within(4).Percent);
            Assert.That(mergedCv, Is.EqualTo(1).Within(0.06));
            Assert.That(shard1.Take(100), Is.Not.EqualTo(shard0.Take(100)));
        });
    }

    [Test]
    public void Uniform_shards_interleave_into_the_whole_rate_s_even_spacing()
    {
        var shard0 = Times(LoadArrivals.Uniform, 1, new LoadShard(0, 2), 500);
        var shard1 = Times(LoadArrivals.Uniform, 1, new LoadShard(1, 2), 500);
        var merged = shard0.Concat(shard1).Order().ToList();
        var gaps = merged.Zip(merged.Skip(1), (a, b) => b - a).ToList();

        Assert.That(gaps, Has.All.EqualTo(1 / Rate).Within(1e-9));
    }

    /// <summary>
    /// The closed model's concurrency is split over the shards, the remainder to the first ones: a
    /// shard whose share is 0 throughout would never start a session, and a run bounded by its
    /// session count would never end. Refused, naming the shard.
    /// </summary>
    [TestCase(1, 2, 1.0, "Shard 1/2 of a closed model whose highest concurrency is 1 gets no session")]
    [TestCase(2, 4, 2.0, "Shard 2/4 of a closed model whose highest concurrency is 2 gets no session")]
    [TestCase(0, 1, 0.0, "A closed model whose concurrency is 0 throughout starts no session")]
    public void A_closed_shard_whose_share_of_the_concurrency_is_zero_is_refused(int index, int shards, double concurrency, string message)
    {
        var options = new LoadTestOptions { Model = LoadModelKind.Closed, Target = concurrency, Sessions = 20, Shard = new LoadShard(index, shards) };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty));

        Assert.That(options.Validate, Throws.ArgumentException.With.Message.Contains(message));
    }

    [Test]
    public void A_closed_shard_with_a_share_of_a_ramp_is_accepted()
    {
        var options = new LoadTestOptions { Model = LoadModelKind.Closed, Target = 0, Stages = [new LoadStage(TimeSpan.FromSeconds(1), 2)], Shard = new LoadShard(1, 2) };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty));

        Assert.That(options.Validate, Throws.Nothing);
    }

    [Test]
    public void Poisson_arrivals_are_for_the_open_model()
    {
        var options = new LoadTestOptions { Model = LoadModelKind.Closed, Arrivals = LoadArrivals.Poisson, Sessions = 1 };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty));

        Assert.That(options.Validate, Throws.ArgumentException.With.Message.Contains("open model"));
    }

    /// <summary>
    /// A short run through the command: 40 sessions/s for 3 s with Poisson arrivals and a fixed seed
    /// starts the schedule's sessions (about 120; the seeded schedule fixes the count), every one
    /// finishes, and the configuration records the arrivals.
    /// </summary>
    [Test]
    public async Task The_command_runs_Poisson_arrivals_and_records_them_in_the_configuration()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = 40, Arrivals = LoadArrivals.Poisson };
        var expected = 0;
        var schedule = LoadRun.NewArrivalSchedule(new TargetSchedule(40, null, TimeSpan.Zero, TimeSpan.FromSeconds(3)), options, 11);
        while (schedule.TryNext(out _))
        {
            expected++;
        }

        var result = await CliProcess.RunAsync("load", "--worker", worker.Address, "--format", "echo", "--rows", "10", "--rate", "40", "--duration", "3s", "--arrivals", "poisson", "--seed", "11", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("configuration").GetProperty("arrivals").GetString(), Is.EqualTo("poisson"));
            Assert.That(expected, Is.InRange(80, 160), "the seeded schedule: about 40/s for 3 s");
            Assert.That(root.GetProperty("sessions").GetProperty("started").GetInt64() + root.GetProperty("sessions").GetProperty("notStarted").GetInt64(), Is.EqualTo(expected));
            Assert.That(root.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.EqualTo(root.GetProperty("sessions").GetProperty("started").GetInt64()));
        });
    }

    [Test]
    public async Task Poisson_arrivals_with_the_closed_model_are_bad_usage()
    {
        var result = await CliProcess.RunAsync("load", "--worker", "unix:///nonexistent.sock", "--format", "echo", "--concurrency", "2", "--sessions", "1", "--arrivals", "poisson");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("--arrivals poisson is for the open model"));
    }

    /// <summary>
    /// The measured time ends at the whole run's first start not made. Shards of even spacing
    /// interleave, so each shard's own next start lies up to N - 1 starts past it: 4 shards at 4/s
    /// for 3 s used to end at 3, 3.25, 3.5 and 3.75 s, and their merge measured 3.75 s (3.2/s for a
    /// run of 4/s). Every shard now gives the whole run's: 3 s. One run alone keeps its own next
    /// start (each start takes its slot: 3 starts at 1/s in 2.5 s measure 3 s).
    /// </summary>
    [TestCase(4.0, 3.0, 4, 3.0)]
    [TestCase(4.0, 3.1, 4, 3.25)]
    [TestCase(40.0, 3.0, 2, 3.0)]
    [TestCase(1.0, 2.5, 1, 3.0)]
    [TestCase(3.0, 2.0, 7, 2.0)]
    public void Every_shard_of_even_spacing_ends_its_measured_time_at_the_whole_runs_first_start_not_made(double rate, double seconds, int shards, double expected)
    {
        for (var index = 0; index < shards; index++)
        {
            var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = rate, Shard = new LoadShard(index, shards) };
            var arrivals = LoadRun.NewArrivalSchedule(new TargetSchedule(rate, null, TimeSpan.Zero, TimeSpan.FromSeconds(seconds)), options, 1);
            while (arrivals.TryNext(out _))
            {
            }

            Assert.That(arrivals.FirstNotMadeAtEnd(), Is.EqualTo(expected).Within(1e-9), $"shard {index + 1}/{shards} (its own next start: {arrivals.Unclamped:R} s)");
        }
    }

    /// <summary>
    /// A Poisson process has no slots: its measured time is the time it ran, not its next draw
    /// past the end. At 1/s for 3 s (seed 2) that draw fell at 4.79 s, and the run reported 0.63
    /// starts a second for 3 starts in 3 s.
    /// </summary>
    [TestCase(1.0, 3.0, 2, 1)]
    [TestCase(1.0, 3.0, 1, 1)]
    [TestCase(4.0, 3.0, 5, 3)]
    public void A_poisson_process_ends_its_measured_time_at_the_schedules_end(double rate, double seconds, int seed, int shards)
    {
        for (var index = 0; index < shards; index++)
        {
            var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = rate, Arrivals = LoadArrivals.Poisson, Shard = new LoadShard(index, shards) };
            var arrivals = LoadRun.NewArrivalSchedule(new TargetSchedule(rate, null, TimeSpan.Zero, TimeSpan.FromSeconds(seconds)), options, seed);
            while (arrivals.TryNext(out _))
            {
            }

            Assert.That(arrivals.FirstNotMadeAtEnd(), Is.EqualTo(seconds), $"shard {index + 1}/{shards} (its next draw: {arrivals.Unclamped:R} s)");
        }
    }

    /// <summary>
    /// A session bound split over shards: each shard makes its share, and every shard's measured
    /// time ends at the whole run's first start not made, the bound's next start (4 shards at 4/s
    /// with 12 sessions: 3 s, where they used to end at 3, 3.25, 3.5 and 3.75 s). After a warm-up
    /// the bound counts from the first measured start (1 s of warm-up at 4/s: the 17th start, at 4 s).
    /// </summary>
    [TestCase(4.0, 12, 4, 0.0, 3.0)]
    [TestCase(4.0, 12, 4, 1.0, 4.0)]
    [TestCase(4.0, 13, 4, 0.0, 3.25)]
    [TestCase(10.0, 7, 3, 0.0, 0.7)]
    [TestCase(2.0, 5, 1, 0.0, 2.5)]
    public void Every_shard_of_a_session_bound_ends_its_measured_time_at_the_bounds_next_start(double rate, int sessions, int shards, double warmup, double expected)
    {
        for (var index = 0; index < shards; index++)
        {
            var options = new LoadTestOptions { Model = LoadModelKind.Open, Target = rate, Sessions = sessions, Warmup = TimeSpan.FromSeconds(warmup), Shard = new LoadShard(index, shards) };
            var arrivals = LoadRun.NewArrivalSchedule(new TargetSchedule(rate, null, TimeSpan.FromSeconds(warmup), null), options, 1);
            var share = options.ShardSessions!.Value;
            var made = 0;
            while (made < share && arrivals.TryNext(out var t))
            {
                if (t >= warmup)
                {
                    made++;
                }
            }

            arrivals.TryNext(out _);

            Assert.That(arrivals.FirstNotMadeAfter(sessions, warmup), Is.EqualTo(expected).Within(1e-9), $"shard {index + 1}/{shards} (its own next start: {arrivals.Unclamped:R} s)");
        }
    }
}
