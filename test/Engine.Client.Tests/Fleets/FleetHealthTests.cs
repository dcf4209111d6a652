using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Microsoft.Extensions.Time.Testing;
using static Engine.Client.Tests.Fleets.FleetTestSupport;

namespace Engine.Client.Tests.Fleets;

/// <summary>Health of a fleet against real processes: kill -9 under load, ejection, readmission, restarts, retry before commit.</summary>
public sealed class FleetHealthTests : OwnedWorkersFixture
{
    private static string DeadAddress() => "http://127.0.0.1:" + ReferenceWorkerProcess.FreeTcpPort().ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Test]
    public async Task Kill_9_under_load_retries_uncommitted_sessions_fails_committed_ones_naming_the_worker_ejects_and_readmits_the_restarted_worker()
    {
        var victim = await StartWorkerAsync();
        var others = new[] { await StartWorkerAsync(), await StartWorkerAsync(tcp: false) };

        // Heartbeats every 5 minutes: an ejection within the test can only come from the sessions' failures.
        await using var fleet = WorkerFleet.Create([victim.Address, .. others.Select(o => o.Address)], Options(o =>
        {
            o.FailuresToEject = 2;
            o.BaseEjectionTime = TimeSpan.FromSeconds(1);
            o.MaxEjectionTime = TimeSpan.FromSeconds(2);
            o.AffinityLoadFactor = 100;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
        }));
        await fleet.HeartbeatAllAsync().DefaultTimeout();
        var firstIdentity = fleet.Workers.Single(w => w.Address == victim.Address).Identity;

        // Load: sessions in their data phase on the victim and elsewhere, and sessions opened on the victim, not yet initialized.
        var onVictim = new List<HeldSession>();
        for (var i = 0; i < 3; i++)
        {
            onVictim.Add(await HeldSession.StartAsync(await fleet.OpenSessionAsync(null, KeyFor(fleet, victim.Address, "committed" + i)).DefaultTimeout()));
        }

        var elsewhere = new List<HeldSession>();
        foreach (var other in others)
        {
            elsewhere.Add(await HeldSession.StartAsync(await fleet.OpenSessionAsync(null, KeyFor(fleet, other.Address, "busy")).DefaultTimeout()));
        }

        var uncommitted = new List<WorkerSession>();
        for (var i = 0; i < 3; i++)
        {
            var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, victim.Address, "fresh" + i)).DefaultTimeout();
            Assert.That(session.Worker, Is.EqualTo(victim.Address));
            uncommitted.Add(session);
        }

        var ejected = WaitForWorker(fleet, w => w.Address == victim.Address && w.State == FleetWorkerState.Ejected);
        victim.Signal(ReferenceWorkerProcess.SigKill);
        await victim.WaitForExitAsync(TaskTimeouts.Default);

        // Committed sessions end TransportFailed, naming the worker; never retried.
        foreach (var held in onVictim)
        {
            var error = await held.FailureAsync();
            Assert.That(error, Is.InstanceOf<WorkerTransportException>());
            Assert.That(error.Message, Does.Contain(victim.Address));
            var outcome = await held.Session.CloseAsync().DefaultTimeout();
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
            Assert.That(outcome.Diagnostics.Attempts, Has.Count.EqualTo(1));
        }

        // Ejected by those failures, before any heartbeat was due.
        var info = await ejected.DefaultTimeout();
        Assert.That(info.Ejections, Is.EqualTo(1));

        // Sessions not yet committed succeed elsewhere; their outcome says where they went.
        foreach (var session in uncommitted)
        {
            var outcome = await EchoAsync(session);
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
            var attempts = outcome.Diagnostics.Attempts;
            Assert.That(attempts, Has.Count.EqualTo(2));
            Assert.That(attempts[0].Worker, Is.EqualTo(victim.Address));
            Assert.That(attempts[0].Failure, Does.Contain("Unavailable"));
            Assert.That(attempts[1].Worker, Is.Not.EqualTo(victim.Address));
            Assert.That(attempts[1].Failure, Is.Null);
            Assert.That(outcome.Diagnostics.Worker, Is.EqualTo(attempts[1].Worker));
        }

        foreach (var held in elsewhere)
        {
            Assert.That((await held.FinishAsync()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        }

        // While ejected, keyed sessions go to another worker.
        var away = await fleet.OpenSessionAsync(null, KeyFor(fleet, victim.Address, "during")).DefaultTimeout();
        Assert.That(away.Worker, Is.Not.EqualTo(victim.Address));
        Assert.That((await EchoAsync(away)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));

        // Restarted at the same address: probed, readmitted as a new incarnation.
        var readmitted = WaitForWorker(fleet, w => w.Address == victim.Address && w.State == FleetWorkerState.Healthy && w.Incarnations == 2);
        var restarted = await StartWorkerAsync(port: victim.Port);
        Assert.That(restarted.Address, Is.EqualTo(victim.Address));
        var back = await readmitted.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(back.Identity, Is.EqualTo(restarted.Id).And.Not.EqualTo(firstIdentity));

        var home = await fleet.OpenSessionAsync(null, KeyFor(fleet, victim.Address, "after")).DefaultTimeout();
        Assert.That(home.Worker, Is.EqualTo(victim.Address));
        Assert.That((await EchoAsync(home)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task A_worker_that_restarts_under_a_live_stream_fails_its_committed_sessions_at_once_saying_it_restarted()
    {
        var identity = "incarnation-1";
        var registry = new ScriptRegistry
        {
            Current = Scripts.Echo,
            Manage = _ => Task.FromResult(new WorkerResponse { Heartbeat = new HeartbeatResponse { Metrics = { ["worker_id"] = Volatile.Read(ref identity), ["active_sessions"] = "0" } } }),
        };
        var host = await SocketWorkerHost.StartAsync(registry);
        Own(host);
        await using var fleet = WorkerFleet.Create([host.Address.ToString()], Options());
        await fleet.HeartbeatAllAsync().DefaultTimeout();

        await using var held = await HeldSession.StartAsync(await fleet.OpenSessionAsync().DefaultTimeout());
        var restarted = WaitForWorker(fleet, w => w.Incarnations == 2);
        Volatile.Write(ref identity, "incarnation-2");
        await fleet.HeartbeatAllAsync().DefaultTimeout();
        await restarted.DefaultTimeout();

        // The stream itself is still open: only the heartbeat tells, and the session ends now, not by a timeout (they are minutes).
        var error = await held.FailureAsync();
        Assert.That(error, Is.InstanceOf<WorkerTransportException>());
        Assert.That(((WorkerTransportException)error).Reason, Is.EqualTo(TransportFailureReason.WorkerLost));
        Assert.That(error.Message, Does.Contain("restarted").And.Contain("incarnation-1").And.Contain("incarnation-2").And.Contain(host.Address.ToString()));
    }

    [Test]
    public async Task No_more_than_the_configured_share_of_the_fleet_is_ejected()
    {
        await using var fleet = WorkerFleet.Create([DeadAddress(), DeadAddress(), DeadAddress(), DeadAddress()], Options(o =>
        {
            o.FailuresToEject = 1;
            o.MaxEjectedShare = 0.5;
            o.HeartbeatTimeout = TimeSpan.FromSeconds(10);
        }));
        for (var i = 0; i < 3; i++)
        {
            await fleet.HeartbeatAllAsync().DefaultTimeout();
        }

        var workers = fleet.Workers;
        Assert.That(workers.Count(w => w.State == FleetWorkerState.Ejected), Is.EqualTo(2));
        Assert.That(workers.Where(w => w.State == FleetWorkerState.Healthy).Select(w => w.LastFailure), Is.All.Contains("missed a heartbeat"));
    }

    [Test]
    public async Task An_uncommitted_session_is_retried_on_another_worker_when_the_connection_is_refused()
    {
        var dead = DeadAddress();
        var live = await StartWorkerAsync();
        await using var fleet = WorkerFleet.Create([dead, live.Address], Options(o => o.RetryBaseDelay = TimeSpan.FromMilliseconds(10)));
        var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, dead)).DefaultTimeout();
        Assert.That(session.Worker, Is.EqualTo(dead));

        var outcome = await EchoAsync(session);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        Assert.That(session.Worker, Is.EqualTo(live.Address));
        Assert.That(outcome.Diagnostics.Attempts.Select(a => a.Worker), Is.EqualTo(new[] { dead, live.Address }));
        Assert.That(outcome.Diagnostics.Attempts[0].Failure, Does.Contain("Unavailable"));
    }

    [Test]
    public async Task An_uncommitted_session_is_retried_on_another_worker_when_its_socket_file_is_missing()
    {
        // A worker not (yet) listening on its Unix socket: unreachable, as a refused TCP port is.
        var dead = $"unix:///tmp/ec-missing-{Guid.NewGuid():N}.sock";
        var live = await StartWorkerAsync();
        await using var fleet = WorkerFleet.Create([dead, live.Address], Options(o => o.RetryBaseDelay = TimeSpan.FromMilliseconds(10)));
        var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, dead)).DefaultTimeout();
        Assert.That(session.Worker, Is.EqualTo(dead));

        var outcome = await EchoAsync(session);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        Assert.That(session.Worker, Is.EqualTo(live.Address));
        Assert.That(outcome.Diagnostics.Attempts.Select(a => a.Worker), Is.EqualTo(new[] { dead, live.Address }));
        Assert.That(outcome.Diagnostics.Attempts[0].Failure, Does.Contain("Unavailable").And.Contain("no socket file exists"));
    }

    [Test]
    public async Task With_one_attempt_a_refused_connection_fails_the_session()
    {
        var dead = DeadAddress();
        var live = await StartWorkerAsync();
        await using var fleet = WorkerFleet.Create([dead, live.Address], Options(o => o.MaxAttempts = 1));
        await using var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, dead)).DefaultTimeout();

        Assert.ThrowsAsync<WorkerTransportException>(async () => await session.InitAsync(new SessionInit("x"u8.ToArray(), "echo")).DefaultTimeout());
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Diagnostics.Attempts.Select(a => a.Worker), Is.EqualTo(new[] { dead }));
    }

    [Test]
    public async Task An_uncommitted_session_is_retried_on_another_worker_when_its_worker_is_shutting_down()
    {
        var stopping = await StartWorkerAsync();
        var live = await StartWorkerAsync(tcp: false);

        // A session of another engine keeps the stopping worker up while it refuses new streams.
        await using var other = stopping.CreateClient();
        var keeping = await HeldSession.StartAsync(await other.OpenSessionAsync(Huge));
        await other.ShutdownAsync("rolling update").DefaultTimeout();

        await using var fleet = WorkerFleet.Create([stopping.Address, live.Address], Options(o => o.RetryBaseDelay = TimeSpan.FromMilliseconds(10)));
        var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, stopping.Address)).DefaultTimeout();
        var outcome = await EchoAsync(session);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        Assert.That(outcome.Diagnostics.Attempts.Select(a => a.Worker), Is.EqualTo(new[] { stopping.Address, live.Address }));
        Assert.That(outcome.Diagnostics.Attempts[0].Failure, Does.Contain("shutting down"));
        Assert.That((await keeping.FinishAsync()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task An_uncommitted_session_whose_worker_does_not_answer_Init_is_retried_after_the_attempt_timeout()
    {
        var registry = new ScriptRegistry
        {
            Current = async stream => await stream.IgnoreEverythingAsync(),
            Manage = _ => Task.FromResult(new WorkerResponse { Heartbeat = new HeartbeatResponse { Metrics = { ["worker_id"] = "silent" } } }),
        };
        var silent = await SocketWorkerHost.StartAsync(registry, tcp: true);
        Own(silent);
        var live = await StartWorkerAsync();
        await using var fleet = WorkerFleet.Create([silent.Address.ToString(), live.Address], Options(o => o.AttemptTimeout = TimeSpan.FromSeconds(1)));
        var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, silent.Address.ToString())).DefaultTimeout();

        var outcome = await EchoAsync(session);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        Assert.That(outcome.Diagnostics.Attempts.Select(a => a.Worker), Is.EqualTo(new[] { silent.Address.ToString(), live.Address }));
        Assert.That(outcome.Diagnostics.Attempts[0].Failure, Does.Contain("no response within 1 s"));

        // The silent worker got the Init (and its payload), then the stream was abandoned.
        var call = await registry.NextCallAsync();
        Assert.That(call.Received.Any(ScriptedStream.IsInit));
        await call.Aborted.DefaultTimeout();
    }

    [Test]
    public async Task A_failed_probe_ejects_again_even_when_its_timer_fired_before_the_ejection_deadline()
    {
        // Real timers tick in milliseconds while the ejection deadline is high-resolution: the probe
        // may run a little before the deadline. A failed probe must eject again (and schedule the
        // next probe) whatever the clock says, or the worker stays ejected, never probed again.
        var time = new EarlyTimers();
        await using var fleet = WorkerFleet.Create([DeadAddress()], Options(o =>
        {
            o.TimeProvider = time;
            o.FailuresToEject = 1;
            o.MaxEjectedShare = 1.0;
            o.BaseEjectionTime = TimeSpan.FromSeconds(10);
            o.MaxEjectionTime = TimeSpan.FromMinutes(1);
            o.HeartbeatInterval = TimeSpan.FromHours(1);
        }));
        var first = WaitForWorker(fleet, w => w.State == FleetWorkerState.Ejected && w.Ejections == 1);
        await fleet.HeartbeatAllAsync().DefaultTimeout();
        await first.DefaultTimeout();

        var second = WaitForWorker(fleet, w => w.Ejections == 2);
        time.Advance(TimeSpan.FromSeconds(10) - EarlyTimers.Early);
        var again = await second.DefaultTimeout();
        Assert.That(again.State, Is.EqualTo(FleetWorkerState.Ejected));

        // And the next probe is armed: twice the base time later (minus the early tick) it runs and fails again.
        var third = WaitForWorker(fleet, w => w.Ejections == 3);
        time.Advance(TimeSpan.FromSeconds(20) - EarlyTimers.Early);
        Assert.That((await third.DefaultTimeout()).State, Is.EqualTo(FleetWorkerState.Ejected));
    }

    [Test]
    public async Task An_answered_probe_readmits_even_when_its_timer_fired_before_the_ejection_deadline()
    {
        // The other half of the early probe: an answer must readmit, or the worker stays ejected
        // with no probe left. Nothing listens at the port until the worker is ejected.
        var time = new EarlyTimers();
        var port = ReferenceWorkerProcess.FreeTcpPort();
        var address = "http://127.0.0.1:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var fleet = WorkerFleet.Create([address], Options(o =>
        {
            o.TimeProvider = time;
            o.FailuresToEject = 1;
            o.MaxEjectedShare = 1.0;
            o.BaseEjectionTime = TimeSpan.FromSeconds(10);
            o.HeartbeatInterval = TimeSpan.FromHours(1);
        }));
        var ejected = WaitForWorker(fleet, w => w.State == FleetWorkerState.Ejected);
        await fleet.HeartbeatAllAsync().DefaultTimeout();
        await ejected.DefaultTimeout();

        await StartWorkerAsync(port: port);
        var readmitted = WaitForWorker(fleet, w => w.State == FleetWorkerState.Healthy);
        time.Advance(TimeSpan.FromSeconds(10) - EarlyTimers.Early);
        Assert.That((await readmitted.DefaultTimeout()).Address, Is.EqualTo(address));
    }

    /// <summary>A fake clock whose timers fire a millisecond before they are due, as millisecond timers may against a high-resolution deadline.</summary>
    private sealed class EarlyTimers : FakeTimeProvider
    {
        public static readonly TimeSpan Early = TimeSpan.FromMilliseconds(1);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            base.CreateTimer(callback, state, dueTime > Early ? dueTime - Early : dueTime, period);
    }
}
