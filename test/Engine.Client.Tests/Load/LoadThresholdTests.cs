using Engine.Client.Load;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>The threshold grammar: what parses, what is refused with a message naming the problem, and how it is judged.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadThresholdTests
{
    [TestCase("session.p99 < 100ms", true)]
    [TestCase("session.p99<100ms", true)]
    [TestCase("session.p50 <= 51ms", true)]
    [TestCase("session.p50 <= 49ms", false)]
    [TestCase("session.max < 0.2s", true)]
    [TestCase("session.p999 < 101000us", true)]
    [TestCase("session.p99 < 1ms", false)]
    [TestCase("session.p99 >= 100ms", false)]
    [TestCase("errors < 0.1%", false)]
    [TestCase("errors < 2%", true)]
    [TestCase("errors <= 1", true)]
    [TestCase("errors < 1", false)]
    [TestCase("rate >= 50/s", true)]
    [TestCase("rate > 200", false)]
    [TestCase("notStarted < 1", true)]
    [TestCase("init.p99 < 1s", false)]
    public void A_threshold_is_judged_on_the_result(string expression, bool passes)
    {
        var result = Result();
        var outcome = LoadThreshold.Parse(expression).Evaluate(result);
        Assert.That(outcome.Passed, Is.EqualTo(passes), $"{expression}: actual {outcome.ActualText}");
    }

    /// <summary>
    /// 40 measured starts were due: 19 started (18 of them late), 21 not started. Every share
    /// counts against the 40 due starts, as the generator's warning does ("18 of 40 starts ran
    /// behind schedule").
    /// </summary>
    [TestCase("behindSchedule < 50%", true, 45.0)]
    [TestCase("notStarted <= 52.5%", true, 52.5)]
    [TestCase("abandoned < 5%", true, 2.5)]
    public void Shares_of_starts_count_against_the_due_starts(string expression, bool passes, double percent)
    {
        var result = new LoadResult
        {
            Seconds = 2,
            Sessions = new LoadSessionCounts { Started = 19, Finished = 18, NotStarted = 21, BehindSchedule = 18, Abandoned = 1 },
        };

        var outcome = LoadThreshold.Parse(expression).Evaluate(result);

        Assert.Multiple(() =>
        {
            Assert.That(outcome.Passed, Is.EqualTo(passes), outcome.ActualText);
            Assert.That(outcome.Actual, Is.EqualTo(percent).Within(1e-9));
        });
    }

    [Test]
    public void A_phase_without_samples_fails_its_threshold_saying_so()
    {
        var outcome = LoadThreshold.Parse("init.p99 < 1s").Evaluate(Result());
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Passed, Is.False);
            Assert.That(outcome.ActualText, Is.EqualTo("no samples"));
        });
    }

    [TestCase("session.p99 < 50", "has no unit")]
    [TestCase("session.p98 < 50ms", "unknown statistic 'p98'")]
    [TestCase("sesion.p99 < 50ms", "unknown phase 'sesion'")]
    [TestCase("session.p99 = 50ms", "is not 'metric op value'")]
    [TestCase("errors < 5ms", "takes a count or a percentage")]
    [TestCase("errors < 150%", "a share is at most 100%")]
    [TestCase("behindSchedule <= 100.5%", "a share is at most 100%")]
    [TestCase("latency < 5ms", "unknown metric 'latency'")]
    [TestCase("rate > 5%", "rate takes sessions per second")]
    [TestCase("rate >= 10/m", "rate takes sessions per second (for example 100/s), not '/m'")]
    [TestCase("session.p99 < 2h", "'h' is not a latency unit; use us, ms or s")]
    [TestCase("errors < 5x", "takes a count or a percentage (for example 5 or 0.1%), not 'x'")]
    [TestCase("", "is not 'metric op value'")]
    public void A_malformed_threshold_is_refused_naming_what_is_wrong(string expression, string problem)
    {
        var ex = Assert.Throws<FormatException>(() => LoadThreshold.Parse(expression));
        Assert.That(ex!.Message, Does.Contain(problem));
    }

    /// <summary>100 sessions finished in 1 s (session 1..100 ms), 1 failed.</summary>
    private static LoadResult Result()
    {
        var session = new LongHistogram(1, 3_600_000_000L, 3);
        for (var ms = 1; ms <= 100; ms++)
        {
            session.RecordValue(ms * 1000);
        }

        return new LoadResult
        {
            Seconds = 1,
            Sessions = new LoadSessionCounts { Started = 101, Finished = 100, Failed = new Dictionary<string, long> { ["transportFailed"] = 1 } },
            Latency = new Dictionary<string, HistogramBase>
            {
                [LoadPhases.Session] = session,
                [LoadPhases.Init] = new LongHistogram(1, 3_600_000_000L, 3),
            },
        };
    }
}
