using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Engine.Client.Load;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary><c>engine-client load</c> and <c>load merge</c> as real processes against the reference worker.</summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class CliLoadTests : ReferenceWorkerFixture
{
    private string _directory = null!;

    [OneTimeSetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("ec-load-").FullName;

    [OneTimeTearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    private string[] Echo(params string[] more) =>
        ["load", "--worker", Worker.Address, "--format", "echo", "--rows", "100", "--batch-rows", "50", .. more];

    [Test]
    public async Task A_passing_threshold_exits_0_and_the_json_summary_has_the_documented_fields()
    {
        var result = await CliProcess.RunAsync(Echo("--concurrency", "2", "--sessions", "30", "--json", "--threshold", "errors < 1%", "--threshold", "session.p99 < 30s"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("schemaVersion").GetInt32(), Is.EqualTo(1));
            var sessions = root.GetProperty("sessions");
            Assert.That(sessions.GetProperty("started").GetInt64(), Is.EqualTo(30));
            Assert.That(sessions.GetProperty("finished").GetInt64(), Is.EqualTo(30));
            Assert.That(sessions.GetProperty("failed").GetProperty("total").GetInt64(), Is.Zero);
            Assert.That(sessions.GetProperty("behindSchedule").ValueKind, Is.EqualTo(JsonValueKind.Number));
            Assert.That(sessions.GetProperty("notStarted").ValueKind, Is.EqualTo(JsonValueKind.Number));
            foreach (var phase in new[] { "session", "open", "init", "firstBatch", "batch", "finish" })
            {
                var figures = root.GetProperty("latency").GetProperty(phase);
                foreach (var stat in new[] { "p50", "p90", "p99", "p999", "max" })
                {
                    Assert.That(figures.GetProperty(stat).ValueKind, Is.EqualTo(JsonValueKind.Number), $"{phase}.{stat}");
                }
            }

            Assert.That(root.GetProperty("latency").GetProperty("batch").GetProperty("count").GetInt64(), Is.EqualTo(60), "two batches per session");
            Assert.That(root.GetProperty("throughput").GetProperty("rowsSent").GetInt64(), Is.EqualTo(3000));
            Assert.That(root.GetProperty("throughput").GetProperty("rowsReceived").GetInt64(), Is.EqualTo(3000));
            var worker = root.GetProperty("workers").EnumerateArray().Single();
            Assert.That(worker.GetProperty("worker").GetString(), Is.EqualTo(Worker.Address));
            Assert.That(worker.GetProperty("finished").GetInt64(), Is.EqualTo(30));
            var thresholds = root.GetProperty("thresholds").EnumerateArray().ToList();
            Assert.That(thresholds.Select(t => t.GetProperty("expression").GetString()), Is.EqualTo(new[] { "errors < 1%", "session.p99 < 30s" }));
            Assert.That(thresholds.All(t => t.GetProperty("passed").GetBoolean()), Is.True);
        });
    }

    [Test]
    public async Task A_run_that_measured_no_session_is_not_a_success()
    {
        // Starts at 0 s (in the warm-up) and 2 s (after the end): the measured second has none.
        var result = await CliProcess.RunAsync(Echo("--rate", "0.5", "--warmup", "1s", "--duration", "1s", "--json"));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Contain("no session was measured").And.Contain("check --rate").And.Contain("a rate too low"));
            Assert.That(result.Stderr, Does.Not.Contain("closed-model ramp"), "the hint is the open model's");
        });
    }

    [Test]
    public async Task A_closed_model_ramp_that_never_reaches_one_session_says_why_nothing_was_measured()
    {
        // 0 to 1 concurrent sessions over a second: the whole part is 1 only at the ramp's end.
        var stages = Path.Combine(_directory, "ramp-to-one.json");
        await File.WriteAllTextAsync(stages, """[ { "duration": "1s", "target": 1 } ]""");

        var result = await CliProcess.RunAsync(Echo("--concurrency", "0", "--stages", stages, "--json"));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Contain("no session was measured").And.Contain("--stages").And.Contain("0 to 1 reaches one session only at its end"));
        });
    }

    /// <summary>
    /// <c>--schedule-tolerance</c> sets how late a start may begin and still be on schedule: one
    /// session in flight at a time, each 200 ms, at 20 starts a second for 3 s, so every start
    /// after the first waits 150 ms or more for the slot: behind a 10 ms tolerance, on time within
    /// a 10-minute one.
    /// </summary>
    [TestCase(null, true)]
    [TestCase("10m", false)]
    public async Task The_schedule_tolerance_decides_which_late_starts_count_as_behind_schedule(string? tolerance, bool behind)
    {
        string[] more = tolerance is null ? [] : ["--schedule-tolerance", tolerance];
        var result = await CliProcess.RunAsync(["load", "--worker", Worker.Address, "--format", "builtin", "--payload", "delay 200ms; select x", "--rows", "10",
            "--rate", "20", "--duration", "3s", "--max-in-flight", "1", "--json", "--no-progress", .. more]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var sessions = json.RootElement.GetProperty("sessions");
        Assert.Multiple(() =>
        {
            // Every start after the first waited for the one slot: at least 150 ms late.
            var started = sessions.GetProperty("started").GetInt64();
            Assert.That(started, Is.GreaterThan(1), result.ToString());
            Assert.That(sessions.GetProperty("behindSchedule").GetInt64(), behind ? Is.GreaterThanOrEqualTo(started - 1) : Is.Zero, result.ToString());
        });
    }

    [Test]
    public async Task In_the_closed_model_the_drain_limit_cancels_sessions_still_running_and_such_a_run_is_not_a_success()
    {
        // Each session sleeps a minute in the worker, well inside its protocol timeouts; the run
        // stops starting after one second and cancels what still runs one second later.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = await CliProcess.RunAsync(
            ["load", "--worker", Worker.Address, "--format", "builtin", "--payload", "delay 60s", "--rows", "10", "--batch-rows", "10",
             "--concurrency", "1", "--duration", "1s", "--drain-timeout", "1s", "--json"]);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.Stderr, Does.Contain("still running at the drain limit"));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(25)), "cancelled at the drain limit, not ended by a protocol timeout (30 s)");

        // The abandoned session is its worker's too: the workers' sessions add up to the starts.
        var printed = LoadReports.FromJson(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(printed.Sessions.Abandoned, Is.EqualTo(1), result.Stdout);
            Assert.That(printed.Workers, Has.Count.EqualTo(1), result.Stdout);
            Assert.That(printed.Workers.Sum(w => w.Abandoned), Is.EqualTo(1));
            Assert.That(printed.Workers.Sum(w => w.Sessions), Is.EqualTo(printed.Sessions.Started));
            Assert.That(printed.Workers.Sum(w => w.Finished + w.Cancelled + w.Failed + w.Abandoned), Is.EqualTo(printed.Sessions.Started));
        });
    }

    [Test]
    public async Task A_failed_threshold_exits_4_and_is_named_on_stderr_in_the_json_and_in_the_html()
    {
        var html = Path.Combine(_directory, "failed.html");
        var result = await CliProcess.RunAsync(Echo("--concurrency", "1", "--sessions", "10", "--json", "--report-html", html, "--threshold", "session.p50 < 1us", "--threshold", "errors < 1%"));

        Assert.That(result.ExitCode, Is.EqualTo(4), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var thresholds = json.RootElement.GetProperty("thresholds").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(thresholds[0].GetProperty("passed").GetBoolean(), Is.False);
            Assert.That(thresholds[1].GetProperty("passed").GetBoolean(), Is.True);
            Assert.That(result.StderrLines[^1], Does.StartWith("engine-client load: threshold failed: session.p50 < 1us (actual ").And.EndWith("(exit 4)"));
            Assert.That(File.ReadAllText(html), Does.Contain("session.p50 &lt; 1us").And.Contain("FAILED"));
        });
    }

    [TestCase("session.p98 < 5ms", "unknown statistic 'p98'")]
    [TestCase("session.p99 < 5", "has no unit")]
    [TestCase("errors", "is not 'metric op value'")]
    public async Task A_malformed_threshold_is_bad_usage_exit_2_naming_what_is_wrong(string expression, string problem)
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", "--threshold", expression));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stdout, Is.Empty);
            Assert.That(result.StderrLines, Has.Count.EqualTo(1));
            Assert.That(result.Stderr, Does.StartWith("engine-client load: --threshold: ").And.Contain(problem).And.Contain("(see 'engine-client load --help')"));
        });
    }

    [TestCase(new[] { "--rate", "5", "--concurrency", "2", "--sessions", "1" }, "--rate and --concurrency are both given")]
    [TestCase(new[] { "--concurrency", "2" }, "no bound given")]
    [TestCase(new[] { "--rate", "2e9", "--duration", "1s" }, "A rate of 2000000000 sessions per second is above the most a load test takes (1e9)")]
    [TestCase(new[] { "--sessions", "1", "--shard", "2/2" }, "--shard '2/2' is not i/N")]
    [TestCase(new[] { "--sessions", "20", "--shard", "1/2" }, "Shard 1/2 of a closed model whose highest concurrency is 1 gets no session")] // ran forever
    [TestCase(new[] { "--rate", "10", "--sessions", "1", "--shard", "1/2" }, "Shard 1/2 of a session bound of 1 gets no session")]
    [TestCase(new[] { "--sessions", "1", "--schedule-tolerance", "5ms" }, "--schedule-tolerance is for the open model")]
    public async Task Bad_usage_exits_2_with_one_line(string[] arguments, string problem)
    {
        var result = await CliProcess.RunAsync(Echo(arguments));

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain(problem));
    }

    [Test]
    public async Task An_interrupt_cancels_the_sessions_in_flight_still_writes_the_reports_and_exits_130()
    {
        var json = Path.Combine(_directory, "interrupted");
        await using var process = CliProcess.Start(Echo("--concurrency", "2", "--duration", "10m", "--output-dir", json, "--json"));
        // Gate: a progress line that counts finished sessions.
        await process.WaitForStderrLineAsync(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^engine-client load: .*; started \d+ \(\+\d+\), finished ([1-9]\d*) "), TimeSpan.FromSeconds(60));

        process.Signal(CliProcess.SigInt);
        var result = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.That(result.ExitCode, Is.EqualTo(130), result.ToString());
        var printed = LoadReports.FromJson(result.Stdout);
        var written = LoadReports.FromJson(File.ReadAllText(Path.Combine(json, "result.json")));
        Assert.Multiple(() =>
        {
            Assert.That(printed.Interrupted, Is.True);
            Assert.That(printed.Sessions.Finished, Is.GreaterThan(0));
            Assert.That(printed.Sessions.FailedTotal, Is.Zero, "sessions cancelled by the interrupt are abandoned, not failed");
            Assert.That(written.Sessions.Finished, Is.EqualTo(printed.Sessions.Finished));
            Assert.That(result.StderrLines[^1], Is.EqualTo("engine-client load: interrupted (exit 130)"));
        });
    }

    [Test]
    public async Task A_fleet_file_places_the_sessions_on_its_workers_and_reports_each_worker()
    {
        await using var second = await ReferenceWorkerProcess.StartAsync();
        var fleetFile = Path.Combine(_directory, "fleet.txt");
        await File.WriteAllLinesAsync(fleetFile, [Worker.Address, second.Address]);

        var result = await CliProcess.RunAsync("load", "--fleet", fleetFile, "--format", "echo", "--rows", "100", "--batch-rows", "50", "--concurrency", "4", "--sessions", "40", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.EqualTo(40));
        var workers = json.RootElement.GetProperty("workers").EnumerateArray().ToDictionary(w => w.GetProperty("worker").GetString()!, w => w.GetProperty("finished").GetInt64());
        Assert.That(workers.Keys, Is.SubsetOf(new[] { Worker.Address, second.Address }), "every session ran on a worker of the fleet");
        Assert.That(workers.Values.Sum(), Is.EqualTo(40));
    }

    [Test]
    public async Task A_missing_fleet_file_is_a_usage_error_naming_it()
    {
        var result = await CliProcess.RunAsync("load", "--fleet", Path.Combine(_directory, "no-such-fleet.txt"), "--format", "echo", "--sessions", "1");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("no-such-fleet.txt"));
    }

    [Test]
    public async Task Shards_write_every_report_and_merge_exactly_with_load_merge()
    {
        var dir = Path.Combine(_directory, "shards");
        var shards = new List<LoadResult>();
        for (var i = 0; i < 2; i++)
        {
            var result = await CliProcess.RunAsync(Echo("--rate", "40", "--duration", "2s", "--shard", $"{i}/2", "--output-dir", dir));
            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(result.StderrLines.Count(l => l.StartsWith("engine-client load: ", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(1), "one progress line per interval when stderr is redirected");
            shards.Add(LoadReports.FromJson(File.ReadAllText(Path.Combine(dir, $"result-shard-{i}-of-2.json"))));
        }

        foreach (var name in new[] { "report-shard-0-of-2.html", "result-shard-0-of-2.csv", "histograms-shard-0-of-2.hlog", "intervals-shard-0-of-2.jsonl" })
        {
            Assert.That(new FileInfo(Path.Combine(dir, name)).Length, Is.GreaterThan(0), name);
        }

        // Each shard took half the rate: 20 sessions/s for 2 s.
        Assert.That(shards.Select(s => s.Sessions.Started), Has.All.InRange(30, 45));

        // The interval log is the standard format: the package's reader reads it back.
        using (var log = File.OpenRead(Path.Combine(dir, "histograms-shard-0-of-2.hlog")))
        {
            var histograms = new HistogramLogReader(log).ReadHistograms().ToList();
            Assert.That(histograms.Where(h => h.Tag == "session").Sum(h => h.TotalCount), Is.EqualTo(shards[0].Latency[LoadPhases.Session].TotalCount));
        }

        foreach (var line in File.ReadAllLines(Path.Combine(dir, "intervals-shard-0-of-2.jsonl")))
        {
            using var record = JsonDocument.Parse(line);
            Assert.That(record.RootElement.GetProperty("sessionP99").ValueKind, Is.AnyOf(JsonValueKind.Number, JsonValueKind.Null));
        }

        var merge = await CliProcess.RunAsync("load", "merge", Path.Combine(dir, "result-shard-0-of-2.json"), Path.Combine(dir, "result-shard-1-of-2.json"), "--json", "--threshold", "errors < 1%");
        Assert.That(merge.ExitCode, Is.Zero, merge.ToString());
        var merged = LoadReports.FromJson(merge.Stdout);
        var all = new LongHistogram(1, 3_600_000_000L, 3);
        foreach (var shard in shards)
        {
            all.Add(shard.Latency[LoadPhases.Session]);
        }

        var session = merged.Latency[LoadPhases.Session];
        Assert.Multiple(() =>
        {
            Assert.That(merged.Sessions.Started, Is.EqualTo(shards.Sum(s => s.Sessions.Started)));
            Assert.That(merged.Shards, Is.EqualTo(new[] { "0/2", "1/2" }));
            foreach (var p in new[] { 50.0, 90, 99, 99.9, 100 })
            {
                Assert.That(session.GetValueAtPercentile(p), Is.EqualTo(all.GetValueAtPercentile(p)), $"p{p.ToString(CultureInfo.InvariantCulture)}");
            }
        });
    }

    [Test]
    public async Task The_interval_logs_start_time_is_the_runs_start_from_which_its_interval_times_count()
    {
        // The log's interval time stamps count from the run's start; the header's StartTime is what
        // readers add to them, so it must be that start, not when the file was opened.
        var path = Path.Combine(_directory, "start-time.hlog");
        var result = await CliProcess.RunAsync(Echo("--sessions", "20", "--json", "--hdr-log", path));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var startedAt = LoadReports.FromJson(result.Stdout).StartedAt;
        var header = File.ReadLines(path).First(l => l.StartsWith("#[StartTime: ", StringComparison.Ordinal));
        var seconds = double.Parse(header["#[StartTime: ".Length..header.IndexOf(' ', "#[StartTime: ".Length)], CultureInfo.InvariantCulture);
        var written = DateTimeOffset.UnixEpoch.AddSeconds(seconds);
        Assert.That((written - startedAt).Duration(), Is.LessThanOrEqualTo(TimeSpan.FromMilliseconds(1)), $"header {header}, startedAt {startedAt:O}");
    }

    [Test]
    public async Task A_specification_with_workers_2_launches_two_workers_that_share_the_sessions()
    {
        var spec = Path.Combine(_directory, "worker.spec.json");
        await File.WriteAllTextAsync(spec, CliTestFiles.ReferenceWorkerSpecText);

        var result = await CliProcess.RunAsync("load", "--spec", spec, "--workers", "2", "--format", "echo", "--rows", "10", "--concurrency", "4", "--sessions", "40", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var workers = json.RootElement.GetProperty("workers").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(workers, Has.Count.EqualTo(2), result.Stdout);
            Assert.That(workers.Sum(w => w.GetProperty("finished").GetInt64()), Is.EqualTo(40));
            Assert.That(json.RootElement.GetProperty("latency").GetProperty("heartbeat").GetProperty("count").GetInt64(), Is.GreaterThanOrEqualTo(0));
        });
    }

    /// <summary>
    /// Heartbeats follow the workers of a <c>--spec</c> pool: once its worker is killed during the
    /// run, the worker the pool launches in its place is probed from the next round. (The probes
    /// used to be fixed to the workers of the start: the replacement got no heartbeat at all.)
    /// </summary>
    [Test]
    public async Task Heartbeats_follow_the_worker_a_spec_pool_launches_in_place_of_one_that_died()
    {
        var marker = Guid.NewGuid().ToString("N");
        var spec = Path.Combine(_directory, "followed.spec.json");
        await File.WriteAllTextAsync(spec, $$"""
            {
              "capabilities": { "supportedDataFormats": ["ARROW"], "supportedCommunicationPatterns": ["BIDIRECTIONAL_STREAMING"], "supportsReuse": true },
              "direct": {
                "runner": { "command": ["{{ReferenceWorkerProcess.ExecutablePath}}"], "environmentVariables": { "DOTNET_gcServer": "0", "ENGINE_CLIENT_TEST_MARKER": "{{marker}}" } },
                "properties": { "initializationTimeoutMs": 20000, "connection": { "unixDomainSocket": {} } }
              }
            }
            """);

        await using var load = CliProcess.Start(["load", "--spec", spec, "--format", "echo", "--rows", "10", "--concurrency", "1", "--duration", "12s", "--json"]);

        // Two interval lines: the run is under way on the first worker, and its first round of
        // heartbeats (one a second) is done. Kill it; 10 s are left for its replacement.
        await load.WaitForStderrLineAsync(_ => true, TimeSpan.FromSeconds(60));
        await load.WaitForStderrLineAsync(_ => true, TimeSpan.FromSeconds(60));
        // The worker's processes (its launcher's too, when it has one).
        var first = MarkedProcesses(marker);
        Assert.That(first, Is.Not.Empty, "the worker runs");
        foreach (var pid in first)
        {
            using var victim = Process.GetProcessById(pid);
            victim.Kill();
        }

        var result = await load.WaitForExitAsync(TimeSpan.FromSeconds(90));

        using var json = JsonDocument.Parse(result.Stdout);
        var workers = json.RootElement.GetProperty("workers").EnumerateArray()
            .Select(w => (Name: w.GetProperty("worker").GetString()!, Finished: w.GetProperty("finished").GetInt64(), Heartbeats: w.GetProperty("heartbeats").GetInt64()))
            .ToList();
        Assert.Multiple(() =>
        {
            Assert.That(workers, Has.Count.GreaterThanOrEqualTo(2), result.Stdout);
            Assert.That(workers.Count(w => w.Finished > 0), Is.GreaterThanOrEqualTo(2), "sessions ran on the first worker and on its replacement: " + result.Stdout);
            Assert.That(workers.Where(w => w.Finished > 0).Select(w => w.Heartbeats), Has.All.GreaterThan(0), "each worker that ran sessions was probed: " + result.Stdout);
        });
    }

    /// <summary>The processes whose environment holds <paramref name="marker"/> (the workers of one test's specification).</summary>
    private static List<int> MarkedProcesses(string marker)
    {
        var pids = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(directory, "environ")).Contains($"ENGINE_CLIENT_TEST_MARKER={marker}", StringComparison.Ordinal))
                {
                    pids.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone, or not ours.
            }
        }

        return pids;
    }

    /// <summary>
    /// Report paths are checked before any work without being emptied: when the run then fails
    /// (here its workers cannot be launched, exit 3), the reports already at those paths keep
    /// their content, and no file is left where there was none.
    /// </summary>
    [Test]
    public async Task A_run_that_fails_before_reporting_leaves_existing_reports_as_they_were()
    {
        var spec = Path.Combine(_directory, "missing-worker.spec.json");
        await File.WriteAllTextAsync(spec, """
            {
              "capabilities": { "supportedDataFormats": ["ARROW"], "supportedCommunicationPatterns": ["BIDIRECTIONAL_STREAMING"] },
              "direct": { "runner": { "command": ["/nonexistent/udf-worker"] }, "properties": { "connection": { "unixDomainSocket": {} } } }
            }
            """);
        var html = Path.Combine(_directory, "kept.html");
        var csv = Path.Combine(_directory, "kept.csv");
        await File.WriteAllTextAsync(html, "the previous report");
        await File.WriteAllTextAsync(csv, "the previous csv");
        var results = Path.Combine(_directory, "kept-results");

        var result = await CliProcess.RunAsync("load", "--spec", spec, "--format", "echo", "--sessions", "1", "--report-html", html, "--csv", csv, "--output-dir", results);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
            Assert.That(result.Stderr, Does.Contain("could not be launched"));
            Assert.That(File.ReadAllText(html), Is.EqualTo("the previous report"));
            Assert.That(File.ReadAllText(csv), Is.EqualTo("the previous csv"));
            Assert.That(File.Exists(Path.Combine(results, "result.json")), Is.False, "no empty result where there was none");
        });
    }

    /// <summary>
    /// A test that never ran (its workers cannot be launched) still prints one JSON object with
    /// <c>--json</c>, saying why, and leaves no empty <c>--output-dir</c> it created; that object
    /// is refused by <c>load merge</c> as no result, by name.
    /// </summary>
    [Test]
    public async Task A_test_whose_workers_cannot_be_launched_prints_one_json_object_saying_why_and_leaves_no_directory()
    {
        var spec = Path.Combine(_directory, "missing-worker.spec.json");
        await File.WriteAllTextAsync(spec, """
            {
              "capabilities": { "supportedDataFormats": ["ARROW"], "supportedCommunicationPatterns": ["BIDIRECTIONAL_STREAMING"] },
              "direct": { "runner": { "command": ["/nonexistent/udf-worker"] }, "properties": { "connection": { "unixDomainSocket": {} } } }
            }
            """);
        var results = Path.Combine(_directory, "new-results");

        var result = await CliProcess.RunAsync("load", "--spec", spec, "--format", "echo", "--sessions", "1", "--json", "--output-dir", results);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("schemaVersion").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("ran").GetBoolean(), Is.False);
            Assert.That(root.GetProperty("exitCode").GetInt32(), Is.EqualTo(3));
            Assert.That(root.GetProperty("error").GetProperty("kind").GetString(), Is.EqualTo("transport"));
            Assert.That(root.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("launch_failed"));
            Assert.That(root.GetProperty("error").GetProperty("message").GetString(), Does.Contain("could not be launched").And.Contain("/nonexistent/udf-worker"));
            Assert.That(Directory.Exists(results), Is.False, "the --output-dir this command made is not left behind empty");
        });

        var saved = Path.Combine(_directory, "no-run.json");
        await File.WriteAllTextAsync(saved, result.Stdout);
        var merge = await CliProcess.RunAsync("load", "merge", saved, saved);
        Assert.Multiple(() =>
        {
            Assert.That(merge.ExitCode, Is.EqualTo(2), merge.ToString());
            Assert.That(merge.Stderr, Does.Contain("did not run").And.Contain("could not be launched"));
        });
    }

    /// <summary>
    /// Two scenarios of one name are bad usage before any session runs; they used to run the
    /// whole test and then fail to build the result (exit 70, no report).
    /// </summary>
    [Test]
    public async Task Two_scenarios_of_one_name_are_bad_usage_before_any_session()
    {
        var scenarios = Path.Combine(_directory, "twice-named.json");
        await File.WriteAllTextAsync(scenarios, """
            { "scenarios": [ { "name": "a", "format": "echo" }, { "name": "a", "format": "echo", "weight": 2 } ] }
            """);
        var results = Path.Combine(_directory, "twice-named-results");

        var result = await CliProcess.RunAsync("load", "--worker", Worker.Address, "--scenario", scenarios, "--duration", "30s", "--output-dir", results);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stderr, Does.Contain("2 scenarios are named 'a'"));
            Assert.That(Directory.Exists(results) ? Directory.GetFiles(results) : [], Is.Empty, "nothing ran, nothing was written");
        });
    }

    [Test]
    public async Task Weighted_scenarios_and_cancelled_sessions_are_counted_apart_from_failures()
    {
        var scenarios = Path.Combine(_directory, "scenarios.json");
        await File.WriteAllTextAsync(scenarios, """
            { "scenarios": [
              { "name": "echo", "weight": 3, "format": "echo", "input": { "rows": 40, "batchRows": 10 } },
              { "name": "slow", "weight": 1, "format": "builtin", "payload": "delay 1ms; select x", "input": { "rows": 40, "batches": 4, "columns": "x:int64,s:string(16)" }, "cancelShare": 0.5, "taskContext": { "partition_id": "{session}" } }
            ] }
            """);

        var result = await CliProcess.RunAsync("load", "--worker", Worker.Address, "--scenario", scenarios, "--concurrency", "2", "--sessions", "80", "--seed", "7", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var sessions = json.RootElement.GetProperty("sessions");
        Assert.Multiple(() =>
        {
            Assert.That(sessions.GetProperty("failed").GetProperty("total").GetInt64(), Is.Zero, result.Stdout);
            Assert.That(sessions.GetProperty("cancelled").GetInt64(), Is.GreaterThan(0), "about one in eight sessions is cancelled on purpose");
            Assert.That(sessions.GetProperty("finished").GetInt64() + sessions.GetProperty("cancelled").GetInt64(), Is.EqualTo(80));
            Assert.That(json.RootElement.GetProperty("latency").GetProperty("cancel").GetProperty("count").GetInt64(), Is.EqualTo(sessions.GetProperty("cancelled").GetInt64()));
            Assert.That(json.RootElement.GetProperty("configuration").GetProperty("scenarios").GetString(), Does.Contain("echo (weight 3").And.Contain("slow (weight 1"));
        });
    }
}
