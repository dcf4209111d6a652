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

        Assert.That(Path(plot, "started"), Is.EqualTo(Path(plot, "finished")), "each measured interval: 10 of each");
    }

    /// <summary>At a billion sessions per second the y ticks read 500M to 2G, not ten digits that overflow the left margin.</summary>
    [Test]
    public void Large_y_ticks_are_written_compactly()
    {
        var plot = Plot(LoadReports.ToHtml(Result(target: 1e9)), "plot-throughput-over-time");

        Assert.That(Texts(plot, "ytick"), Is.EqualTo(new[] { "0", "500M", "1G", "1.5G", "2G" }));
    }

    /// <summary>The closed model draws no target line in the sessions per second plot, and its legend does not list one.</summary>
    [Test]
    public void A_series_without_points_is_not_in_the_legend()
    {
        var plot = Plot(LoadReports.ToHtml(Result(model: LoadModelKind.Closed)), "plot-throughput-over-time");

        Assert.That(Texts(plot, "legend"), Is.EqualTo(new[] { "started", "finished" }));
    }

    /// <summary>A last interval of 13 ms with one session is not drawn as a rate of 76 per second.</summary>
    [Test]
    public void A_very_short_interval_has_no_per_second_point()
    {
        var html = LoadReports.ToHtml(Result(last: new LoadInterval { Index = 4, StartSeconds = 4, Seconds = 0.013, Started = 1, Finished = 1, Traffic = new LoadTraffic { BytesSent = 1000 } }));

        Assert.Multiple(() =>
        {
            Assert.That(Path(Plot(html, "plot-throughput-over-time"), "finished"), Has.Count.EqualTo(3), "the three measured one-second intervals");
            Assert.That(Path(Plot(html, "plot-bytes-over-time"), "sent"), Has.Count.EqualTo(3));
        });
    }

    /// <summary>An interval in which no session ended (a frozen worker) breaks the latency lines.</summary>
    [Test]
    public void An_interval_without_a_value_breaks_the_line()
    {
        var plot = Plot(LoadReports.ToHtml(Result(frozen: 2)), "plot-latency-over-time");

        var d = Regex.Match(plot, "data-series=\"p50\" d=\"([^\"]*)\"").Groups[1].Value;
        Assert.Multiple(() =>
        {
            Assert.That(Regex.Count(d, "M"), Is.EqualTo(2), d);
            Assert.That(Regex.Count(d, "L"), Is.Zero, d);
        });
    }

    /// <summary>The warm-up interval is in no plot (no measured start there is not a ramp-up); its stretch stays, labelled.</summary>
    [Test]
    public void Warm_up_intervals_are_left_out_of_every_plot_over_time()
    {
        var html = LoadReports.ToHtml(Result());

        foreach (var (id, series) in new[] { ("plot-throughput-over-time", "started"), ("plot-throughput-over-time", "finished"), ("plot-throughput-over-time", "target"), ("plot-bytes-over-time", "sent"), ("plot-errors-over-time", "failed"), ("plot-latency-over-time", "p50") })
        {
            var plot = Plot(html, id);
            Assert.Multiple(() =>
            {
                Assert.That(Path(plot, series), Has.Count.EqualTo(3), $"{id} {series}: the three measured intervals");
                Assert.That(Texts(plot, "warmup"), Is.EqualTo(new[] { "warm-up" }), id);
            });
        }
    }

    /// <summary>
    /// The interval in which the warm-up ended is marked warm-up (most of its starts were), but the
    /// sessions that ended in it were measured: their latencies and failures are drawn; its partial
    /// rates are not (they would draw a dip).
    /// </summary>
    [Test]
    public void The_interval_that_ends_the_warm_up_has_its_measured_latencies_and_failures_drawn_and_no_rate()
    {
        var boundary = new LoadInterval
        {
            Index = 1, StartSeconds = 1, Seconds = 1, Warmup = true, Started = 10, WarmupStarted = 8, Target = 10, Finished = 2, Failed = 1,
            SessionP50 = 3, SessionP90 = 3, SessionP99 = 3, SessionMax = 3,
        };
        var html = LoadReports.ToHtml(Result(boundary: boundary));

        Assert.Multiple(() =>
        {
            Assert.That(Path(Plot(html, "plot-latency-over-time"), "p50"), Has.Count.EqualTo(4), "the boundary interval and the three measured ones");
            Assert.That(Path(Plot(html, "plot-errors-over-time"), "failed"), Has.Count.EqualTo(4));
            Assert.That(Path(Plot(html, "plot-throughput-over-time"), "finished"), Has.Count.EqualTo(3), "the measured intervals only");
        });
    }

    /// <summary>The points of a series' path, (x, y) in pixels.</summary>
    private static List<(double X, double Y)> Path(string svg, string series)
    {
        var d = Regex.Match(svg, $"data-series=\"{series}\" d=\"([^\"]*)\"");
        Assert.That(d.Success, Is.True, series);
        return [.. Regex.Matches(d.Groups[1].Value, "[ML]([0-9.]+),([0-9.]+)").Select(m => (double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)))];
    }

    private static string Plot(string html, string id)
    {
        var match = Regex.Match(html, $"<svg class=\"plot\" id=\"{id}\".*?</svg>", RegexOptions.Singleline);
        Assert.That(match.Success, Is.True, id);
        return match.Value;
    }

    private static List<string> Texts(string svg, string cssClass) =>
        [.. Regex.Matches(svg, $"<text class=\"{cssClass}\"[^>]*>([^<]*)</text>").Select(m => m.Groups[1].Value)];

    /// <summary>
    /// A warm-up interval, then three measured ones of one second; <paramref name="failed"/> sessions
    /// failed in the last; no session ended in the <paramref name="frozen"/>-th (when given); then <paramref name="last"/>.
    /// With <paramref name="boundary"/>: the warm-up interval, the boundary, then three measured ones.
    /// </summary>
    private static LoadResult Result(long failed = 0, LoadModelKind model = LoadModelKind.Open, double target = 10, int? frozen = null, LoadInterval? last = null, LoadInterval? boundary = null)
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
            Target = target,
            Finished = warmup || index == frozen ? 0 : 10,
            Failed = failures,
            Traffic = new LoadTraffic { BytesSent = 1 << 20 },
            SessionP50 = warmup || index == frozen ? null : 2,
            SessionP90 = warmup || index == frozen ? null : 2,
            SessionP99 = warmup || index == frozen ? null : 2,
            SessionMax = warmup || index == frozen ? null : 2,
        };

        return new LoadResult
        {
            StartedAt = DateTimeOffset.UnixEpoch,
            Seconds = 3,
            Model = model,
            Target = target,
            Shards = ["0/1"],
            Hosts = ["host"],
            Sources = ["unix:///w.sock"],
            Sessions = new LoadSessionCounts { Started = 30, Finished = 30 },
            Latency = new Dictionary<string, HistogramBase> { [LoadPhases.Session] = session },
            Workers = [new LoadWorkerFigures { Worker = "unix:///w.sock", Sessions = 30, Finished = 30, Session = session }],
            Generators = [new LoadGeneratorFigures { Host = "host", Cores = 2 }],
            Intervals = boundary is null
                ? [Interval(0, true, 0), Interval(1, false, 0), Interval(2, false, 0), Interval(3, false, failed), .. last is null ? Array.Empty<LoadInterval>() : [last]]
                : [Interval(0, true, 0), boundary, .. new[] { 2, 3, 4 }.Select(i => Interval(i, false, 0))],
        };
    }
}
