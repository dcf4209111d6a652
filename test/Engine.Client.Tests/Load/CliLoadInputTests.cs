using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Load;

/// <summary>
/// <c>engine-client load</c> and <c>load merge</c> given values and paths they cannot use, as real
/// processes: each is exit 2 with a plain line naming the option (never exit 70 or .NET's words),
/// and a file written as the run goes that fails does not take the run or the other reports down.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class CliLoadInputTests : ReferenceWorkerFixture
{
    private string _directory = null!;

    [OneTimeSetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("ec-load-input-").FullName;

    [OneTimeTearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    private string[] Echo(params string[] more) =>
        ["load", "--worker", Worker.Address, "--format", "echo", "--rows", "100", "--batch-rows", "50", "--no-progress", .. more];

    private static void AssertUsage(CliResult result, params string[] expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("unexpected").And.Not.Contain("Exception"), result.ToString());
            foreach (var text in expected)
            {
                Assert.That(result.Stderr, Does.Contain(text), result.ToString());
            }
        });
    }

    [TestCase(new[] { "--rate", "1e-9", "--sessions", "2" }, "longer than the longest wait a timer allows (4294967.294 s")]
    [TestCase(new[] { "--rate", "1e-9", "--sessions", "2" }, "give a rate of at least 2.328E-07")]
    [TestCase(new[] { "--rate", "1e-6", "--arrivals", "poisson", "--sessions", "2" }, "may draw a gap of up to 3.674E+07 s between starts")]
    [TestCase(new[] { "--max-message-size", "1", "--sessions", "1" }, "--max-message-size 1 is too small; give at least 64KiB.")]
    [TestCase(new[] { "--concurrency", "2", "--max-in-flight", "5", "--sessions", "1" }, "--max-in-flight is for the open model (--rate)")]
    public async Task A_value_the_library_refuses_is_bad_usage_exit_2_with_one_line(string[] arguments, string problem)
    {
        var result = await CliProcess.RunAsync(Echo(arguments));

        AssertUsage(result, problem);
        Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
    }

    [TestCase("--report-html")]
    [TestCase("--csv")]
    [TestCase("--hdr-log")]
    [TestCase("--intervals")]
    public async Task A_directory_given_as_a_report_file_is_named_as_a_directory(string option)
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", option, _directory));

        AssertUsage(result, $"{option} '{_directory}': this is a directory; give a file path.");
        Assert.That(result.Stderr, Does.Not.Contain("already exists"));
    }

    [TestCase("--report-html")]
    [TestCase("--csv")]
    public async Task A_directory_given_as_a_merge_report_file_is_named_as_a_directory(string option)
    {
        var result = await CliProcess.RunAsync("load", "merge", option, _directory, Path.Combine(_directory, "none.json"));

        AssertUsage(result, $"{option} '{_directory}': this is a directory; give a file path.");
    }

    [Test]
    public async Task A_report_in_a_directory_that_cannot_hold_files_says_so()
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", "--hdr-log", "/proc/ec-load-input"));

        AssertUsage(result, "--hdr-log '/proc/ec-load-input': its directory cannot be written");
        Assert.That(result.Stderr, Does.Not.Contain("Could not find file"));
    }

    [Test]
    public async Task A_report_that_fails_at_the_end_on_a_full_disk_says_it_cannot_be_written_because_the_disk_is_full()
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", "/dev/full"));

        AssertUsage(result, "--csv '/dev/full' cannot be written: the disk is full");
        Assert.That(result.Stderr, Does.Not.Contain("cannot be read"));
    }

    [Test]
    public async Task Two_reports_given_one_file_are_bad_usage_before_any_work_naming_both_options()
    {
        var same = Path.Combine(_directory, "same.out");
        await File.WriteAllTextAsync(same, "kept");

        var explicitPaths = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", same, "--report-html", Path.Combine(_directory, ".", "same.out")));
        var fromDirectory = await CliProcess.RunAsync(Echo("--sessions", "1", "--output-dir", _directory, "--csv", Path.Combine(_directory, "report.html")));
        var merge = await CliProcess.RunAsync("load", "merge", "--csv", same, "--report-html", same, Path.Combine(_directory, "none.json"));

        AssertUsage(explicitPaths, "--report-html and --csv both write", "one would overwrite the other");
        AssertUsage(fromDirectory, "--report-html (from --output-dir) and --csv both write");
        AssertUsage(merge, "--report-html and --csv both write");
        Assert.Multiple(() =>
        {
            Assert.That(explicitPaths.Stdout, Is.Empty, "no run");
            Assert.That(File.ReadAllText(same), Is.EqualTo("kept"));
            Assert.That(File.Exists(Path.Combine(_directory, "result.json")), Is.False, "no run");
        });
    }

    /// <summary>A stage with a field the file format does not have (a misspelt "target", say) is bad usage, named, before any work.</summary>
    [Test]
    public async Task A_stage_with_an_unknown_field_is_bad_usage_naming_it()
    {
        var stages = Path.Combine(_directory, "bogus-stages.json");
        await File.WriteAllTextAsync(stages, """[ { "duration": "1s", "target": 5 }, { "duration": "1s", "traget": 10 } ]""");

        var result = await CliProcess.RunAsync(Echo("--rate", "1", "--stages", stages));

        AssertUsage(result, $"--stages '{stages}', stage 2: unknown field 'traget'");
    }

    [Test]
    public async Task A_malformed_result_given_to_merge_names_the_missing_or_malformed_field()
    {
        var run = await CliProcess.RunAsync(Echo("--sessions", "1", "--json"));
        Assert.That(run.ExitCode, Is.Zero, run.ToString());

        var cases = new List<(string Json, string Problem)>
        {
            ("""{"schemaVersion":1,"tool":"engine-client load"}""", "sessions is missing"),
            (Edit(run.Stdout, r => r["sessions"]!.AsObject().Remove("started")), "sessions.started is missing"),
            (Edit(run.Stdout, r => r["intervals"] = null), "intervals is not an array"),
            (Edit(run.Stdout, r => r["sessions"]!["started"] = JsonNode.Parse("1e30")), "sessions.started is not a whole number"),
            (Edit(run.Stdout, r => r["startedAt"] = "yesterday"), "startedAt 'yesterday' is not a date and time"),
            (Edit(run.Stdout, r => r["sessions"]!["started"] = -5), "sessions.started is not a whole number of zero or more (got -5)"),
        };
        for (var i = 0; i < cases.Count; i++)
        {
            var path = Path.Combine(_directory, $"malformed-{i}.json");
            await File.WriteAllTextAsync(path, cases[i].Json);

            var merge = await CliProcess.RunAsync("load", "merge", path);

            AssertUsage(merge, $"result '{path}' is not a load test result", cases[i].Problem);
            Assert.That(merge.Stderr, Does.Not.Contain("given key").And.Not.Contain("JSON value"), merge.ToString());
        }
    }

    [TestCase("--intervals")]
    [TestCase("--hdr-log")]
    [NonParallelizable] // Both cases open /dev/full for the whole run, exclusively (as every log file is).
    public async Task A_progress_file_that_fails_during_the_run_stops_alone_and_the_run_ends_with_every_other_report_and_exit_2(string option)
    {
        var csv = Path.Combine(_directory, $"after-{option.TrimStart('-')}.csv");

        var result = await CliProcess.RunAsync(Echo("--concurrency", "1", "--duration", "1500ms", "--json", "--csv", csv, option, "/dev/full"));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.StderrLines.Where(l => l.Contains("/dev/full", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Contain($"engine-client load: {option} '/dev/full' could not be written: the disk is full").And.Contain("(exit 2)"));
            Assert.That(result.Stderr, Does.Not.Contain("unexpected"));
            Assert.That(File.ReadAllText(csv), Does.StartWith("phase,count,"), "the other reports are written");
        });
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.GreaterThan(0), "the run went on");
    }

    private static string Edit(string json, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        edit(root);
        return root.ToJsonString();
    }
}
