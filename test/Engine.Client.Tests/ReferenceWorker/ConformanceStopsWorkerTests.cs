using Engine.Client.Conformance;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>The opt-in checks that shut the worker down: each on its own worker, which must then exit cleanly.</summary>
[TestFixture]
public sealed class ConformanceStopsWorkerTests
{
    [TestCase("C18")]
    [TestCase("shutdown-cancels-sessions")]
    public async Task Check_passes_and_the_worker_exits_with_code_0(string id)
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var conformance = new WorkerConformance(worker.Channel.CreateCallInvoker());

        var result = await conformance.RunCheckAsync(id).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Passed), $"{result} {worker.Describe()}");
        Assert.That(await worker.WaitForExitAsync(TimeSpan.FromSeconds(15)), Is.EqualTo(0), worker.Describe());
        Assert.That(File.Exists(worker.SocketPath), Is.False, "the socket file is removed on exit");
    }

    [Test]
    public async Task The_default_run_leaves_out_the_checks_that_stop_the_worker()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var conformance = new WorkerConformance(worker.Channel.CreateCallInvoker());

        var results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(results.Select(r => r.Check.Id), Does.Not.Contain("C18").And.Not.Contain("shutdown-cancels-sessions"));
        var heartbeat = await worker.CreateClient().HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(worker.Id), "the worker still runs after the default set");
    }
}
