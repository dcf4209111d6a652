using System.Text.RegularExpressions;
using Engine.Client.Load;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The HTML report's plots as written: tick labels that say something when every value is 0, and
/// every plot over time on the same x range. (The browser test checks the layout as drawn.)
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadHtmlLayoutTests
{
    [Test]
    public void A_plot_whose_values_are_all_zero_has_distinct_y_tick_labels()
    {
        var html = LoadReports.ToHtml(Result());

        var ticks = Texts(Plot(html, "plot-errors-over-time"), "ytick");

        Assert.That(ticks, Is.EqualTo(new[] { "0", "0.25", "0.5", "0.75", "1" }), "no failures, starts not made or late starts in any interval");
    }

    [Test]
    public void Y_ticks_are_round_steps_up_to_at_least_the_highest_value()
    {
        var html = LoadReports.ToHtml(Result(failed: 3));

        Assert.That(Texts(Plot(html, "plot-errors-over-time"), "ytick"), Is.EqualTo(new[] { "0", "1", "2", "3", "4" }));
    }

    [Test]
    public void Every_plot_over_time_spans_the_whole_run_warm_up_included()
    {
        var html = LoadReports.ToHtml(Result());

        var ranges = new[] { "plot-latency-over-time", "plot-throughput-over-time", "plot-bytes-over-time", "plot-errors-over-time" }
            .Select(id => string.Join(",", Texts(Plot(html, id), "xtick")))
            .ToList();

        Assert.That(ranges.Distinct().ToList(), Is.EqualTo(new[] { "0,1,2,3,4" }), "the warm-up interval (0 to 1 s) and the three measured ones, on every plot");
    }

    [Test]
    public void The_sessions_per_second_plot_counts_measured_starts_as_it_counts_measured_ends()
    {
        var plot = Plot(LoadReports.ToHtml(Result()), "plot-throughput-over-time");

        var started = Regex.Match(plot, "data-series=\"started\" d=\"M[0-9.]+,([0-9.]+) L[0-9.]+,([0-9.]+)");
        var finished = Regex.Match(plot, "data-series=\"finished\" d=\"M[0-9.]+,([0-9.]+) L[0-9.]+,([0-9.]+)");
        Assert.Multiple(() =>
        {
            Assert.That(started.Success && finished.Success, Is.True, plot);
            Assert.That(started.Groups[1].Value, Is.EqualTo(finished.Groups[1].Value), "the warm-up interval: no measured start, no measured end");
            Assert.That(started.Groups[2].Value, Is.EqualTo(finished.Groups[2].Value), "a measured interval: 10 of each");
        });
    }

    private static string Plot(string html, string id)
    {
        var match = Regex.Match(html, $"<svg class=\"plot\" id=\"{id}\".*?</svg>", RegexOptions.Singleline);
        Assert.That(match.Success, Is.True, id);
        return match.Value;
    }

    private static List<string> Texts(string svg, string cssClass) =>
        [.. Regex.Matches(svg, $"<text class=\"{cssClass}\"[^>]*>([^<]*)</text>").Select(m => m.Groups[1].Value)];

    /// <summary>A warm-up interval, then three measured ones of one second; <paramref name="failed"/> sessions failed in the last.</summary>
    private static LoadResult Result(long failed = 0)
    {
        var session = new LongHistogram(1, 3_600_000_000L, 3);
        session.RecordValueWithCount(2_000, 30);
        LoadInterval Interval(int index, bool warmup, long failures) => new()
        {
            Index = index,
            StartSeconds = index,
            Seconds = 1,
            Warmup = warmup,
            Started = 10,
            WarmupStarted = warmup ? 10 : 0,
            Finished = warmup ? 0 : 10,
            Failed = failures,
            SessionP50 = warmup ? null : 2,
            SessionP90 = warmup ? null : 2,
            SessionP99 = warmup ? null : 2,
            SessionMax = warmup ? null : 2,
        };

        return new LoadResult
        {
            StartedAt = DateTimeOffset.UnixEpoch,
            Seconds = 3,
            Model = LoadModelKind.Open,
            Target = 10,
            Shards = ["0/1"],
            Hosts = ["host"],
            Sources = ["unix:///w.sock"],
            Sessions = new LoadSessionCounts { Started = 30, Finished = 30 },
            Latency = new Dictionary<string, HistogramBase> { [LoadPhases.Session] = session },
            Workers = [new LoadWorkerFigures { Worker = "unix:///w.sock", Sessions = 30, Finished = 30, Session = session }],
            Generators = [new LoadGeneratorFigures { Host = "host", Cores = 2 }],
            Intervals = [Interval(0, true, 0), Interval(1, false, 0), Interval(2, false, 0), Interval(3, false, failed)],
        };
    }
}
