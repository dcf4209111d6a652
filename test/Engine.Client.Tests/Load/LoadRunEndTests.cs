using Engine.Client.Load;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The run's end against what is still running on its other threads: a heartbeat probe cut short
/// by the end may fail in any way, and the run still returns its result.
/// </summary>
[TestFixture]
public sealed class LoadRunEndTests
{
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(3);

    [Test]
    public async Task A_heartbeat_probe_that_fails_as_the_run_ends_does_not_fail_the_run()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions { Model = LoadModelKind.Closed, Target = 1, Duration = TimeSpan.FromMinutes(10), HeartbeatInterval = TimeSpan.FromMilliseconds(10), Seed = 1 };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty)
        {
            Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 10, batchRows: null, batches: 1),
        });
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.Heartbeats.Add(new LoadHeartbeatProbe(worker.Address, async token =>
        {
            entered.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
            }

            // What a Manage call whose connection the run's end tore down throws: not a cancellation.
            throw new IOException("the connection was closed as the run ended");
        }));

        using var stop = new CancellationTokenSource();
        var run = LoadTest.RunAsync(client, options, stop.Token);
        await Task.WhenAny(entered.Task, run).WaitAsync(RunBound);
        Assert.That(run.IsCompleted, Is.False, () => $"the run ended before its first heartbeat: {run.Exception}");
        await stop.CancelAsync();
        var result = await run.WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Interrupted, Is.True);
            Assert.That(result.Errors.Where(e => e.Outcome == "heartbeatFailed"), Is.Empty, "a probe cut short by the end is not a failed heartbeat");
        });
    }
}
