using Engine.Client.Load;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>The CSV report's interval rows, read as a script reads them.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadCsvTests
{
    /// <summary>
    /// 200 starts over the intervals, 50 of them warm-up starts: the rows' <c>started</c> less their
    /// <c>warmup_started</c> (the last column) adds up to <c>sessions.started</c>, 150; the columns
    /// before it keep their positions.
    /// </summary>
    [Test]
    public void Interval_rows_end_with_the_warm_up_starts_so_started_matches_the_measured_starts()
    {
        var result = new LoadResult
        {
            StartedAt = DateTimeOffset.UnixEpoch,
            Seconds = 3,
            Model = LoadModelKind.Open,
            Target = 50,
            Shards = ["0/1"],
            Hosts = ["host"],
            Sources = ["unix:///w.sock"],
            Sessions = new LoadSessionCounts { Started = 150, Finished = 150, Warmup = 50 },
            Latency = new Dictionary<string, HistogramBase> { [LoadPhases.Session] = new LongHistogram(1, 3_600_000_000L, 3) },
            Generators = [new LoadGeneratorFigures { Host = "host", Cores = 2 }],
            Intervals =
            [
                new LoadInterval { Index = 0, StartSeconds = 0, Seconds = 1, Warmup = true, Started = 50, WarmupStarted = 50, ThreadPoolQueue = 7 },
                new LoadInterval { Index = 1, StartSeconds = 1, Seconds = 1, Started = 75, Finished = 75, ThreadPoolQueue = 7 },
                new LoadInterval { Index = 2, StartSeconds = 2, Seconds = 1, Started = 75, Finished = 75, ThreadPoolQueue = 7 },
            ],
        };

        var lines = LoadReports.ToCsv(result).Split('\n');
        var table = lines.SkipWhile(l => l.Length > 0).Skip(1).Where(l => l.Length > 0).ToList();
        var header = table[0].Split(',');
        var rows = table.Skip(1).Select(l => l.Split(',')).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(header[^1], Is.EqualTo("warmup_started"));
            Assert.That(header[^2], Is.EqualTo("thread_pool_queue"), "the columns before keep their places");
            Assert.That(header[5], Is.EqualTo("started"));
            Assert.That(rows.Select(r => r[^2]), Is.All.EqualTo("7"));
            Assert.That(rows.Sum(r => long.Parse(r[5], System.Globalization.CultureInfo.InvariantCulture)), Is.EqualTo(200));
            Assert.That(rows.Sum(r => long.Parse(r[5], System.Globalization.CultureInfo.InvariantCulture) - long.Parse(r[^1], System.Globalization.CultureInfo.InvariantCulture)), Is.EqualTo(result.Sessions.Started));
        });
    }
}
