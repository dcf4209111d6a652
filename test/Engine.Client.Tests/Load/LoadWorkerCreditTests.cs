using Engine.Client.Load;
using Engine.Client.Tests.ReferenceWorker;
using static Engine.Client.Tests.Fleets.FleetTestSupport;

namespace Engine.Client.Tests.Load;

/// <summary>A session's figures go to the worker it ran on: in a fleet, the worker of its last attempt.</summary>
[TestFixture]
public sealed class LoadWorkerCreditTests
{
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(3);

    /// <summary>
    /// A fleet of a live worker and an address nothing listens on, sessions placed in turn: a
    /// session placed on the dead address fails to connect before its first DataRequest and is
    /// retried on the live worker, which runs it; the live worker is credited with it.
    /// </summary>
    [Test]
    public async Task A_fleet_session_retried_on_another_worker_is_credited_to_the_worker_it_ran_on()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        const string dead = "http://127.0.0.1:1";
        await using var fleet = WorkerFleet.Create([dead, worker.Address], Options(o => o.Placement = FleetPlacement.RoundRobin));

        // One session at a time: of the first two, one is placed on the dead address.
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Closed,
            Target = 1,
            Sessions = 4,
            Warmup = TimeSpan.Zero,
            SessionOptions = Huge,
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());

        var result = await LoadTest.RunAsync(fleet, options).WaitAsync(RunBound);
        var figures = string.Join("; ", result.Workers.Select(w => $"{w.Worker}: sessions {w.Sessions}, finished {w.Finished}, failed {w.Failed}"));

        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Finished, Is.EqualTo(4), figures);
            Assert.That(result.Workers.Where(w => w.Worker == dead && w.Sessions > 0), Is.Empty, figures);
            Assert.That(result.Workers.Single(w => w.Worker == worker.Address).Finished, Is.EqualTo(4), figures);
        });
    }
}
