extern alias cli;

using Engine.Client.Load;
using HdrHistogram;
using LoadSummaryText = cli::Engine.Client.Cli.Output.LoadSummaryText;
using PlainRenderer = cli::Engine.Client.Cli.Output.PlainRenderer;
using RichRenderer = cli::Engine.Client.Cli.Output.RichRenderer;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The readable summary of <c>load</c> and <c>load merge</c> (redirected stdout): numbers under a
/// unit header carry no unit, counts have thousands separators, marks are not repeated in words.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadSummaryTextTests
{
    [Test]
    public void The_latency_table_holds_bare_milliseconds_and_counts_have_thousands_separators()
    {
        var text = Render(Result());
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var header = lines.FindIndex(l => l.StartsWith("latency (ms)", StringComparison.Ordinal));
        Assert.That(header, Is.GreaterThanOrEqualTo(0), text);
        var session = lines.Skip(header).First(l => l.TrimStart().StartsWith("session ", StringComparison.Ordinal));

        Assert.Multiple(() =>
        {
            var cells = session.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(cells, Has.Length.EqualTo(7), session);
            Assert.That(cells[1], Is.EqualTo("12,345"), session);
            Assert.That(cells[2..], Has.All.Match(@"^186\.\d+$"), "p50, p90, p99, p99.9 and max in ms, bare: " + session);
            Assert.That(lines.Skip(header).TakeWhile(l => l.Length > 0), Has.None.Contains(" ms"), "the header names the unit");
            Assert.That(lines, Has.Some.Match(@"^\s+sessions started\s+12,346$"), text);
            Assert.That(lines, Has.Some.Match(@"^\s+finished\s+12,345$"), text);
            Assert.That(lines, Has.Some.Contains("1,234,567 rows"), text);
            Assert.That(lines, Has.Some.Match(@"^\s+unix:///w\.sock\s+12,345\s+12,345\s+"), "the workers table counts");
        });
    }

    /// <summary>The workers table counts each worker's answered heartbeats, and names its failed ones when there are any.</summary>
    [Test]
    public void The_workers_table_counts_heartbeats_and_names_failed_ones()
    {
        var result = Result();
        var session = result.Workers[0].Session;
        result = Copy(result, workers:
        [
            new LoadWorkerFigures { Worker = "unix:///a.sock", Sessions = 5, Finished = 5, Heartbeats = 1_200, Session = session },
            new LoadWorkerFigures { Worker = "unix:///b.sock", Sessions = 5, Finished = 5, Heartbeats = 7, HeartbeatsFailed = 3, Session = session },
        ]);

        var lines = Render(result).Split('\n').Select(l => l.TrimEnd('\r')).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Some.Match(@"^\s*worker\s+sessions\s+finished\s+cancelled\s+failed\s+abandoned\s+session p50 \(ms\)\s+session p99 \(ms\)\s+heartbeats\s+sent\s+received$"));
            Assert.That(lines.Single(l => l.Contains("a.sock", StringComparison.Ordinal)), Does.Contain(" 1,200 ").And.Not.Contain("failed"));
            Assert.That(lines.Single(l => l.Contains("b.sock", StringComparison.Ordinal)), Does.Contain(" 7 (3 failed) "));
        });
    }

    /// <summary>A worker's row adds up: its finished, cancelled, failed and abandoned sessions are its sessions.</summary>
    [Test]
    public void A_workers_row_shows_every_kind_of_end_so_that_it_adds_up()
    {
        var result = Result();
        var session = result.Workers[0].Session;
        result = Copy(result, workers: [new LoadWorkerFigures { Worker = "unix:///a.sock", Sessions = 30, Finished = 20, Cancelled = 6, Failed = 3, Abandoned = 1, Session = session }]);

        var row = Render(result).Split('\n').Select(l => l.TrimEnd('\r')).Single(l => l.Contains("a.sock", StringComparison.Ordinal));

        Assert.That(row, Does.Match(@"^\s*unix:///a\.sock\s+30\s+20\s+6\s+3\s+1\s+"), "sessions, finished, cancelled, failed, abandoned");
    }

    /// <summary>
    /// On an 80-column terminal the workers table fits: fewer columns, every number whole on one
    /// line, a long address broken after its separators (not mid-word), and the columns left out
    /// named. (All 11 columns used to get equal widths: numbers wrapped mid-digit.)
    /// </summary>
    [Test]
    public void On_an_80_column_terminal_the_workers_table_fits_with_whole_numbers()
    {
        const string address = "dns:///workers.udf.cluster.local:7070/pod-worker-0001";
        var result = Result();
        var session = result.Workers[0].Session;
        result = Copy(result, workers:
        [
            new LoadWorkerFigures { Worker = address, Sessions = 1_234_567, Finished = 1_234_560, Failed = 7, Heartbeats = 98_765, HeartbeatsFailed = 3, Session = session, Traffic = new LoadTraffic { BytesSent = 9_876_543_210 } },
        ]);

        var text = RenderRich(result, 80);
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var table = lines.SkipWhile(l => !l.Contains("worker", StringComparison.Ordinal) || !l.Contains("sessions", StringComparison.Ordinal)).Skip(1).TakeWhile(l => !l.StartsWith('╰')).ToList();
        var pieces = table.Select(l => l.Split('│', StringSplitOptions.TrimEntries)).Where(c => c.Length > 2 && c[1].Length > 0).Select(c => c[1]).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.All.Length.LessThanOrEqualTo(80), text);
            Assert.That(text, Does.Contain(" 1,234,567 ").And.Contain(" 98,765 (3 failed) "), text);
            Assert.That(string.Concat(pieces), Is.EqualTo(address), text);
            Assert.That(pieces.SkipLast(1), Has.All.Match("[/:.-]$"), "broken after a separator: " + text);
            Assert.That(text, Does.Contain("(left out for the terminal's width: "), text);
        });
    }

    /// <summary>
    /// On an 80-column terminal the latency table fits with every phase name whole: the least
    /// needed figures are left out and named. (sessionFromActualStart used to break over two rows,
    /// its last letter read as a phase of its own.)
    /// </summary>
    [Test]
    public void On_an_80_column_terminal_the_latency_table_keeps_every_phase_name_whole()
    {
        var result = Result();
        var slow = new LongHistogram(1, 3_600_000_000L, 3);
        slow.RecordValueWithCount(1_234_567_890, 1_234_567);
        result = Copy(result, latency: new Dictionary<string, HistogramBase> { [LoadPhases.Session] = slow, [LoadPhases.SessionFromActualStart] = slow, [LoadPhases.Init] = slow });

        var wide = RenderRich(result, 200);
        var text = RenderRich(result, 80);
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.All.Length.LessThanOrEqualTo(80), text);
            Assert.That(lines, Has.One.Contains("│ sessionFromActualStart "), text);
            Assert.That(text, Does.Contain("1,234,567"), "the figures are whole: " + text);
            Assert.That(text, Does.Contain("(left out for the terminal's width: "), text);
            Assert.That(wide, Does.Not.Contain("left out"), "a wide terminal gets every column");
        });
    }

    /// <summary>A terminal wide enough gets every column of the workers table, as redirected output does.</summary>
    [Test]
    public void A_wide_terminal_gets_every_column_of_the_workers_table()
    {
        var text = RenderRich(Result(), 200);

        Assert.That(text, Does.Match(@"worker\s*│\s*sessions\s*│\s*finished\s*│\s*cancelled\s*│\s*failed\s*│\s*abandoned\s*│\s*session p50 \(ms\)\s*│\s*session p99 \(ms\)\s*│\s*heartbeats\s*│\s*sent\s*│\s*received"), text);
    }

    /// <summary>A merge's generators, one per shard, are each named by their shard.</summary>
    [Test]
    public void A_merges_generators_are_named_by_their_shard()
    {
        var result = Result();
        result = Copy(result, shards: ["0/2", "1/2"], generators: [new LoadGeneratorFigures { Host = "h", Cores = 2 }, new LoadGeneratorFigures { Host = "h", Cores = 2 }]);

        var lines = Render(result).Split('\n').Select(l => l.TrimEnd('\r')).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.One.Match(@"^\s*host\s+h \(shard 0/2\)$"));
            Assert.That(lines, Has.One.Match(@"^\s*host\s+h \(shard 1/2\)$"));
        });
    }

    [Test]
    public void A_threshold_line_says_pass_or_fail_once()
    {
        var result = Result().WithThresholds([LoadThreshold.Parse("session.p99 < 1ms"), LoadThreshold.Parse("errors < 1%")]);

        var text = Render(result);

        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Not.Contain("FAILED"));
            Assert.That(text, Does.Not.Contain("passed"));
            Assert.That(text, Does.Match(@"(?m)^FAIL session\.p99 < 1ms  actual 186\.\d+ms$"));
            Assert.That(text, Does.Match(@"(?m)^ok   errors < 1%  actual 0%$"));
        });
    }

    /// <summary>A copy of <paramref name="result"/> with other workers, shards or generators.</summary>
    private static LoadResult Copy(LoadResult result, IReadOnlyList<LoadWorkerFigures>? workers = null, IReadOnlyList<string>? shards = null, IReadOnlyList<LoadGeneratorFigures>? generators = null, IReadOnlyDictionary<string, HistogramBase>? latency = null) => new()
    {
        StartedAt = result.StartedAt,
        Seconds = result.Seconds,
        Model = result.Model,
        Target = result.Target,
        Shards = shards ?? result.Shards,
        Hosts = result.Hosts,
        Sources = result.Sources,
        Sessions = result.Sessions,
        Latency = latency ?? result.Latency,
        Traffic = result.Traffic,
        Workers = workers ?? result.Workers,
        Generators = generators ?? result.Generators,
    };

    private static string Render(LoadResult result)
    {
        using var writer = new StringWriter();
        LoadSummaryText.Write(result, new PlainRenderer(writer));
        return writer.ToString();
    }

    private static string RenderRich(LoadResult result, int width)
    {
        using var writer = new StringWriter();
        LoadSummaryText.Write(result, new RichRenderer(writer, width));
        return System.Text.RegularExpressions.Regex.Replace(writer.ToString(), "\u001b\\[[0-9;]*m", "");
    }

    private static LoadResult Result()
    {
        var session = new LongHistogram(1, 3_600_000_000L, 3);
        session.RecordValueWithCount(186_000, 12_345);
        return new LoadResult
        {
            StartedAt = DateTimeOffset.UnixEpoch,
            Seconds = 10,
            Model = LoadModelKind.Closed,
            Target = 4,
            Shards = ["0/1"],
            Hosts = ["host"],
            Sources = ["unix:///w.sock"],
            Sessions = new LoadSessionCounts { Started = 12_346, Finished = 12_345, Cancelled = 1 },
            Latency = new Dictionary<string, HistogramBase> { [LoadPhases.Session] = session },
            Traffic = new LoadTraffic { BatchesSent = 24_690, RowsSent = 1_234_567, BytesSent = 9_876_543, BatchesReceived = 24_690, RowsReceived = 1_234_567, BytesReceived = 9_876_543 },
            Workers = [new LoadWorkerFigures { Worker = "unix:///w.sock", Sessions = 12_345, Finished = 12_345, Session = session }],
            Generators = [new LoadGeneratorFigures { Host = "host", Cores = 2 }],
        };
    }
}
