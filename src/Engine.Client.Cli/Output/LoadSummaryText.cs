using System.Globalization;
using Engine.Client.Load;
using HdrHistogram;

namespace Engine.Client.Cli.Output;

/// <summary><c>load</c>'s readable summary: sessions, latency per phase, throughput, workers, errors, generator, thresholds.</summary>
internal static class LoadSummaryText
{
    public static void Write(LoadResult r, Renderer renderer)
    {
        var c = CultureInfo.InvariantCulture;
        var s = r.Sessions;
        renderer.Heading(string.Create(c, $"load test: {(r.Model == LoadModelKind.Open ? "open" : "closed")} model, {r.Seconds:0.###} s measured{(r.Interrupted ? ", interrupted" : "")}"));
        renderer.KeyValues(
        [
            ("sessions started", s.Started.ToString(c)),
            ("finished", s.Finished.ToString(c)),
            ("cancelled on purpose", s.Cancelled.ToString(c)),
            ("failed", s.FailedTotal == 0 ? "0" : string.Create(c, $"{s.FailedTotal} ({string.Join(", ", s.Failed.Select(p => $"{p.Key} {p.Value}"))})")),
            ("behind schedule", s.BehindSchedule.ToString(c)),
            ("not started", s.NotStarted.ToString(c)),
            ("warm-up (excluded)", s.Warmup.ToString(c)),
            ("abandoned at drain", s.Abandoned.ToString(c)),
            ("sessions/s", r.Seconds > 0 ? (s.Finished / r.Seconds).ToString("0.##", c) : "-"),
            ("sent", string.Create(c, $"{r.Traffic.BatchesSent} batches, {r.Traffic.RowsSent} rows, {LoadProgress.Bytes(r.Traffic.BytesSent)} ({LoadProgress.Rate(r.Traffic.BytesSent, r.Seconds)})")),
            ("received", string.Create(c, $"{r.Traffic.BatchesReceived} batches, {r.Traffic.RowsReceived} rows, {LoadProgress.Bytes(r.Traffic.BytesReceived)} ({LoadProgress.Rate(r.Traffic.BytesReceived, r.Seconds)})")),
        ]);
        renderer.Line();
        renderer.Heading("latency (ms)");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var (phase, h) in r.Latency.Where(p => p.Value.TotalCount > 0))
        {
            rows.Add([phase, h.TotalCount.ToString(c), Ms(h, 50), Ms(h, 90), Ms(h, 99), Ms(h, 99.9), LoadProgress.Ms(h.GetMaxValue() / 1000.0)]);
        }

        renderer.Table(["phase", "count", "p50", "p90", "p99", "p99.9", "max"], rows);
        if (r.Workers.Count > 0)
        {
            renderer.Line();
            renderer.Heading("workers");
            renderer.Table(["worker", "sessions", "finished", "failed", "session p50", "session p99", "sent", "received"],
                [.. r.Workers.Select(w => (IReadOnlyList<string>)[TerminalText.Escape(w.Worker), w.Sessions.ToString(c), w.Finished.ToString(c), w.Failed.ToString(c), Ms(w.Session, 50), Ms(w.Session, 99), LoadProgress.Bytes(w.Traffic.BytesSent), LoadProgress.Bytes(w.Traffic.BytesReceived)])]);
        }

        if (r.Errors.Count > 0)
        {
            renderer.Line();
            renderer.Heading("errors");
            foreach (var e in r.Errors)
            {
                renderer.Marked(Mark.Bad, string.Create(c, $"{e.Key} x{e.Count}"), TerminalText.OneLine(string.Join(" | ", e.Messages)));
            }
        }

        renderer.Line();
        renderer.Heading("generator");
        foreach (var g in r.Generators)
        {
            renderer.KeyValues(
            [
                ("host", TerminalText.Escape(g.Host)),
                ("cpu", string.Create(c, $"{g.CpuPercentMean:0.#}% mean, {g.CpuPercentMax:0.#}% max of {g.Cores} cores")),
                ("gc pauses", string.Create(c, $"{g.GcPauseMilliseconds:0.#} ms ({g.GcPausePercent:0.##}%)")),
                ("allocations", LoadProgress.Bytes(g.AllocatedBytesPerSecond) + "/s"),
                ("thread-pool queue", string.Create(c, $"mean {g.ThreadPoolQueueMean:0.#}, max {g.ThreadPoolQueueMax}")),
            ]);
            foreach (var warning in g.Warnings)
            {
                renderer.Marked(Mark.Bad, "warning", warning);
            }
        }

        if (r.Thresholds.Count > 0)
        {
            renderer.Line();
            renderer.Heading("thresholds");
            foreach (var t in r.Thresholds)
            {
                renderer.Marked(t.Passed ? Mark.Good : Mark.Bad, t.Passed ? "passed" : "FAILED", $"{t.Expression} (actual {t.ActualText})");
            }
        }
    }

    private static string Ms(HistogramBase h, double percentile) =>
        h.TotalCount == 0 ? "-" : (h.GetValueAtPercentile(percentile) / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
}
