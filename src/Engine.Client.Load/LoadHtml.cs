using System.Globalization;
using Engine.Client.Diagnostics;
using System.Net;
using System.Text;
using HdrHistogram;

namespace Engine.Client.Load;

public static partial class LoadReports
{
    /// <summary>The ids of the plots of the HTML report, one <c>svg</c> element each.</summary>
    public static IReadOnlyList<string> HtmlPlots { get; } = ["plot-latency-over-time", "plot-percentile-spectrum", "plot-throughput-over-time", "plot-bytes-over-time", "plot-errors-over-time"];

    private static readonly string[] Colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

    /// <summary>
    /// A self-contained HTML report: one file with inline CSS and inline SVG plots (no script, no
    /// network): latency percentiles over time, the percentile spectrum on a log scale, throughput
    /// and errors over time, latency per phase, a per-worker table, errors, the generator's load,
    /// thresholds, the configuration and run metadata.
    /// </summary>
    /// <param name="result">The result.</param>
    /// <returns>The HTML text.</returns>
    public static string ToHtml(LoadResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var c = CultureInfo.InvariantCulture;
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>engine-client load report</title>\n<style>");
        h.Append("body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:17px;margin-top:28px}");
        h.Append("table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}th{background:#f3f3f3}td.l,th.l{text-align:left}#configuration td{white-space:pre-line}");
        h.Append(".ok{color:#1a7f37}.bad{color:#c62828;font-weight:bold}.plots{display:flex;flex-wrap:wrap;gap:16px}svg.plot{border:1px solid #ddd;background:#fff}.warn{color:#b45309}");
        h.Append("</style></head><body>\n");
        h.Append(c, $"<h1>engine-client load: {(result.Model == LoadModelKind.Open ? "open" : "closed")} model, {result.Seconds:0.###} s measured{(result.Interrupted ? " (interrupted)" : "")}</h1>\n");
        var s = result.Sessions;
        h.Append("<table id=\"sessions\"><tr>");
        foreach (var head in new[] { "started", "finished", "cancelled on purpose", "failed", "behind schedule", "not started", "warm-up", "abandoned", "sessions/s" })
        {
            h.Append("<th>").Append(head).Append("</th>");
        }

        h.Append(c, $"</tr><tr><td>{s.Started}</td><td>{s.Finished}</td><td>{s.Cancelled}</td><td>{s.FailedTotal}</td><td>{s.BehindSchedule}</td><td>{s.NotStarted}</td><td>{s.Warmup}</td><td>{s.Abandoned}</td><td>{(result.Seconds > 0 ? s.Finished / result.Seconds : 0):0.##}</td></tr></table>\n");

        if (result.Thresholds.Count > 0)
        {
            h.Append("<h2>Thresholds</h2><table id=\"thresholds\"><tr><th class=\"l\">expression</th><th>actual</th><th>result</th></tr>");
            foreach (var t in result.Thresholds)
            {
                h.Append("<tr><td class=\"l\">").Append(E(t.Expression)).Append("</td><td>").Append(E(t.ActualText)).Append("</td><td class=\"")
                    .Append(t.Passed ? "ok\">passed" : "bad\">FAILED").Append("</td></tr>");
            }

            h.Append("</table>\n");
        }

        var warnings = result.Generators.SelectMany(g => g.Warnings).ToList();
        foreach (var warning in warnings)
        {
            h.Append("<p class=\"warn\">Warning: ").Append(E(warning)).Append("</p>\n");
        }

        var measured = result.Intervals.Where(i => !i.Warmup).ToList();
        var timeline = result.Intervals.ToList();

        // The interval in which the warm-up ended counts as warm-up (most of its starts were), but
        // its latencies, failures and missed starts are those of measured sessions: they are drawn.
        var withMeasuredFigures = timeline.Where(i => !i.Warmup || i.SessionP50 is not null || i.Finished + i.Cancelled + i.Failed + i.NotStarted + i.BehindSchedule > 0).ToList();
        double End(LoadInterval i) => i.StartSeconds + i.Seconds;

        // A per-second figure of an interval under a quarter of the run's usual (median) interval
        // (the run's short last one, a few milliseconds with one session) is left out: it would
        // draw one session as a spike of a rate.
        var usual = measured.Count == 0 ? 0 : measured.Select(i => i.Seconds).Order().ElementAt(measured.Count / 2);
        var rated = measured.Where(i => i.Seconds > 0 && i.Seconds >= usual / 4).ToList();
        double PerSecond(long n, LoadInterval i) => n / i.Seconds;

        // Every plot over time spans the whole run (the warm-up included), so that their x axes
        // line up; the warm-up intervals are drawn in none (their figures are not measured), the
        // warm-up stays an empty stretch, labelled.
        (double, double)? span = timeline.Count == 0 ? null : (0, End(timeline[^1]));
        double? warmupEnd = timeline.Count > 0 && timeline[0].Warmup ? End(timeline.TakeWhile(i => i.Warmup).Last()) : null;
        h.Append("<h2>Plots</h2><div class=\"plots\">\n");
        h.Append(LineChart("plot-latency-over-time", "Session latency over time", "seconds", "ms", logX: false,
        [
            ("p50", Points(withMeasuredFigures, i => i.SessionP50)),
            ("p90", Points(withMeasuredFigures, i => i.SessionP90)),
            ("p99", Points(withMeasuredFigures, i => i.SessionP99)),
            ("max", Points(withMeasuredFigures, i => i.SessionMax)),
        ], span, warmupEnd));
        var spectrum = new List<(string, List<(double, double)>)>();
        foreach (var phase in new[] { LoadPhases.Session, LoadPhases.SessionFromActualStart, LoadPhases.Batch, LoadPhases.Init })
        {
            if (result.Latency.TryGetValue(phase, out var histogram) && histogram.TotalCount > 0)
            {
                spectrum.Add((phase, Spectrum(histogram)));
            }
        }

        h.Append(LineChart("plot-percentile-spectrum", "Percentile spectrum", "percentile", "ms", logX: true, spectrum));
        h.Append(LineChart("plot-throughput-over-time", "Sessions per second", "seconds", "sessions/s", logX: false,
        [
            // Measured starts, as finished counts measured sessions: the warm-up shows as neither.
            ("started", rated.Select(i => (End(i), PerSecond(i.Started - i.WarmupStarted, i))).ToList()),
            ("finished", rated.Select(i => (End(i), PerSecond(i.Finished, i))).ToList()),
            ("target", result.Model == LoadModelKind.Open ? measured.Select(i => (End(i), i.Target)).ToList() : []),
        ], span, warmupEnd));
        h.Append(LineChart("plot-bytes-over-time", "Throughput", "seconds", "MiB/s", logX: false,
        [
            ("sent", rated.Select(i => (End(i), PerSecond(i.Traffic.BytesSent, i) / (1024 * 1024))).ToList()),
            ("received", rated.Select(i => (End(i), PerSecond(i.Traffic.BytesReceived, i) / (1024 * 1024))).ToList()),
        ], span, warmupEnd));
        h.Append(LineChart("plot-errors-over-time", "Errors and missed starts", "seconds", "per interval", logX: false,
        [
            ("failed", withMeasuredFigures.Select(i => (End(i), (double)i.Failed)).ToList()),
            ("not started", withMeasuredFigures.Select(i => (End(i), (double)i.NotStarted)).ToList()),
            ("behind schedule", withMeasuredFigures.Select(i => (End(i), (double)i.BehindSchedule)).ToList()),
        ], span, warmupEnd));
        h.Append("</div>\n");

        h.Append("<h2>Latency by phase (ms)</h2><table id=\"latency\"><tr><th class=\"l\">phase</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>");
        foreach (var phase in Phases(result))
        {
            var histogram = result.Latency[phase];
            h.Append("<tr><td class=\"l\">").Append(E(phase)).Append(c, $"</td><td>{histogram.TotalCount}</td><td>{Ms(LatencyHistograms.Millis(histogram, 50))}</td><td>{Ms(LatencyHistograms.Millis(histogram, 90))}</td><td>{Ms(LatencyHistograms.Millis(histogram, 99))}</td><td>{Ms(LatencyHistograms.Millis(histogram, 99.9))}</td><td>{Ms(LatencyHistograms.MaxMillis(histogram))}</td><td>{Ms(histogram.TotalCount == 0 ? null : histogram.GetMean() / 1000)}</td></tr>");
        }

        h.Append("</table>\n");
        h.Append("<h2>Throughput</h2><table id=\"throughput\"><tr><th class=\"l\">direction</th><th>batches</th><th>rows</th><th>bytes</th><th>batches/s</th><th>rows/s</th><th>MiB/s</th></tr>");
        var tr = result.Traffic;
        double Rate(long n) => result.Seconds > 0 ? n / result.Seconds : 0;
        h.Append(c, $"<tr><td class=\"l\">sent</td><td>{tr.BatchesSent}</td><td>{tr.RowsSent}</td><td>{tr.BytesSent}</td><td>{Rate(tr.BatchesSent):0.#}</td><td>{Rate(tr.RowsSent):0.#}</td><td>{Rate(tr.BytesSent) / (1024 * 1024):0.###}</td></tr>");
        h.Append(c, $"<tr><td class=\"l\">received</td><td>{tr.BatchesReceived}</td><td>{tr.RowsReceived}</td><td>{tr.BytesReceived}</td><td>{Rate(tr.BatchesReceived):0.#}</td><td>{Rate(tr.RowsReceived):0.#}</td><td>{Rate(tr.BytesReceived) / (1024 * 1024):0.###}</td></tr></table>\n");

        h.Append("<h2>Workers</h2><table id=\"workers\"><tr><th class=\"l\">worker</th><th>sessions</th><th>finished</th><th>cancelled</th><th>failed</th><th>abandoned</th><th>session p50 ms</th><th>session p99 ms</th><th>session max ms</th><th>heartbeats answered</th><th>heartbeats failed</th><th>MiB sent</th><th>MiB received</th></tr>");
        foreach (var w in result.Workers)
        {
            h.Append("<tr><td class=\"l\">").Append(E(w.Worker)).Append(c, $"</td><td>{w.Sessions}</td><td>{w.Finished}</td><td>{w.Cancelled}</td><td>{w.Failed}</td><td>{w.Abandoned}</td><td>{Ms(LatencyHistograms.Millis(w.Session, 50))}</td><td>{Ms(LatencyHistograms.Millis(w.Session, 99))}</td><td>{Ms(LatencyHistograms.MaxMillis(w.Session))}</td><td>{w.Heartbeats}</td><td>{w.HeartbeatsFailed}</td><td>{w.Traffic.BytesSent / (1024.0 * 1024):0.###}</td><td>{w.Traffic.BytesReceived / (1024.0 * 1024):0.###}</td></tr>");
        }

        h.Append("</table>\n");
        h.Append("<h2>Errors</h2><table id=\"errors\"><tr><th class=\"l\">kind</th><th>count</th><th class=\"l\">first messages</th></tr>");
        foreach (var e in result.Errors)
        {
            h.Append("<tr><td class=\"l\">").Append(E(e.Key)).Append(c, $"</td><td>{e.Count}</td><td class=\"l\">").Append(string.Join("<br>", e.Messages.Select(E))).Append("</td></tr>");
        }

        h.Append("</table>\n");
        h.Append("<h2>Generator</h2><table id=\"generator\"><tr><th class=\"l\">host</th><th>cores</th><th>cpu mean %</th><th>cpu max %</th><th>gc pause ms</th><th>gc pause %</th><th>alloc MiB/s</th><th>queue mean</th><th>queue max</th></tr>");
        foreach (var g in result.Generators)
        {
            h.Append("<tr><td class=\"l\">").Append(E(g.Host)).Append(c, $"</td><td>{g.Cores}</td><td>{g.CpuPercentMean:0.#}</td><td>{g.CpuPercentMax:0.#}</td><td>{g.GcPauseMilliseconds:0.#}</td><td>{g.GcPausePercent:0.##}</td><td>{g.AllocatedBytesPerSecond / (1024 * 1024):0.##}</td><td>{g.ThreadPoolQueueMean:0.#}</td><td>{g.ThreadPoolQueueMax}</td></tr>");
        }

        h.Append("</table>\n");
        h.Append("<h2>Configuration and run</h2><table id=\"configuration\">");
        void Row(string key, string value) => h.Append("<tr><th class=\"l\">").Append(E(key)).Append("</th><td class=\"l\">").Append(E(value)).Append("</td></tr>");
        Row("started at", result.StartedAt.ToString("u", c));
        Row("schema version", result.SchemaVersion.ToString(c));
        Row("shards", string.Join(", ", result.Shards));
        Row("hosts", string.Join(", ", result.Hosts));
        Row("sources", string.Join(", ", result.Sources));
        foreach (var (scenario, chunks) in result.InitChunks)
        {
            Row($"init chunks ({scenario})", chunks.ToString(c));
        }

        foreach (var (key, value) in result.Configuration)
        {
            Row(key, value);
        }

        h.Append("</table>\n</body></html>\n");
        return h.ToString();
    }

