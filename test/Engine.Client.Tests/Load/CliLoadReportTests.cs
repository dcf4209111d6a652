using System.Diagnostics;
using System.Text.Json;
using Engine.Client.Load;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// What <c>engine-client load</c> and <c>load merge</c> record and say, as real processes: the
/// command line as given, the sources as targeted, the help of <c>--worker</c>, a failed threshold
/// of a merge on stderr, a merge of unlike runs.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class CliLoadReportTests : ReferenceWorkerFixture
{
    private string _directory = null!;

    [OneTimeSetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("ec-load-report-").FullName;

    [OneTimeTearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// The configuration's <c>command</c> is the command line as given, each argument quoted for a
    /// POSIX shell when it needs it; a shell splits it back into the very same arguments.
    /// </summary>
    [Test]
    public async Task The_command_is_the_command_line_as_given_quoted_so_a_shell_splits_it_back()
    {
        string[] arguments =
        [
            "load", "--worker", Worker.Address, "--format", "builtin", "--payload", "select x", "--rows", "10",
            "--sessions", "2", "--json", "--no-progress", "--task-context", "note=it's $HOME *", "--session-conf", "k=a\"b\\c", "--session-conf", "empty=",
        ];

        var result = await CliProcess.RunAsync(arguments);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var command = LoadReports.FromJson(result.Stdout).Configuration["command"];
        Assert.That(command, Is.EqualTo(
            $"engine-client load --worker {Worker.Address} --format builtin --payload 'select x' --rows 10 --sessions 2 --json --no-progress "
            + "--task-context 'note=it'\\''s $HOME *' --session-conf 'k=a\"b\\c' --session-conf empty="));
        Assert.That(await ShellWordsAsync(command), Is.EqualTo((string[])["engine-client", .. arguments]));
    }

    /// <summary>
    /// Two <c>--worker</c>: <c>sources</c> names both addresses (not the fleet's name), and the
    /// workers table names each worker by its address.
    /// </summary>
    [Test]
    public async Task Sources_name_the_workers_given_and_the_workers_table_names_them_by_address()
    {
        await using var second = await ReferenceWorkerProcess.StartAsync();

        var result = await CliProcess.RunAsync("load", "--worker", Worker.Address, "--worker", second.Address, "--format", "echo", "--rows", "10", "--concurrency", "2", "--sessions", "10", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var parsed = LoadReports.FromJson(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(parsed.Sources, Is.EqualTo(new[] { Worker.Address, second.Address }));
            Assert.That(parsed.Workers.Select(w => w.Worker), Is.SubsetOf(new[] { Worker.Address, second.Address }));
            Assert.That(parsed.Workers.Sum(w => w.Finished), Is.EqualTo(10));
        });
    }

    /// <summary><c>--spec --workers 2</c>: <c>sources</c> names the specification file; the workers table the launched workers' addresses.</summary>
    [Test]
    public async Task Sources_name_the_specification_file_and_the_workers_table_the_launched_workers()
    {
        var spec = Path.Combine(_directory, "worker.spec.json");
        await File.WriteAllTextAsync(spec, CliTestFiles.ReferenceWorkerSpecText);

        var result = await CliProcess.RunAsync("load", "--spec", spec, "--workers", "2", "--format", "echo", "--rows", "10", "--concurrency", "4", "--sessions", "20", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var parsed = LoadReports.FromJson(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(parsed.Sources, Is.EqualTo(new[] { spec }));
            Assert.That(parsed.Workers, Is.Not.Empty);
            Assert.That(parsed.Workers.Select(w => w.Worker), Has.All.StartWith("unix://"), "workers are named by address");
            Assert.That(parsed.Workers.Sum(w => w.Finished), Is.EqualTo(20));
        });
    }

    /// <summary>The help of <c>--worker</c> says what the code does with several: a fleet, least-loaded placement with retry.</summary>
    [Test]
    public async Task The_help_of_a_repeated_worker_describes_fleet_placement()
    {
        var result = await CliProcess.RunAsync("load", "--help");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var help = string.Join(' ', result.Stdout.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        Assert.Multiple(() =>
        {
            Assert.That(help, Does.Not.Contain("in turn"));
            Assert.That(help, Does.Contain("least loaded"));
            Assert.That(help, Does.Contain("retried on another"));
        });
    }

    /// <summary>A failed threshold of <c>load merge</c> exits 4 with the same line on stderr as <c>load</c>.</summary>
    [Test]
    public async Task A_failed_threshold_of_a_merge_exits_4_and_is_named_on_stderr()
    {
        var a = await WriteAsync("threshold-a.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --shard 0/2"));
        var b = await WriteAsync("threshold-b.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --shard 1/2"));

        var result = await CliProcess.RunAsync("load", "merge", a, b, "--threshold", "rate >= 100/s", "--threshold", "errors < 1%");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(4), result.ToString());
            Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.StderrLines[^1], Is.EqualTo("engine-client load merge: threshold failed: rate >= 100/s (actual 6/s) (exit 4)"));
        });
    }

    /// <summary>
    /// What run identifiers cannot check is said: a result without one (edited, or written by
    /// hand), and one shard in two results (a shard run again); the merge goes on.
    /// </summary>
    [Test]
    public async Task A_merge_warns_of_a_result_without_a_run_identifier_and_of_a_shard_given_twice()
    {
        var a = await WriteAsync("again-a.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10 --shard 0/2"));
        var b = await WriteAsync("again-b.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10 --shard 0/2"));
        var edited = LoadReports.ToJson(Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10 --shard 1/2"));
        var c = Path.Combine(_directory, "again-c.json");
        using (var document = System.Text.Json.JsonDocument.Parse(edited))
        {
            var fields = document.RootElement.EnumerateObject().Where(p => p.Name != "runs").ToDictionary(p => p.Name, p => p.Value.Clone());
            await File.WriteAllTextAsync(c, System.Text.Json.JsonSerializer.Serialize(fields));
        }

        var result = await CliProcess.RunAsync("load", "merge", a, b, c, "--json");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(result.Stderr, Does.Contain($"warning: result '{c}' has no run identifier (runs)"), result.ToString());
            Assert.That(result.Stderr, Does.Contain($"warning: shard 0/2 is in '{a}', '{b}'"), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("shard 1/2"), result.ToString());
            Assert.That(LoadReports.FromJson(result.Stdout).Sessions.Finished, Is.EqualTo(9), "merged all the same");
        });
    }

    /// <summary>
    /// A merge that lacks a shard, or mixes shard counts, is merged with a word: its counts and
    /// rates are those of part of a run, or of runs that were not one.
    /// </summary>
    [Test]
    public async Task A_merge_warns_of_a_missing_shard_and_of_shards_of_different_counts()
    {
        var a = await WriteAsync("part-a.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10 --shard 0/3"));
        var c = await WriteAsync("part-c.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10 --shard 2/3"));
        var whole = await WriteAsync("part-whole.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10"));

        var missing = await CliProcess.RunAsync("load", "merge", a, c, "--json");
        var mixed = await CliProcess.RunAsync("load", "merge", a, whole, "--json");

        Assert.Multiple(() =>
        {
            Assert.That(missing.ExitCode, Is.Zero, missing.ToString());
            Assert.That(missing.Stderr, Does.Contain("warning: shard 1/3 is missing: the merge holds 2 of 3 shards"), missing.ToString());
            Assert.That(mixed.ExitCode, Is.Zero, mixed.ToString());
            Assert.That(mixed.Stderr, Does.Contain($"warning: the results are shards of different counts (0/3 in '{a}'; 0/1 in '{whole}')"), mixed.ToString());
        });
    }

    /// <summary>
    /// Shards of one run merge without a word; the merged configuration keeps what they share,
    /// lists each shard's command, and records the merge's own command line.
    /// </summary>
    [Test]
    public async Task Shards_of_one_run_merge_silently_and_the_configuration_records_every_command()
    {
        var a = await WriteAsync("like-a.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10 --shard 0/2"));
        var b = await WriteAsync("like-b.json", Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --rate 10 --shard 1/2"));

        var result = await CliProcess.RunAsync("load", "merge", a, b, "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var configuration = LoadReports.FromJson(result.Stdout).Configuration;
        Assert.Multiple(() =>
        {
            Assert.That(result.Stderr, Is.Empty);
            Assert.That(configuration["model"], Is.EqualTo("open"));
            Assert.That(configuration["command"], Is.EqualTo("result 1: engine-client load --rate 10 --shard 0/2\nresult 2: engine-client load --rate 10 --shard 1/2"));
            Assert.That(configuration["mergeCommand"], Is.EqualTo($"engine-client load merge {a} {b} --json"));
            Assert.That(configuration, Does.Not.ContainKey("mergeWarning"));
        });
    }

    /// <summary>
    /// An open-model result and a closed-model one, against different workers: the merge warns on
    /// stderr naming each difference and the files, records it in the configuration, and still exits 0.
    /// </summary>
    [Test]
    public async Task Merging_unlike_runs_warns_naming_each_difference_and_records_it()
    {
        var open = await WriteAsync("unlike-open.json", Result(LoadModelKind.Open, 10, ["unix:///a.sock"], "engine-client load --rate 10"));
        var closed = await WriteAsync("unlike-closed.json", Result(LoadModelKind.Closed, 4, ["unix:///b.sock"], "engine-client load --concurrency 4"));

        var result = await CliProcess.RunAsync("load", "merge", open, closed, "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var configuration = LoadReports.FromJson(result.Stdout).Configuration;
        Assert.Multiple(() =>
        {
            Assert.That(result.StderrLines, Has.Some.Contains("warning").And.Contains("model").And.Contains($"open in {open}").And.Contains($"closed in {closed}"));
            Assert.That(result.StderrLines, Has.Some.Contains("warning").And.Contains("sources").And.Contains("unix:///a.sock").And.Contains("unix:///b.sock"));
            Assert.That(result.StderrLines, Has.Some.Contains("warning").And.Contains("target"));
            Assert.That(configuration["mergeWarning"], Does.Contain("model").And.Contain("target").And.Contain("sources"));
            Assert.That(configuration["model"], Is.EqualTo("result 1: open\nresult 2: closed"));
        });
    }

    /// <summary>
    /// The same result given twice (the same file, or a copy of it) would count its sessions twice:
    /// the merge writes nothing and exits 2, naming the files.
    /// </summary>
    [Test]
    public async Task A_result_given_twice_is_refused_as_usage_naming_the_files()
    {
        var once = Result(LoadModelKind.Open, 10, [Worker.Address], "engine-client load --shard 0/2", run: "0123456789abcdef0123456789abcdef");
        var a = await WriteAsync("twice-a.json", once);
        var copy = await WriteAsync("twice-copy.json", once);
        var html = Path.Combine(_directory, "twice.html");
        var keptHtml = Path.Combine(_directory, "twice-kept.html");
        await File.WriteAllTextAsync(keptHtml, "the previous report");

        var same = await CliProcess.RunAsync("load", "merge", a, a, "--json");
        var copied = await CliProcess.RunAsync("load", "merge", a, copy, "--report-html", html);
        var kept = await CliProcess.RunAsync("load", "merge", a, a, "--report-html", keptHtml);

        Assert.Multiple(() =>
        {
            Assert.That(same.ExitCode, Is.EqualTo(2), same.ToString());
            Assert.That(same.Stdout, Is.Empty);
            Assert.That(same.Stderr, Does.Contain($"result '{a}' is given twice").And.Contain("count its sessions twice"));
            Assert.That(copied.ExitCode, Is.EqualTo(2), copied.ToString());
            Assert.That(copied.Stderr, Does.Contain($"results '{a}' and '{copy}' both cover run 0123456789abcdef0123456789abcdef"));
            Assert.That(File.Exists(html), Is.False, "no report of double-counted sessions");
            Assert.That(kept.ExitCode, Is.EqualTo(2), kept.ToString());
            Assert.That(File.ReadAllText(keptHtml), Is.EqualTo("the previous report"), "a refused merge loses nothing");
        });
    }

    private async Task<string> WriteAsync(string name, LoadResult result)
    {
        var path = Path.Combine(_directory, name);
        await File.WriteAllTextAsync(path, LoadReports.ToJson(result));
        return path;
    }

    /// <summary>A result of 3 finished sessions in 1 s, with the configuration a run writes.</summary>
    private static LoadResult Result(LoadModelKind model, double target, string[] sources, string command, string? run = null)
    {
        var session = new LongHistogram(1, 3_600_000_000L, 3);
        session.RecordValueWithCount(2_000, 3);
        var modelText = model == LoadModelKind.Open ? "open" : "closed";
        return new LoadResult
        {
            StartedAt = DateTimeOffset.UnixEpoch,
            Seconds = 1,
            Model = model,
            Target = target,
            Shards = [System.Text.RegularExpressions.Regex.Match(command, @"--shard (\d+/\d+)") is { Success: true } shard ? shard.Groups[1].Value : "0/1"],
            Runs = [run ?? Guid.NewGuid().ToString("N")],
            Hosts = ["host"],
            Sources = sources,
            Configuration = new Dictionary<string, string>
            {
                ["model"] = modelText,
                ["target"] = $"{target} {(model == LoadModelKind.Open ? "sessions/s" : "concurrent sessions")}",
                ["stages"] = "none",
                ["duration"] = "none",
                ["sessions"] = "3",
                ["warmup"] = "0 s",
                ["scenarios"] = "default (weight 1, format echo, payload 0 B, input none, cancel share 0)",
                ["command"] = command,
            },
            Sessions = new LoadSessionCounts { Started = 3, Finished = 3 },
            Latency = new Dictionary<string, HistogramBase> { [LoadPhases.Session] = session },
            Workers = [.. sources.Select(s => new LoadWorkerFigures { Worker = s, Sessions = 3, Finished = 3, Session = session })],
            Generators = [new LoadGeneratorFigures { Host = "host", Cores = 2, CpuPercentMean = 1, CpuPercentMax = 2 }],
        };
    }

    /// <summary>The words a POSIX shell makes of <paramref name="command"/>.</summary>
    private static async Task<string[]> ShellWordsAsync(string command)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("printf '%s\\0' " + command);
        using var shell = Process.Start(start)!;
        var output = await shell.StandardOutput.ReadToEndAsync().WaitAsync(TaskTimeouts.Default);
        await shell.WaitForExitAsync().WaitAsync(TaskTimeouts.Default);
        Assert.That(shell.ExitCode, Is.Zero);
        return output.Split('\0')[..^1];
    }
}
