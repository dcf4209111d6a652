using CsCheck;
using Engine.Client.Load;
using HdrHistogram;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Load;

/// <summary>
/// Shards merge exactly: the results of several shards, written as JSON and read back, merge into
/// percentiles equal to those of one histogram of every value.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadMergeTests
{
    private static readonly double[] Percentiles = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100];

    [Test]
    public void Shards_written_as_json_and_merged_equal_one_histogram_of_all_values_percentile_for_percentile()
    {
        var gen =
            from shards in Gen.Int[1, 6]
            from values in Gen.Long[1, 3_600_000_000L].Array[1, 400]
            from assignment in Gen.Int[0, 5].Array[values.Length]
            select (shards, values, assignment);
        gen.Sample(sample =>
        {
            var (shards, values, assignment) = sample;
            var single = new LongHistogram(1, 3_600_000_000L, 3);
            var perShard = Enumerable.Range(0, shards).Select(_ => new LongHistogram(1, 3_600_000_000L, 3)).ToArray();
            for (var i = 0; i < values.Length; i++)
            {
                single.RecordValue(values[i]);
                perShard[assignment[i] % shards].RecordValue(values[i]);
            }

            var results = perShard.Select((h, i) => LoadReports.FromJson(LoadReports.ToJson(ShardResult(h, i, shards)))).ToList();
            var merged = LoadResult.Merge(results);
            var session = merged.Latency[LoadPhases.Session];
            if (session.TotalCount != single.TotalCount || session.GetMaxValue() != single.GetMaxValue())
            {
                return false;
            }

            foreach (var p in Percentiles)
            {
                if (session.GetValueAtPercentile(p) != single.GetValueAtPercentile(p))
                {
                    return false;
                }
            }

            return merged.Sessions.Finished == values.Length
                && merged.Workers.Single().Session.GetValueAtPercentile(99) == single.GetValueAtPercentile(99)
                && merged.Shards.Count == shards;
        }, iter: 200);
    }

    /// <summary>
    /// Two shards of one open-model run, 4 starts a second for 2 s after a warm-up of 1 s (so that
    /// no measured session is a slow first one) against a real worker: each measures the run's 2 s,
    /// and their merge 8 starts in 2 s, 4 a second. The second shard's measured time used to run to
    /// its own next start, 2.25 s, and the merge reported 3.6 a second.
    /// </summary>
    [Test]
    public async Task Shards_of_a_real_run_merge_into_the_runs_time_and_rate()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var shards = new List<LoadResult>();
        for (var index = 0; index < 2; index++)
        {
            var options = new LoadTestOptions
            {
                Model = LoadModelKind.Open,
                Target = 4,
                Duration = TimeSpan.FromSeconds(2),
                Warmup = TimeSpan.FromSeconds(1),
                Shard = new LoadShard(index, 2),
                SessionOptions = TaskTimeouts.HugeTimeouts(),
                Seed = 1,
            };
            options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty)
            {
                Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 10, batchRows: null, batches: 1),
            });
            shards.Add(LoadReports.FromJson(LoadReports.ToJson(await LoadTest.RunAsync(client, options).WaitAsync(TimeSpan.FromMinutes(2)))));
        }

        var merged = LoadResult.Merge(shards);

        Assert.Multiple(() =>
        {
            Assert.That(merged.Sessions.Started, Is.EqualTo(8));
            // A session's end may come later on a loaded machine and lengthen either shard's time;
            // the second shard's own next start, 2.25 s, is what it must not measure to.
            Assert.That(shards.Select(s => s.Seconds), Has.All.GreaterThanOrEqualTo(2.0));
            Assert.That(shards[1].Seconds, Is.Not.EqualTo(2.25).Within(1e-6), "the second shard measured to its own next start");
            Assert.That(merged.Seconds, Is.EqualTo(shards.Max(s => s.Seconds)));
        });
    }

    [Test]
    public void Merged_counts_traffic_errors_and_intervals_add_up()
    {
        var a = ShardResult(Histogram(1000, 2000), 0, 2);
        var b = ShardResult(Histogram(3000), 1, 2);
        var merged = LoadResult.Merge([LoadReports.FromJson(LoadReports.ToJson(a)), LoadReports.FromJson(LoadReports.ToJson(b))]);
        Assert.Multiple(() =>
        {
            Assert.That(merged.Sessions.Finished, Is.EqualTo(3));
            Assert.That(merged.Sessions.Failed["transportFailed"], Is.EqualTo(2));
            Assert.That(merged.Errors.Single().Count, Is.EqualTo(2));
            Assert.That(merged.Traffic.BytesSent, Is.EqualTo(200));
            Assert.That(merged.Intervals, Has.Count.EqualTo(1));
            Assert.That(merged.Intervals[0].Finished, Is.EqualTo(3));
            Assert.That(merged.Intervals[0].SessionMax, Is.EqualTo(3.0).Within(0.01));
            Assert.That(merged.Generators, Has.Count.EqualTo(2));
        });
    }

    /// <summary>
    /// A merged interval's length is a difference of rounded times (0.1 + 0.2 - 0.1 is
    /// 0.20000000000000004 in binary floating point): it is rounded to the microsecond, as a run's
    /// own intervals are, not written to the JSON and the CSV with 17 digits; its CPU share, a
    /// mean of the shards', to two decimals.
    /// </summary>
    [Test]
    public void Merged_interval_figures_are_rounded_as_a_runs_own()
    {
        var a = WithIntervals(ShardResult(Histogram(1000), 0, 3), [new LoadInterval { Index = 0, StartSeconds = 0.1, Seconds = 0.2, Finished = 1, CpuPercent = 23.17 }]);
        var b = WithIntervals(ShardResult(Histogram(2000), 1, 3), [new LoadInterval { Index = 0, StartSeconds = 0.1, Seconds = 0.2, Finished = 1, CpuPercent = 23.18 }]);
        var c = WithIntervals(ShardResult(Histogram(3000), 2, 3), [new LoadInterval { Index = 0, StartSeconds = 0.1, Seconds = 0.2, Finished = 1, CpuPercent = 23.2 }]);

        var merged = LoadResult.Merge([a, b, c]).Intervals.Single();

        Assert.Multiple(() =>
        {
            Assert.That(merged.Seconds, Is.EqualTo(0.2));
            Assert.That(merged.CpuPercent, Is.EqualTo(23.18), "the shards' mean, to two decimals as a run's own (not 23.183333333333334)");
        });
    }

    /// <summary>
    /// A shard whose drain ended sooner has one interval fewer: the merged last interval's target is
    /// still the whole run's, its last target counted, not the other shards' alone.
    /// </summary>
    [Test]
    public void A_merged_interval_past_one_shards_end_counts_that_shards_last_target()
    {
        var a = WithIntervals(ShardResult(Histogram(1000), 0, 2), [new LoadInterval { Index = 0, StartSeconds = 0, Seconds = 1, Target = 50, Finished = 1 }]);
        var b = WithIntervals(ShardResult(Histogram(2000), 1, 2), [
            new LoadInterval { Index = 0, StartSeconds = 0, Seconds = 1, Target = 50, Finished = 1 },
            new LoadInterval { Index = 1, StartSeconds = 1, Seconds = 0.039, Target = 50, Finished = 1 },
        ]);

        var merged = LoadResult.Merge([a, b]).Intervals;

        Assert.That(merged.Select(i => i.Target), Is.EqualTo(new[] { 100.0, 100.0 }));
    }

    [Test]
    public void Merged_intervals_follow_one_another_without_overlapping()
    {
        // Two shards whose intervals start and end a few milliseconds apart, as real shards' do.
        static LoadResult Timed(LoadResult result, params (double Start, double Seconds)[] spans) => WithIntervals(result,
            [.. spans.Select((span, index) => new LoadInterval { Index = index, StartSeconds = span.Start, Seconds = span.Seconds, Finished = 1 })]);
        var a = Timed(ShardResult(Histogram(1000), 0, 2), (0, 1.008), (1.008, 1.002), (2.010, 0.5));
        var b = Timed(ShardResult(Histogram(2000), 1, 2), (0, 1.005), (1.005, 1.004), (2.009, 0.4));

        var merged = LoadResult.Merge([a, b]).Intervals;

        Assert.Multiple(() =>
        {
            Assert.That(merged.Select(i => i.StartSeconds), Is.EqualTo(new[] { 0, 1.005, 2.009 }));
            Assert.That(merged.Select(i => i.StartSeconds + i.Seconds).ToArray(), Is.EqualTo(new[] { 1.005, 2.009, 2.51 }).Within(1e-9), "each ends where the next begins; the last at the latest end");
            Assert.That(merged.Select(i => i.Finished), Is.EqualTo(new[] { 2, 2, 2 }));
        });
    }

    [Test]
    public void Shards_of_one_run_are_like_runs_and_their_merge_keeps_what_they_share_and_lists_what_differs()
    {
        var a = WithConfiguration(ShardResult(Histogram(1000), 0, 2), ("model", "open"), ("scenarios", "echo"), ("seed", "7"), ("command", "engine-client load --shard 0/2"));
        var b = WithConfiguration(ShardResult(Histogram(2000), 1, 2), ("model", "open"), ("scenarios", "echo"), ("seed", "8"), ("command", "engine-client load --shard 1/2"));

        var merged = LoadResult.Merge([a, b]);

        Assert.Multiple(() =>
        {
            Assert.That(LoadResult.Differences([a, b]), Is.Empty);
            Assert.That(merged.Configuration["model"], Is.EqualTo("open"));
            Assert.That(merged.Configuration["scenarios"], Is.EqualTo("echo"));
            Assert.That(merged.Configuration["seed"], Is.EqualTo("result 1: 7\nresult 2: 8"));
            Assert.That(merged.Configuration["command"], Is.EqualTo("result 1: engine-client load --shard 0/2\nresult 2: engine-client load --shard 1/2"));
            Assert.That(merged.Configuration, Does.Not.ContainKey("mergeWarning"));
            Assert.That(merged.WithLabels([new("mergeCommand", "engine-client load merge a b")]).Configuration["mergeCommand"], Is.EqualTo("engine-client load merge a b"));
        });
    }

    [Test]
    public void Results_of_another_model_target_sources_or_scenario_are_unlike_and_the_merge_records_how()
    {
        var open = WithConfiguration(ShardResult(Histogram(1000), 0, 1), ("model", "open"), ("scenarios", "echo"));
        var closed = WithConfiguration(ShardResult(Histogram(2000), 0, 1), ("model", "closed"), ("scenarios", "select"));
        closed = new LoadResult
        {
            Model = LoadModelKind.Closed,
            Target = 4,
            Sources = ["unix:///other.sock"],
            Configuration = closed.Configuration,
            Latency = closed.Latency,
            Sessions = closed.Sessions,
        };
        var third = WithConfiguration(ShardResult(Histogram(3000), 0, 1), ("model", "open"), ("scenarios", "echo"));

        var differences = LoadResult.Differences([open, closed, third]);
        var merged = LoadResult.Merge([open, closed, third]);

        Assert.Multiple(() =>
        {
            Assert.That(differences.Select(d => d.Setting), Is.EqualTo(new[] { "model", "target", "sources", "scenarios" }));
            Assert.That(differences[0].Values, Is.EqualTo(new[] { "open", "closed", "open" }));
            Assert.That(differences[1].Values, Is.EqualTo(new[] { "10 sessions/s", "4 concurrent sessions", "10 sessions/s" }));
            Assert.That(differences[2].Values, Is.EqualTo(new[] { "unix:///w.sock", "unix:///other.sock", "unix:///w.sock" }));
            Assert.That(merged.Configuration["model"], Is.EqualTo("results 1, 3: open\nresult 2: closed"));
            Assert.That(merged.Configuration["mergeWarning"], Does.Contain("not like runs")
                .And.Contain("model (results 1, 3: open; result 2: closed)")
                .And.Contain("target (results 1, 3: 10 sessions/s; result 2: 4 concurrent sessions)")
                .And.Contain("sources (results 1, 3: unix:///w.sock; result 2: unix:///other.sock)")
                .And.Contain("scenarios (results 1, 3: echo; result 2: select)"));
            Assert.That(merged.Sessions.Finished, Is.EqualTo(3), "unlike runs are still added up");
        });
    }

    /// <summary>
    /// A shard's result given twice, or a merge given with one of its parts, would count the same
    /// sessions twice: the merge refuses and names both results. Results without run identifiers
    /// (written before they were recorded) cannot be checked and merge as before.
    /// </summary>
    [Test]
    public void A_run_given_twice_is_refused_whether_as_the_same_result_or_inside_a_merge()
    {
        var a = WithRun(ShardResult(Histogram(1000), 0, 2), "run-a");
        var b = WithRun(ShardResult(Histogram(2000), 1, 2), "run-b");
        var c = WithRun(ShardResult(Histogram(3000), 0, 1), "run-c");
        var ab = LoadResult.Merge([a, b]);
        var copyOfA = LoadReports.FromJson(LoadReports.ToJson(a));

        Assert.Multiple(() =>
        {
            Assert.That(ab.Runs, Is.EqualTo(new[] { "run-a", "run-b" }), "a merge covers the runs of its parts, in order");
            Assert.That(copyOfA.Runs, Is.EqualTo(new[] { "run-a" }), "the run identifier survives JSON");
            Assert.That(LoadResult.DuplicateRuns([a, b, c]), Is.Empty);
            Assert.That(LoadResult.DuplicateRuns([a, b, copyOfA]), Is.EqualTo(new[] { (0, 2, "run-a") }));
            Assert.That(LoadResult.DuplicateRuns([c, ab, b]), Is.EqualTo(new[] { (1, 2, "run-b") }));
            Assert.That(() => LoadResult.Merge([a, copyOfA]), Throws.ArgumentException.With.Message.Contains("Results 1 and 2 both cover run run-a"));
            Assert.That(() => LoadResult.Merge([ab, c, b]), Throws.ArgumentException.With.Message.Contains("Results 1 and 3 both cover run run-b"));
            Assert.That(LoadResult.Merge([ShardResult(Histogram(1000), 0, 1), ShardResult(Histogram(1000), 0, 1)]).Sessions.Finished, Is.EqualTo(2), "no identifiers, nothing to check");
        });
    }

    private static LoadResult WithRun(LoadResult result, string run) => Copy(result, [run], result.Intervals);

    /// <summary>A copy of <paramref name="result"/> with other runs and intervals.</summary>
    private static LoadResult Copy(LoadResult result, IReadOnlyList<string> runs, IReadOnlyList<LoadInterval> intervals) => new()
    {
        StartedAt = result.StartedAt,
        Seconds = result.Seconds,
        Model = result.Model,
        Target = result.Target,
        Shards = result.Shards,
        Runs = runs,
        Hosts = result.Hosts,
        Sources = result.Sources,
        Sessions = result.Sessions,
        Latency = result.Latency,
        Traffic = result.Traffic,
        Workers = result.Workers,
        Errors = result.Errors,
        Generators = result.Generators,
        Intervals = intervals,
    };

    private static LoadResult WithConfiguration(LoadResult result, params (string Key, string Value)[] settings) =>
        result.WithLabels(settings.Select(s => new KeyValuePair<string, string>(s.Key, s.Value)));

    private static LongHistogram Histogram(params long[] values)
    {
        var h = new LongHistogram(1, 3_600_000_000L, 3);
        foreach (var v in values)
        {
            h.RecordValue(v);
        }

        return h;
    }

    private static LoadResult WithIntervals(LoadResult result, List<LoadInterval> intervals) => Copy(result, [Guid.NewGuid().ToString("N")], intervals);

    private static LoadResult ShardResult(LongHistogram session, int index, int count)
    {
        return new LoadResult
        {
            StartedAt = DateTimeOffset.UnixEpoch,
            Seconds = 1,
            Model = LoadModelKind.Open,
            Target = 10,
            Shards = [$"{index}/{count}"],
            Hosts = [$"host{index}"],
            Sources = ["unix:///w.sock"],
            Sessions = new LoadSessionCounts
            {
                Started = session.TotalCount + 1,
                Finished = session.TotalCount,
                Failed = new Dictionary<string, long> { ["transportFailed"] = 1 },
            },
            Latency = new Dictionary<string, HistogramBase> { [LoadPhases.Session] = session },
            Traffic = new LoadTraffic { BytesSent = 100, BatchesSent = 1 },
            Workers = [new LoadWorkerFigures { Worker = "unix:///w.sock", Sessions = session.TotalCount, Finished = session.TotalCount, Session = session }],
            Errors = [new LoadErrorKind { Outcome = "transportFailed", ErrorKind = "unreachable", Status = "Unavailable", Count = 1, Messages = [$"shard {index}"] }],
            Generators = [new LoadGeneratorFigures { Host = $"host{index}", Cores = 2 }],
            Intervals = [Interval(session)],
        };
    }

    private static LoadInterval Interval(LongHistogram session) => new()
    {
        Finished = session.TotalCount,
        Seconds = 1,
        SessionMax = session.GetMaxValue() / 1000.0,
        SessionHistogram = LatencyHistograms.Encode(session),
    };
}