    /// <summary>An interval's value, or NaN where it has none (no session ended in it): the line breaks there.</summary>
    private static List<(double, double)> Points(IEnumerable<LoadInterval> intervals, Func<LoadInterval, double?> value) =>
        [.. intervals.Select(i => (i.StartSeconds + i.Seconds, value(i) ?? double.NaN))];

    /// <summary>The percentile spectrum: x = -log10(1 - p), from p50 to the max (drawn at 99.9999).</summary>
    private static List<(double, double)> Spectrum(HistogramBase histogram)
    {
        var points = new List<(double, double)>();
        foreach (var p in new[] { 0.0, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995, 99.999, 99.9995, 99.9999 })
        {
            points.Add((-Math.Log10(1 - (p / 100)), histogram.GetValueAtPercentile(p) / 1000.0));
        }

        return points;
    }

    private static string LineChart(string id, string title, string xLabel, string yLabel, bool logX, List<(string Name, List<(double X, double Y)> Points)> series, (double Min, double Max)? xRange = null, double? warmupEnd = null)
    {
        // The legend's column is as wide as its longest name (about 7 px a character at 11 px), so
        // that no name is cut off at the plot's right edge; the plot area keeps its width.
        const double H = 300, L = 60, T = 30, B = 40, PlotWidth = 390;
        var R = Math.Max(110, 34 + (7 * series.Select(s => s.Name.Length).DefaultIfEmpty(0).Max()));
        var W = L + PlotWidth + R;
        var c = CultureInfo.InvariantCulture;
        // A NaN value is a missing one (a gap in its line); a series without a value is not drawn
        // and not in the legend.
        series = [.. series.Where(s => s.Points.Any(p => !double.IsNaN(p.Y)))];
        var all = series.SelectMany(s => s.Points).Where(p => !double.IsNaN(p.Y)).ToList();
        var minX = xRange?.Min ?? (all.Count == 0 ? 0 : all.Min(p => p.X));
        var maxX = xRange?.Max ?? (all.Count == 0 ? 1 : all.Max(p => p.X));
        if (maxX <= minX)
        {
            maxX = minX + 1;
        }

        // Four steps of a round size (1, 2, 2.5 or 5 times a power of ten) up to at least the
        // highest value: distinct tick labels, also when every value is 0.
        var highest = all.Count == 0 ? 0 : all.Max(p => p.Y);
        var step = RoundStep(Math.Max(highest, 1e-9) * 1.05 / 4);
        if (highest <= 0)
        {
            step = 0.25;
        }

        var maxY = step * 4;
        double Px(double x) => L + ((x - minX) / (maxX - minX) * (W - L - R));
        double Py(double y) => H - B - (y / maxY * (H - T - B));
        var svg = new StringBuilder();
        svg.Append(c, $"<svg class=\"plot\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{E(title)}\">");
        svg.Append(c, $"<text x=\"{(L + W - R) / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{E(title)}</text>");
        if (warmupEnd is { } warm && warm > minX)
        {
            var right = Px(Math.Min(warm, maxX));
            svg.Append(c, $"<rect class=\"warmup\" x=\"{L}\" y=\"{T}\" width=\"{right - L:0.##}\" height=\"{H - T - B}\" fill=\"#f4f4f4\"/><text class=\"warmup\" x=\"{(L + right) / 2:0.##}\" y=\"{T + 12}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#888\">warm-up</text>");
        }

        svg.Append(c, $"<line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - R}\" y2=\"{H - B}\" stroke=\"#444\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"#444\"/>");
        for (var k = 0; k <= 4; k++)
        {
            var y = step * k;
            svg.Append(c, $"<line x1=\"{L}\" y1=\"{Py(y):0.#}\" x2=\"{W - R}\" y2=\"{Py(y):0.#}\" stroke=\"#eee\"/><text class=\"ytick\" x=\"{L - 4}\" y=\"{Py(y) + 4:0.#}\" text-anchor=\"end\" font-size=\"10\">{Tick(y)}</text>");
        }

        // X tick labels, each left out when it would overlap the one before (about 6 px a
        // character at 10 px). The log scale starts at 0% unlabelled: 50% lies close to it.
        var lastRight = double.NegativeInfinity;
        void XTick(double x, string label)
        {
            var at = Px(x);
            var half = (label.Length * 6.0 / 2) + 2;
            if (at - half < lastRight)
            {
                return;
            }

            lastRight = at + half;
            svg.Append(c, $"<text class=\"xtick\" x=\"{at:0.#}\" y=\"{H - B + 14}\" text-anchor=\"middle\" font-size=\"10\">{label}</text>");
        }

        if (logX)
        {
            foreach (var (x, label) in new[] { (-Math.Log10(0.5), "50%"), (1.0, "90%"), (2.0, "99%"), (3.0, "99.9%"), (4.0, "99.99%"), (5.0, "99.999%"), (6.0, "max") })
            {
                if (x >= minX && x <= maxX)
                {
                    XTick(x, label);
                }
            }
        }
        else
        {
            for (var k = 0; k <= 4; k++)
            {
                var x = minX + ((maxX - minX) * k / 4);
                XTick(x, Tick(x));
            }
        }

        svg.Append(c, $"<text x=\"{(L + W - R) / 2}\" y=\"{H - 6}\" text-anchor=\"middle\" font-size=\"11\">{E(xLabel)}</text>");
        svg.Append(c, $"<text x=\"14\" y=\"{(T + H - B) / 2}\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 14 {(T + H - B) / 2})\">{E(yLabel)}</text>");
        for (var n = 0; n < series.Count; n++)
        {
            var (name, points) = series[n];
            var color = Colors[n % Colors.Length];
            // One path; a missing value ends a piece (the next value starts a new one with M), and
            // a value alone in its piece is drawn as a dot.
            var path = new StringBuilder();
            for (var i = 0; i < points.Count; i++)
            {
                if (double.IsNaN(points[i].Y))
                {
                    continue;
                }

                var starts = i == 0 || double.IsNaN(points[i - 1].Y);
                path.Append(c, $"{(path.Length == 0 ? "" : " ")}{(starts ? "M" : "L")}{Px(points[i].X):0.##},{Py(points[i].Y):0.##}");
                if (starts && (i == points.Count - 1 || double.IsNaN(points[i + 1].Y)))
                {
                    svg.Append(c, $"<circle cx=\"{Px(points[i].X):0.##}\" cy=\"{Py(points[i].Y):0.##}\" r=\"3\" fill=\"{color}\"/>");
                }
            }

            svg.Append(c, $"<path class=\"series\" data-series=\"{E(name)}\" d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\"/>");

            svg.Append(c, $"<rect x=\"{W - R + 10}\" y=\"{T + (n * 18)}\" width=\"12\" height=\"3\" fill=\"{color}\"/><text class=\"legend\" x=\"{W - R + 26}\" y=\"{T + (n * 18) + 5}\" font-size=\"11\">{E(name)}</text>");
        }

        if (all.Count == 0)
        {
            svg.Append(c, $"<text x=\"{(L + W - R) / 2}\" y=\"{H / 2}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#888\">no data</text>");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>The smallest of 1, 2, 2.5, 5 and 10 times a power of ten that is at least <paramref name="atLeast"/> (positive).</summary>
    private static double RoundStep(double atLeast)
    {
        var power = Math.Pow(10, Math.Floor(Math.Log10(atLeast)));
        foreach (var factor in new[] { 1, 2, 2.5, 5, 10 })
        {
            if (factor * power >= atLeast * (1 - 1e-12))
            {
                return factor * power;
            }
        }

        return 10 * power;
    }

    /// <summary>A tick label: from 10,000 up compact with an SI suffix (<c>150k</c>, <c>2.5M</c>, <c>2G</c>), so that a label fits the plot's left margin.</summary>
    private static string Tick(double value) => value switch
    {
        >= 1e12 => (value / 1e12).ToString("0.##", CultureInfo.InvariantCulture) + "T",
        >= 1e9 => (value / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "G",
        >= 1e6 => (value / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 1e4 => (value / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "k",
        >= 1000 => value.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.#", CultureInfo.InvariantCulture),
        >= 0.01 or 0 => value.ToString("0.###", CultureInfo.InvariantCulture),
        _ => value.ToString("0.######", CultureInfo.InvariantCulture),
    };

    private static string Ms(double? value) => value is { } v ? v.ToString("0.###", CultureInfo.InvariantCulture) : "";

    /// <summary>
    /// Text as HTML: markup encoded, and what a worker may put in it that a viewer should not get
    /// raw (control characters, bidirectional overrides) written as the visible escapes the
    /// terminal output uses (<see cref="SafeText"/>); <c>cat report.html</c> then plays no escape
    /// sequence. Line feeds stay (multi-line configuration values).
    /// </summary>
    private static string E(string text) => WebUtility.HtmlEncode(SafeText.Escape(text, keepNewlines: true));
}
