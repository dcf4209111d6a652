using Engine.Client.Tests.Cli;
using Engine.Client.Tests.Infrastructure;

namespace Engine.Client.Tests.Load;

/// <summary>
/// <c>engine-client load</c>'s arguments and scenario fields, as real processes against a reference
/// worker: conflicting fields are bad usage naming both, a value the documentation allows is taken,
/// and a refused value is told in the user's terms (the option, the accepted form or range).
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class CliLoadArgumentTests : ReferenceWorkerFixture
{
    private string _directory = null!;

    [OneTimeSetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("ec-load-args-").FullName;

    [OneTimeTearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    private string[] Echo(params string[] more) =>
        ["load", "--worker", Worker.Address, "--format", "echo", "--no-progress", .. more];

    private static void AssertUsage(CliResult result, params string[] expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
            foreach (var text in expected)
            {
                Assert.That(result.Stderr, Does.Contain(text), result.ToString());
            }
        });
    }

    private string File(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    /// <summary>The command line refuses --payload with --payload-file; a scenario refuses payload with payloadFile (and input with inputFile) alike.</summary>
    [TestCase("payload", """ "payload": "x", "payloadFile": "p.bin" """)]
    [TestCase("input", """ "input": { "rows": 10 }, "inputFile": "in.arrow" """)]
    public async Task A_scenario_with_both_fields_of_a_pair_is_bad_usage_naming_the_scenario_and_both_fields(string first, string fields)
    {
        File("p.bin", "payload");
        var scenario = File($"both-{first}.json", $$"""{"scenarios":[{"name":"a","format":"echo",{{fields}}}]}""");

        var result = await CliProcess.RunAsync(Echo("--scenario", scenario, "--sessions", "1"));

        AssertUsage(result, $"--scenario '{scenario}', scenario 1 ('a'): \"{first}\" and \"{first}File\" are both given; give at most one.");
    }

    /// <summary>The default is no warm-up, and reports say <c>warmup: "0 s"</c>: zero may be given too.</summary>
    [TestCase("0s")]
    [TestCase("0")]
    [TestCase("0ms")]
    public async Task A_warmup_of_zero_is_no_warmup(string warmup)
    {
        var result = await CliProcess.RunAsync(Echo("--rows", "10", "--sessions", "2", "--warmup", warmup, "--json"));

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.EqualTo(2), result.Stdout);
    }

    [Test]
    public async Task A_warmup_between_zero_and_1_ms_is_refused_saying_0_means_none()
    {
        var result = await CliProcess.RunAsync(Echo("--rows", "10", "--sessions", "1", "--warmup", "0.5ms"));

        AssertUsage(result, "--warmup '0.5ms' is shorter than 1 ms; give 0 for none or a duration of at least 1 ms");
    }

    [TestCase(new[] { "--sessions", "99999999999999999999" }, "--sessions: '99999999999999999999' is out of range; give a whole number from 1 to 9223372036854775807.")]
    [TestCase(new[] { "--sessions", "1", "--concurrency", "99999999999" }, "--concurrency: '99999999999' is out of range; give a whole number from 0 to 100000.")]
    [TestCase(new[] { "--sessions", "1", "--concurrency", "100001" }, "--concurrency: '100001' is out of range; give a whole number from 0 to 100000.")]
    [TestCase(new[] { "--sessions", "1", "--rate", "-5" }, "--rate -5 is not a rate; give sessions per second above 0 (for example 50 or 0.5; 0 only with --stages).")]
    [TestCase(new[] { "--duration", "1 s" }, "--duration '1 s' has a space between the number and its unit; write them together, for example 1s")]
    [TestCase(new[] { "--duration", "1 m30s" }, "write them together, for example 1m30s")]
    [TestCase(new[] { "--duration", "1s", "--duration", "2s" }, "--duration is given 2 times ('1s', '2s'); give it once.")]
    public async Task A_refused_value_is_told_with_the_documented_range_or_form(string[] arguments, string expected)
    {
        var result = await CliProcess.RunAsync(Echo(["--rows", "10", .. arguments]));

        AssertUsage(result, expected);
        Assert.That(result.Stderr, Does.Not.Contain("expects a single argument").And.Not.Contain("-2147483648").And.Not.Contain("zero or more"), result.ToString());
    }

    [Test]
    public async Task Merge_without_a_result_names_what_to_give_not_the_parser_s_words()
    {
        var result = await CliProcess.RunAsync("load", "merge");

        AssertUsage(result, "engine-client load merge: no result given; give the result.json files to merge");
        Assert.That(result.Stderr, Does.Not.Contain("Required argument"), result.ToString());
    }

    [TestCase("text.arrow", "hello, not Arrow\n", "it does not start with ARROW1 and does not read as an Arrow IPC stream")]
    [TestCase("damaged.arrow", "ARROW1 and then nothing of an Arrow file", "it starts with ARROW1 but its content is damaged")]
    public async Task An_input_that_is_not_arrow_is_named_as_such_with_what_to_give(string name, string content, string why)
    {
        var path = File(name, content);

        var result = await CliProcess.RunAsync(Echo("--input", path, "--sessions", "1"));

        AssertUsage(result, $"--input '{path}' is not an Arrow IPC file or stream ({why}); give a file written by an Arrow IPC writer, in the file format (.arrow) or the stream format (.arrows).");
        Assert.That(result.Stderr, Does.Not.Contain("Unexpectedly").And.Not.Contain("Invalid magic"), result.ToString());
    }

    [Test]
    public async Task The_help_of_max_in_flight_says_that_extra_starts_wait_and_run_behind_schedule()
    {
        var result = await CliProcess.RunAsync("load", "--help");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var line = string.Join(" ", result.Stdout.Split('\n').SkipWhile(l => !l.TrimStart().StartsWith("--max-in-flight", StringComparison.Ordinal)).Take(3));
        Assert.That(line, Does.Contain("waits for one to end and runs behind schedule").And.Not.Contain("beyond it are counted as not started"), result.Stdout);
    }
}
