using Engine.Client.HealthChecks;
using Engine.Client.Tests.Fleets;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Engine.Client.Tests.DependencyInjection;

/// <summary>
/// <c>AddWorkerFleetCheck</c>: a fleet's verdict from its workers' states, driven for real (reference
/// workers killed until the fleet ejects them), and the verdict's rules on snapshots.
/// </summary>
public sealed class FleetHealthCheckTests : OwnedWorkersFixture
{
    [Test]
    public async Task A_fleet_is_healthy_with_every_worker_in_degraded_once_one_is_ejected_and_unhealthy_once_all_are_then_closed()
    {
        var workers = new[] { await StartWorkerAsync(), await StartWorkerAsync(), await StartWorkerAsync() };
        var builder = Host.CreateApplicationBuilder();
        var configuration = new Dictionary<string, string?>
        {
            // A heartbeat every 200 ms; the first miss ejects, for long enough that no probe readmits
            // within the test; every worker may be ejected.
            ["EngineClient:Fleets:udf:Fleet:HeartbeatInterval"] = "00:00:00.200",
            ["EngineClient:Fleets:udf:Fleet:HeartbeatTimeout"] = "00:00:30",
            ["EngineClient:Fleets:udf:Fleet:FailuresToEject"] = "1",
            ["EngineClient:Fleets:udf:Fleet:BaseEjectionTime"] = "00:10:00",
            ["EngineClient:Fleets:udf:Fleet:MaxEjectionTime"] = "00:10:00",
            ["EngineClient:Fleets:udf:Fleet:MaxEjectedShare"] = "1",
        };
        for (var i = 0; i < workers.Length; i++)
        {
            configuration[$"EngineClient:Fleets:udf:Addresses:{i}"] = workers[i].Address;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Services.AddWorkerFleet("udf").BindConfiguration("EngineClient:Fleets:udf");
        builder.Services.AddHealthChecks()
            .AddWorkerFleetCheck("udf")
            .AddWorkerFleetCheck("udf", name: "four-wanted", minimumHealthyWorkers: 4);
        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var fleet = host.Services.GetRequiredKeyedService<WorkerFleet>("udf");
        await fleet.HeartbeatAllAsync().DefaultTimeout();

        var all = await health.CheckHealthAsync().DefaultTimeout();
        var entry = all.Entries["engine-client-fleet-udf"];
        Assert.That(entry.Status, Is.EqualTo(HealthStatus.Healthy), entry.Description);
        Assert.That(entry.Data["healthy"], Is.EqualTo(3));
        Assert.That(entry.Data["ejected"], Is.EqualTo(0));
        Assert.That(entry.Data["ejected_workers"], Is.Empty);
        var wanted = all.Entries["four-wanted"];
        Assert.That(wanted.Status, Is.EqualTo(HealthStatus.Degraded), "three workers take sessions, four are wanted");
        Assert.That(wanted.Description, Does.Contain("at least 4 wanted"));

        // One worker killed: its next heartbeat is refused and the fleet ejects it.
        var victim = workers[0];
        var ejected = FleetTestSupport.WaitForWorker(fleet, w => w.Address == victim.Address && w.State == FleetWorkerState.Ejected);
        victim.Signal(ReferenceWorkerProcess.SigKill);
        await victim.WaitForExitAsync(TaskTimeouts.Default);
        await ejected.DefaultTimeout();

        var one = (await health.CheckHealthAsync().DefaultTimeout()).Entries["engine-client-fleet-udf"];
        Assert.That(one.Status, Is.EqualTo(HealthStatus.Degraded), one.Description);
        Assert.That(one.Data["healthy"], Is.EqualTo(2));
        Assert.That(one.Data["ejected"], Is.EqualTo(1));
        Assert.That(one.Data["ejected_workers"], Is.EqualTo(new[] { victim.Address }));
        Assert.That(one.Description, Does.Contain("2 of 3 worker(s) take sessions, 1 ejected"));

        // Every worker killed: each is ejected, and no worker takes sessions.
        var allEjected = workers.Skip(1)
            .Select(w => FleetTestSupport.WaitForWorker(fleet, i => i.Address == w.Address && i.State == FleetWorkerState.Ejected))
            .ToList();
        foreach (var worker in workers.Skip(1))
        {
            worker.Signal(ReferenceWorkerProcess.SigKill);
            await worker.WaitForExitAsync(TaskTimeouts.Default);
        }

        await Task.WhenAll(allEjected).DefaultTimeout();
        var none = (await health.CheckHealthAsync().DefaultTimeout()).Entries["engine-client-fleet-udf"];
        Assert.That(none.Status, Is.EqualTo(HealthStatus.Unhealthy), none.Description);
        Assert.That(none.Data["healthy"], Is.EqualTo(0));
        Assert.That(none.Data["ejected"], Is.EqualTo(3));
        Assert.That(none.Data["ejected_workers"], Is.EquivalentTo(workers.Select(w => w.Address)));
        Assert.That(none.Description, Does.Contain("no worker takes sessions"));

        await fleet.DisposeAsync();
        var closed = (await health.CheckHealthAsync().DefaultTimeout()).Entries["engine-client-fleet-udf"];
        Assert.That(closed.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(closed.Description, Does.Contain("is closed"));
        await host.StopAsync().DefaultTimeout();
    }

    [Test]
    public async Task The_default_fleets_check_is_named_for_it_and_reports_the_registrations_failure_status()
    {
        var worker = await StartWorkerAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddWorkerFleet().Configure(o =>
        {
            o.Addresses.Add(worker.Address);
            o.Fleet.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
            o.Fleet.HeartbeatTimeout = TimeSpan.FromSeconds(30);
            o.Fleet.FailuresToEject = 1;
            o.Fleet.BaseEjectionTime = TimeSpan.FromMinutes(10);
            o.Fleet.MaxEjectionTime = TimeSpan.FromMinutes(10);
        });
        builder.Services.AddHealthChecks().AddWorkerFleetCheck(failureStatus: HealthStatus.Degraded);
        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        // The check creates the fleet on first use.
        var first = (await health.CheckHealthAsync().DefaultTimeout()).Entries["engine-client-fleet-default"];
        Assert.That(first.Status, Is.EqualTo(HealthStatus.Healthy), first.Description);

        var fleet = host.Services.GetRequiredService<WorkerFleet>();
        var ejected = FleetTestSupport.WaitForWorker(fleet, w => w.State == FleetWorkerState.Ejected);
        worker.Signal(ReferenceWorkerProcess.SigKill);
        await worker.WaitForExitAsync(TaskTimeouts.Default);
        await ejected.DefaultTimeout();

        var lost = (await health.CheckHealthAsync().DefaultTimeout()).Entries["engine-client-fleet-default"];
        Assert.That(lost.Status, Is.EqualTo(HealthStatus.Degraded), "the registration's failure status is what a fleet that cannot serve reports");
        Assert.That(lost.Description, Does.Contain("no worker takes sessions"));
        await host.StopAsync().DefaultTimeout();
    }

    [Test]
    public void A_minimum_below_one_is_refused()
    {
        var builder = new ServiceCollection().AddHealthChecks();
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.AddWorkerFleetCheck(minimumHealthyWorkers: 0));
    }

    private static FleetWorkerInfo Worker(FleetWorkerState state, string address = "http://10.0.0.1:7070", int sessions = 0) => new()
    {
        Address = address,
        State = state,
        SessionsInFlight = sessions,
    };

    [Test]
    public void Draining_workers_a_failed_resolution_or_too_few_workers_degrade_a_fleet_and_no_worker_fails_it()
    {
        HealthCheckResult Verdict(int minimum = 1, string? resolveError = null, params FleetWorkerInfo[] workers) =>
            WorkerFleetHealthCheck.Evaluate("udf", closed: false, workers, resolveError, minimum, HealthStatus.Unhealthy);

        Assert.Multiple(() =>
        {
            Assert.That(Verdict(workers: [Worker(FleetWorkerState.Healthy), Worker(FleetWorkerState.Healthy, "http://10.0.0.2:7070")]).Status, Is.EqualTo(HealthStatus.Healthy));
            Assert.That(Verdict(workers: [Worker(FleetWorkerState.Healthy), Worker(FleetWorkerState.Draining, "http://10.0.0.2:7070", sessions: 2)]).Status, Is.EqualTo(HealthStatus.Degraded));
            Assert.That(Verdict(minimum: 2, workers: [Worker(FleetWorkerState.Healthy)]).Status, Is.EqualTo(HealthStatus.Degraded));
            Assert.That(Verdict(resolveError: "SERVFAIL", workers: [Worker(FleetWorkerState.Healthy)]).Status, Is.EqualTo(HealthStatus.Degraded));
            Assert.That(Verdict(workers: [Worker(FleetWorkerState.Draining)]).Status, Is.EqualTo(HealthStatus.Unhealthy));
            Assert.That(Verdict().Status, Is.EqualTo(HealthStatus.Unhealthy), "a fleet that found no worker cannot serve");
            Assert.That(Verdict(resolveError: "NXDOMAIN").Description, Does.Contain("NXDOMAIN"));
            Assert.That(
                WorkerFleetHealthCheck.Evaluate("udf", closed: true, [], null, 1, HealthStatus.Degraded).Status,
                Is.EqualTo(HealthStatus.Degraded),
                "the registration's failure status is what a failing fleet reports");
        });

        var draining = Verdict(workers: [Worker(FleetWorkerState.Healthy, sessions: 1), Worker(FleetWorkerState.Draining, "http://10.0.0.2:7070", sessions: 2)]);
        Assert.That(draining.Data["draining"], Is.EqualTo(1));
        Assert.That(draining.Data["sessions_in_flight"], Is.EqualTo(3));
    }

    [Test]
    public void The_ejected_workers_listed_are_bounded_and_in_address_order()
    {
        var workers = Enumerable.Range(0, 25)
            .Select(i => Worker(FleetWorkerState.Ejected, $"http://10.0.0.{100 - i}:7070"))
            .Append(Worker(FleetWorkerState.Healthy, "http://10.0.1.1:7070"))
            .ToArray();
        var result = WorkerFleetHealthCheck.Evaluate("udf", closed: false, workers, null, 1, HealthStatus.Unhealthy);

        Assert.That(result.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(result.Data["ejected"], Is.EqualTo(25));
        var listed = (string[])result.Data["ejected_workers"];
        Assert.That(listed, Has.Length.EqualTo(WorkerFleetHealthCheck.MaxListedWorkers));
        Assert.That(listed, Is.Ordered.Using((IComparer<string>)StringComparer.Ordinal));
        Assert.That(listed[0], Is.EqualTo("http://10.0.0.100:7070"));
    }
}
