extern alias cli;

using Engine.Client.Load;
using HdrHistogram;
using LoadSummaryText = cli::Engine.Client.Cli.Output.LoadSummaryText;
using PlainRenderer = cli::Engine.Client.Cli.Output.PlainRenderer;

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
    private static LoadResult Copy(LoadResult result, IReadOnlyList<LoadWorkerFigures>? workers = null, IReadOnlyList<string>? shards = null, IReadOnlyList<LoadGeneratorFigures>? generators = null) => new()
    {
        StartedAt = result.StartedAt,
        Seconds = result.Seconds,
        Model = result.Model,
        Target = result.Target,
        Shards = shards ?? result.Shards,
        Hosts = result.Hosts,
        Sources = result.Sources,
        Sessions = result.Sessions,
        Latency = result.Latency,
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
