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
            ("sessions started", Formats.Count(s.Started)),
            ("finished", Formats.Count(s.Finished)),
            ("cancelled on purpose", Formats.Count(s.Cancelled)),
            ("failed", s.FailedTotal == 0 ? "0" : $"{Formats.Count(s.FailedTotal)} ({string.Join(", ", s.Failed.Select(p => $"{p.Key} {Formats.Count(p.Value)}"))})"),
            ("behind schedule", Formats.Count(s.BehindSchedule)),
            ("not started", Formats.Count(s.NotStarted)),
            ("warm-up (excluded)", Formats.Count(s.Warmup)),
            ("abandoned at drain", Formats.Count(s.Abandoned)),
            ("sessions/s", r.Seconds > 0 ? (s.Finished / r.Seconds).ToString("#,0.##", c) : "-"),
            ("sent", $"{Formats.Count(r.Traffic.BatchesSent)} batches, {Formats.Count(r.Traffic.RowsSent)} rows, {LoadProgress.Bytes(r.Traffic.BytesSent)} ({LoadProgress.Rate(r.Traffic.BytesSent, r.Seconds)})"),
            ("received", $"{Formats.Count(r.Traffic.BatchesReceived)} batches, {Formats.Count(r.Traffic.RowsReceived)} rows, {LoadProgress.Bytes(r.Traffic.BytesReceived)} ({LoadProgress.Rate(r.Traffic.BytesReceived, r.Seconds)})"),
        ]);
        renderer.Line();
        renderer.Heading("latency (ms)");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var (phase, h) in r.Latency.Where(p => p.Value.TotalCount > 0))
        {
            rows.Add([phase, Formats.Count(h.TotalCount), Ms(h, 50), Ms(h, 90), Ms(h, 99), Ms(h, 99.9), MaxMs(h)]);
        }

        string[] latencyHeaders = ["phase", "count", "p50", "p90", "p99", "p99.9", "max"];
        if (renderer.Width is { } latencyWidth && rows.Count > 0)
        {
            // A narrow terminal: the least needed columns left out until the table fits with every
            // phase name whole (sessionFromActualStart, 22 characters), the figures left out named
            // below the table.
            var kept = Enumerable.Range(0, latencyHeaders.Length).ToList();
            var left = new List<int>();
            var phase = rows.Max(row => row[0].Length);
            foreach (var drop in new[] { 3, 1, 5 })
            {
                if (TableWidth([.. kept.Select(i => latencyHeaders[i])], [.. rows.Select(row => (IReadOnlyList<string>)[.. kept.Select(i => row[i])])], phase) <= latencyWidth)
                {
                    break;
                }

                kept.Remove(drop);
                left.Add(drop);
            }

            renderer.TableOfFigures([.. kept.Select(i => latencyHeaders[i])], [.. rows.Select(row => (IReadOnlyList<string>)[.. kept.Select(i => row[i])])]);
            if (left.Count > 0)
            {
                renderer.Line($"  (left out for the terminal's width: {string.Join(", ", left.Order().Select(i => latencyHeaders[i]))}; see --json)");
            }
        }
        else
        {
            renderer.Table(latencyHeaders, rows);
        }

        if (r.Workers.Count > 0)
        {
            renderer.Line();
            renderer.Heading("workers");
            // Heartbeats: answered, and failed when any failed (a stalled worker shows here).
            // Finished, cancelled (on purpose), failed and abandoned add up to the worker's sessions.
            string[] headers = ["worker", "sessions", "finished", "cancelled", "failed", "abandoned", "session p50 (ms)", "session p99 (ms)", "heartbeats", "sent", "received"];
            List<IReadOnlyList<string>> workers = [.. r.Workers.Select(w => (IReadOnlyList<string>)[TerminalText.Escape(w.Worker), Formats.Count(w.Sessions), Formats.Count(w.Finished), Formats.Count(w.Cancelled), Formats.Count(w.Failed), Formats.Count(w.Abandoned), Ms(w.Session, 50), Ms(w.Session, 99), Heartbeats(w), LoadProgress.Bytes(w.Traffic.BytesSent), LoadProgress.Bytes(w.Traffic.BytesReceived)])];
            if (renderer.Width is { } width && TableWidth(headers, workers, workers.Max(w => w[0].Length)) > width)
            {
                // A narrow terminal: short headers, then the least needed columns left out until
                // the table fits with a worker column of up to 24 characters (wrapped at its
                // separators); the figures left out are named below the table.
                string[] shortHeaders = ["worker", "sessions", "finished", "cancelled", "failed", "abandoned", "p50 ms", "p99 ms", "heartbeats", "sent", "received"];
                var kept = Enumerable.Range(0, headers.Length).ToList();
                var left = new List<int>();
                var worker = Math.Min(24, workers.Max(w => w[0].Length));
                foreach (var drop in new[] { 10, 9, 5, 3, 6, 2 })
                {
                    if (TableWidth([.. kept.Select(i => shortHeaders[i])], [.. workers.Select(row => (IReadOnlyList<string>)[.. kept.Select(i => row[i])])], worker) <= width)
                    {
                        break;
                    }

                    kept.Remove(drop);
                    left.Add(drop);
                }

                renderer.TableOfFigures(
                    [.. kept.Select(i => shortHeaders[i])],
                    [.. workers.Select(row => (IReadOnlyList<string>)[.. kept.Select(i => row[i])])]);
                if (left.Count > 0)
                {
                    renderer.Line($"  (left out for the terminal's width: {string.Join(", ", left.Order().Select(i => headers[i]))}; see --json)");
                }
            }
            else
            {
                renderer.TableOfFigures(headers, workers);
            }
        }

        if (r.Errors.Count > 0)
        {
            renderer.Line();
            renderer.Heading("errors");
            foreach (var e in r.Errors)
            {
                renderer.Marked(Mark.Bad, $"{e.Key} x{Formats.Count(e.Count)}", TerminalText.OneLine(string.Join(" | ", e.Messages)));
            }
        }

        renderer.Line();
        renderer.Heading("generator");
        // A merge holds one generator per shard, in the shards' order: each is named by its shard.
        var byShard = r.Generators.Count > 1 && r.Generators.Count == r.Shards.Count;
        for (var n = 0; n < r.Generators.Count; n++)
        {
            var g = r.Generators[n];
            renderer.KeyValues(
            [
                ("host", TerminalText.Escape(g.Host) + (byShard ? $" (shard {r.Shards[n]})" : "")),
                ("cpu", string.Create(c, $"{g.CpuPercentMean:0.#}% mean, {g.CpuPercentMax:0.#}% max of {g.Cores} cores")),
                ("gc pauses", string.Create(c, $"{g.GcPauseMilliseconds:0.#} ms ({g.GcPausePercent:0.##}%)")),
                ("allocations", LoadProgress.Bytes(g.AllocatedBytesPerSecond) + "/s"),
                ("thread-pool queue", string.Create(c, $"mean {g.ThreadPoolQueueMean:0.#}, max {g.ThreadPoolQueueMax}")),
            ]);
            foreach (var warning in g.Warnings)
            {
                renderer.Marked(Mark.Warning, "", warning);
            }
        }

        if (r.Thresholds.Count > 0)
        {
            renderer.Line();
            renderer.Heading("thresholds");
            foreach (var t in r.Thresholds)
            {
                // The mark says passed or failed (ok/FAIL, a tick or a cross): the words are not repeated.
                renderer.Marked(t.Passed ? Mark.Good : Mark.Bad, t.Expression, $"actual {t.ActualText}");
            }
        }
    }

    /// <summary>
    /// The width of a rounded table of these cells: the first column <paramref name="first"/> wide
    /// (at least its header), every other as wide as its widest cell, 3 characters a column and 1
    /// more for the borders.
    /// </summary>
    private static int TableWidth(string[] headers, List<IReadOnlyList<string>> rows, int first) =>
        Math.Max(first, headers[0].Length)
        + Enumerable.Range(1, headers.Length - 1).Sum(i => rows.Select(r => r[i].Length).Append(headers[i].Length).Max())
        + (3 * headers.Length) + 1;

    private static string Heartbeats(LoadWorkerFigures w) =>
        w.HeartbeatsFailed == 0 ? Formats.Count(w.Heartbeats) : $"{Formats.Count(w.Heartbeats)} ({Formats.Count(w.HeartbeatsFailed)} failed)";

    // Milliseconds without a unit: the headers name it.
    private static string Ms(HistogramBase h, double percentile) =>
        h.TotalCount == 0 ? "-" : (h.GetValueAtPercentile(percentile) / 1000.0).ToString("#,0.###", CultureInfo.InvariantCulture);

    private static string MaxMs(HistogramBase h) =>
        h.TotalCount == 0 ? "-" : (h.GetMaxValue() / 1000.0).ToString("#,0.###", CultureInfo.InvariantCulture);
}
