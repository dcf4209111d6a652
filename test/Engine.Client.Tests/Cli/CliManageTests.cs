using System.Text.Json;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client heartbeat</c> and <c>engine-client shutdown</c> against the reference worker.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliManageTests : ReferenceWorkerFixture
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Heartbeat_prints_the_round_trip_and_the_worker_metrics()
    {
        var result = await CliProcess.RunAsync("heartbeat", "--worker", Worker.Address);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stdout, Does.Match($"heartbeat answered +by {Worker.Address} in [0-9.]+ ms"));
            Assert.That(result.Stdout, Does.Match($"worker_id +{Worker.Id}"));
            Assert.That(result.Stdout, Does.Match($"pid +{Worker.Process.Id}"));
        });
    }

    [Test]
    public async Task Heartbeat_json_has_the_round_trip_and_every_metric()
    {
        var result = await CliProcess.RunAsync("heartbeat", "--worker", Worker.Address, "--json", "--timeout", "5s");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "worker", "ok", "exitCode", "roundTripMs", "metrics", "error" }));
            Assert.That(root.GetProperty("worker").GetString(), Is.EqualTo(Worker.Address));
            Assert.That(root.GetProperty("ok").GetBoolean(), Is.True);
            Assert.That(root.GetProperty("exitCode").GetInt32(), Is.EqualTo(0));
            Assert.That(root.GetProperty("roundTripMs").GetDouble(), Is.GreaterThan(0));
            Assert.That(root.GetProperty("metrics").GetProperty("worker_id").GetString(), Is.EqualTo(Worker.Id));
            Assert.That(root.GetProperty("metrics").EnumerateObject().Select(p => p.Value.ValueKind), Is.All.EqualTo(JsonValueKind.String));
            Assert.That(root.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
    }

    [Test]
    public async Task Heartbeat_of_an_unreachable_worker_exits_3()
    {
        var result = await CliProcess.RunAsync("heartbeat", "--worker", CliTestFiles.UnreachableAddress, "--json");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("ok").GetBoolean(), Is.False);
            Assert.That(json.RootElement.GetProperty("roundTripMs").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(json.RootElement.GetProperty("metrics").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("unreachable"));
        });
    }

    [Test]
    public async Task Shutdown_is_answered_and_the_worker_exits()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();

        var result = await CliProcess.RunAsync("shutdown", "--worker", worker.Address, "--reason", "test over", "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "worker", "ok", "exitCode", "roundTripMs", "sessionsSettled", "error" }));
            Assert.That(json.RootElement.GetProperty("ok").GetBoolean(), Is.True);
            Assert.That(json.RootElement.GetProperty("sessionsSettled").GetBoolean(), Is.True);
        });
        Assert.That(await worker.WaitForExitAsync(Bound), Is.EqualTo(0));
    }

    [Test]
    public async Task Shutdown_with_cancel_sessions_cancels_a_running_session()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        await using var run = CliProcess.Start(["run", "--worker", worker.Address, "--format", "fault", "--payload", "slow:60000", "--input", CliTestFiles.SampleFile, "--json", "--no-progress"]);
        await worker.WaitForMetricAsync("batches_in", n => n >= 1, Bound);

        var shutdown = await CliProcess.RunAsync("shutdown", "--worker", worker.Address, "--cancel-sessions");

        Assert.That(shutdown.ExitCode, Is.EqualTo(0), shutdown.ToString());
        Assert.That(shutdown.Stdout, Does.Contain("sessions settled: yes"));
        var result = await run.WaitForExitAsync(Bound);
        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("cancelled"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("kind").GetString(), Is.EqualTo("worker"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("message").GetString(), Does.Contain("worker is shutting down"));
        });
    }
}
