using System.Text.Json;
using Engine.Client.Conformance;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client conformance</c> against the reference worker.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliConformanceTests
{
    private ReferenceWorkerProcess _worker = null!;

    [OneTimeSetUp]
    public async Task StartWorker() => _worker = await ReferenceWorkerProcess.StartAsync();

    [OneTimeTearDown]
    public async Task StopWorker() => await _worker.DisposeAsync();

    [Test]
    public async Task Every_check_passes_with_a_line_each_and_exit_0()
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", _worker.Address);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var ids = WorkerConformance.DefaultCheckIds;
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Length.EqualTo(ids.Count + 1));
            for (var i = 0; i < ids.Count; i++)
            {
                Assert.That(lines[i], Does.StartWith($"ok   {ids[i]}  "));
            }

            Assert.That(lines[^1], Is.EqualTo($"{ids.Count} passed, 0 failed, 0 skipped"));
        });
    }

    [Test]
    public async Task Chosen_checks_in_json()
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", _worker.Address, "--check", "C17", "--check", "c1", "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var checks = json.RootElement.GetProperty("checks");
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("passed").GetInt32(), Is.EqualTo(2));
            Assert.That(json.RootElement.GetProperty("failed").GetInt32(), Is.EqualTo(0));
            Assert.That(checks.EnumerateArray().Select(c => c.GetProperty("id").GetString()), Is.EqualTo(new[] { "C1", "C17" }));
            Assert.That(checks.EnumerateArray().Select(c => c.GetProperty("status").GetString()), Is.All.EqualTo("passed"));
            Assert.That(checks[0].EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "id", "description", "status", "message", "durationSeconds" }));
        });
    }

    [Test]
    public async Task A_check_that_fails_exits_1_and_says_why()
    {
        // 1 ms per wait: the first check's connection alone takes longer.
        var result = await CliProcess.RunAsync("conformance", "--worker", _worker.Address, "--check", "C1", "--timeout", "1ms");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stdout, Does.StartWith("FAIL C1  "));
        Assert.That(result.Stdout, Does.Contain("0 passed, 1 failed"));
    }

    [Test]
    public async Task An_unreachable_worker_exits_3_with_one_line()
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", CliTestFiles.UnreachableAddress);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.StderrLines, Has.Count.EqualTo(1));
        Assert.That(result.Stderr, Does.Contain("did not answer a heartbeat"));
    }
}
