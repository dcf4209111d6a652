using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using static Engine.Client.Tests.Fleets.FleetTestSupport;

namespace Engine.Client.Tests.Fleets;

/// <summary>Placement on real reference workers (TCP loopback and Unix sockets): load, limits, affinity, draining.</summary>
public sealed class FleetPlacementTests
{
    private readonly List<ReferenceWorkerProcess> _workers = [];

    [TearDown]
    public async Task StopWorkers()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        _workers.Clear();
    }

    private async Task<ReferenceWorkerProcess> StartAsync(bool tcp = true)
    {
        var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = tcp });
        _workers.Add(worker);
        return worker;
    }

    [Test]
    public async Task Sessions_run_on_every_worker_of_a_static_list_over_TCP_and_Unix_sockets()
    {
        var tcp = await StartAsync();
        var unix = await StartAsync(tcp: false);
        await using var fleet = WorkerFleet.Create([tcp.Address, unix.Address], Options());

        var used = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var session = await fleet.OpenSessionAsync().DefaultTimeout();
            used.Add(session.Worker);
            var outcome = await EchoAsync(session);
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
            Assert.That(outcome.Diagnostics.Attempts, Has.Count.EqualTo(1));
            Assert.That(outcome.Diagnostics.Attempts[0], Is.EqualTo(new SessionAttempt(session.Worker, null)));
        }

        Assert.That(used, Is.EquivalentTo(new[] { tcp.Address, unix.Address }));
        Assert.That(fleet.Workers.Select(w => w.SessionsInFlight), Is.All.EqualTo(0));
    }

    [Test]
    public async Task Least_loaded_placement_counts_the_sessions_other_engines_run_on_a_worker()
    {
        var busy = await StartAsync();
        var idle = await StartAsync();

        // Another engine runs five sessions on the busy worker.
        await using var other = busy.CreateClient();
        var held = new List<HeldSession>();
        for (var i = 0; i < 5; i++)
        {
            held.Add(await HeldSession.StartAsync(await other.OpenSessionAsync(Huge)));
        }

        await using var fleet = WorkerFleet.Create([busy.Address, idle.Address], Options());
        var status = await fleet.HeartbeatAllAsync().DefaultTimeout();
        Assert.That(status.Single(w => w.Address == busy.Address).ReportedLoad, Is.EqualTo(5));

        // Until the idle worker has five of this engine's, it takes every new session.
        var sessions = new List<WorkerSession>();
        for (var i = 0; i < 5; i++)
        {
            sessions.Add(await fleet.OpenSessionAsync().DefaultTimeout());
        }

        Assert.That(sessions.Select(s => s.Worker), Is.All.EqualTo(idle.Address));
        foreach (var session in sessions)
        {
            await session.DisposeAsync();
        }

        foreach (var session in held)
        {
            Assert.That((await session.FinishAsync()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        }
    }

    [Test]
    public async Task A_worker_at_its_limit_takes_no_session_and_a_request_waits_for_room()
    {
        var a = await StartAsync();
        var b = await StartAsync(tcp: false);
        await using var fleet = WorkerFleet.Create([a.Address, b.Address], Options(o => o.MaxSessionsPerWorker = 1));

        var first = await fleet.OpenSessionAsync().DefaultTimeout();
        var second = await fleet.OpenSessionAsync().DefaultTimeout();
        Assert.That(new[] { first.Worker, second.Worker }, Is.EquivalentTo(new[] { a.Address, b.Address }));

        var third = fleet.OpenSessionAsync().AsTask();
        Assert.That(third.IsCompleted, Is.False, "every worker is at its limit");
        await first.DisposeAsync();
        var placed = await third.DefaultTimeout();
        Assert.That(placed.Worker, Is.EqualTo(first.Worker));
        Assert.That((await EchoAsync(placed)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        await second.DisposeAsync();
    }

    [Test]
    public async Task A_worker_that_reports_max_sessions_is_held_to_it()
    {
        var registry = new ScriptRegistry
        {
            Current = Scripts.Echo,
            Manage = _ => Task.FromResult(new WorkerResponse { Heartbeat = new HeartbeatResponse { Metrics = { ["worker_id"] = "limited", ["active_sessions"] = "0", ["max_sessions"] = "1" } } }),
        };
        await using var host = await SocketWorkerHost.StartAsync(registry);
        await using var fleet = WorkerFleet.Create([host.Address.ToString()], Options(o => o.MaxSessionsPerWorker = 10));
        var status = await fleet.HeartbeatAllAsync().DefaultTimeout();
        Assert.That(status.Single().SessionLimit, Is.EqualTo(1));

        var first = await fleet.OpenSessionAsync().DefaultTimeout();
        var second = fleet.OpenSessionAsync().AsTask();
        Assert.That(second.IsCompleted, Is.False, "the worker takes one session at a time");
        Assert.That((await EchoAsync(first)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That((await EchoAsync(await second.DefaultTimeout())).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task The_same_affinity_key_lands_on_the_same_worker_across_1000_sessions()
    {
        var workers = new[] { await StartAsync(), await StartAsync(), await StartAsync(tcp: false) };
        await using var fleet = WorkerFleet.Create(workers.Select(w => w.Address), Options());
        var home = fleet.HomeOf("digest-of-a-udf");

        for (var i = 0; i < 1000; i++)
        {
            var session = await fleet.OpenSessionAsync(null, "digest-of-a-udf").DefaultTimeout();
            Assert.That(session.Worker, Is.EqualTo(home));
            if (i % 100 == 0)
            {
                // Some of them run for real.
                Assert.That((await EchoAsync(session)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            }
            else
            {
                await session.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task A_hot_key_spills_to_the_next_workers_within_the_load_bound()
    {
        var workers = new[] { await StartAsync(), await StartAsync(), await StartAsync(), await StartAsync(tcp: false) };
        await using var fleet = WorkerFleet.Create(workers.Select(w => w.Address), Options(o => o.AffinityLoadFactor = 1.25));
        var home = fleet.HomeOf("hot");

        var sessions = new List<WorkerSession>();
        for (var i = 1; i <= 40; i++)
        {
            sessions.Add(await fleet.OpenSessionAsync(null, "hot").DefaultTimeout());

            // After each placement no worker holds more than ceil(1.25 * sessions / workers).
            var bound = (int)Math.Ceiling(1.25 * i / 4);
            Assert.That(fleet.Workers.Max(w => w.SessionsInFlight), Is.LessThanOrEqualTo(bound), $"after {i} sessions");
        }

        Assert.That(fleet.Workers.Single(w => w.Address == home).SessionsInFlight, Is.EqualTo(13), "the home worker is filled to the bound first");
        Assert.That(fleet.Workers.Select(w => w.SessionsInFlight), Is.All.GreaterThan(0));
        foreach (var session in sessions)
        {
            await session.DisposeAsync();
        }
    }

    [Test]
    public async Task A_worker_that_leaves_discovery_drains_its_running_session_and_then_leaves_the_fleet()
    {
        var leaving = await StartAsync();
        var staying = await StartAsync(tcp: false);
        var resolver = new ListResolver();
        resolver.Set(leaving.Address, staying.Address);
        await using var fleet = WorkerFleet.Create(resolver, Options());

        var running = await HeldSession.StartAsync(await fleet.OpenSessionAsync(null, KeyFor(fleet, leaving.Address)).DefaultTimeout());
        Assert.That(running.Session.Worker, Is.EqualTo(leaving.Address));

        var gone = WaitForWorker(fleet, w => w.Address == leaving.Address && w.State == FleetWorkerState.Draining && w.SessionsInFlight == 0);
        resolver.Set(staying.Address);
        Assert.That(fleet.Workers.Single(w => w.Address == leaving.Address).State, Is.EqualTo(FleetWorkerState.Draining));

        // New sessions, even keyed to it, go elsewhere; the running one finishes.
        var next = await fleet.OpenSessionAsync(null, KeyFor(fleet, staying.Address, "other")).DefaultTimeout();
        Assert.That(next.Worker, Is.EqualTo(staying.Address));
        for (var i = 0; i < 10; i++)
        {
            var session = await fleet.OpenSessionAsync().DefaultTimeout();
            Assert.That(session.Worker, Is.EqualTo(staying.Address));
            await session.DisposeAsync();
        }

        Assert.That((await EchoAsync(next)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        var outcome = await running.FinishAsync();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        await gone.DefaultTimeout();
        Assert.That(fleet.Workers.Select(w => w.Address), Is.EqualTo(new[] { staying.Address }));
    }

    [Test]
    public async Task A_fleet_with_no_worker_says_so()
    {
        var resolver = new ListResolver();
        await using var fleet = WorkerFleet.Create(resolver, Options());
        var error = Assert.ThrowsAsync<WorkerUnreachableException>(async () => await fleet.OpenSessionAsync().DefaultTimeout());
        Assert.That(error!.Message, Does.Contain("has no worker"));
    }
}
