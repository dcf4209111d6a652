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
}
