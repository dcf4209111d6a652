using System.Runtime.Versioning;
using Engine.Client.HealthChecks;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.Workers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Engine.Client.Tests.DependencyInjection;

/// <summary>Engine.Client.HealthChecks: a pool's verdict from its workers, a client's from a heartbeat, in a real host.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class HealthCheckTests : TempDirFixture
{
    [Test]
    public async Task A_pool_is_healthy_idle_or_serving_and_unhealthy_once_closed_and_a_client_is_healthy_while_its_worker_answers()
    {
        var spec = HostedWorkers.WriteSpecification(Dir);
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(HostedWorkers.PoolConfiguration("udf", spec, Dir.Path, startWithHost: false));
        builder.Services.AddWorkerPool("udf").BindConfiguration("EngineClient:Pools:udf");
        builder.Services.AddWorkerClient("gone").Configure(o => o.Address = $"unix://{Dir.File("nobody.sock")}");
        builder.Services.AddHealthChecks()
            .AddWorkerPoolCheck("udf")
            .AddWorkerClientCheck("gone", timeout: TimeSpan.FromSeconds(5));

        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        var empty = await health.CheckHealthAsync().DefaultTimeout();
        Assert.That(empty.Entries["engine-client-pool-udf"].Status, Is.EqualTo(HealthStatus.Healthy), "no worker yet: they launch on demand");
        Assert.That(empty.Entries["engine-client-worker-gone"].Status, Is.EqualTo(HealthStatus.Unhealthy), "nothing listens on the client's socket");

        var pool = host.Services.GetRequiredKeyedService<WorkerPool>("udf");
        var worker = (await pool.StartWorkersAsync(1).DefaultTimeout())[0];
        var running = await health.CheckHealthAsync().DefaultTimeout();
        var entry = running.Entries["engine-client-pool-udf"];
        Assert.That(entry.Status, Is.EqualTo(HealthStatus.Healthy), entry.Description);
        Assert.That(entry.Data["idle"], Is.EqualTo(1));

        await pool.DisposeAsync();
        var closed = await health.CheckHealthAsync().DefaultTimeout();
        Assert.That(closed.Entries["engine-client-pool-udf"].Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(Processes.IsAlive(worker.ProcessId), Is.False);
        await host.StopAsync().DefaultTimeout();
    }

    [Test]
    public async Task A_client_check_is_healthy_while_its_worker_answers_heartbeats()
    {
        await using var pool = WorkerPool.Create(
            WorkerSpecification.Load(HostedWorkers.WriteSpecification(Dir)),
            new WorkerPoolOptions { Process = new WorkerProcessOptions { SocketDirectory = Dir.Path } });
        var worker = (await pool.StartWorkersAsync(1).DefaultTimeout())[0];
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddWorkerClient().Configure(o => o.Address = worker.Address.ToString());
        builder.Services.AddHealthChecks().AddWorkerClientCheck();
        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().DefaultTimeout();
        var entry = report.Entries["engine-client-worker-default"];
        Assert.That(entry.Status, Is.EqualTo(HealthStatus.Healthy), entry.Description);
        Assert.That(entry.Data, Does.ContainKey("round_trip_ms"));
        await host.StopAsync().DefaultTimeout();
    }

    private static PooledWorkerInfo Worker(PooledWorkerState state, int missed = 0) => new()
    {
        Id = "w",
        ProcessId = 1,
        Address = WorkerAddress.Parse("unix:///tmp/w.sock"),
        State = state,
        MissedHeartbeats = missed,
    };

    [Test]
    public void Missed_heartbeats_or_some_lost_workers_degrade_a_pool_and_every_worker_lost_fails_it()
    {
        HealthStatus Verdict(params PooledWorkerInfo[] workers) =>
            WorkerPoolHealthCheck.Evaluate("udf", closed: false, workers, HealthStatus.Unhealthy).Status;

        Assert.Multiple(() =>
        {
            Assert.That(Verdict(), Is.EqualTo(HealthStatus.Healthy));
            Assert.That(Verdict(Worker(PooledWorkerState.Idle), Worker(PooledWorkerState.Busy)), Is.EqualTo(HealthStatus.Healthy));
            Assert.That(Verdict(Worker(PooledWorkerState.Busy, missed: 1)), Is.EqualTo(HealthStatus.Degraded));
            Assert.That(Verdict(Worker(PooledWorkerState.Idle), Worker(PooledWorkerState.Unhealthy)), Is.EqualTo(HealthStatus.Degraded));
            Assert.That(Verdict(Worker(PooledWorkerState.Unhealthy), Worker(PooledWorkerState.Stopping)), Is.EqualTo(HealthStatus.Unhealthy));
            Assert.That(Verdict(Worker(PooledWorkerState.Stopping)), Is.EqualTo(HealthStatus.Healthy), "a worker the pool stops itself is no fault");
            Assert.That(
                WorkerPoolHealthCheck.Evaluate("udf", closed: true, [], HealthStatus.Degraded).Status,
                Is.EqualTo(HealthStatus.Degraded),
                "the registration's failure status is what a failing pool reports");
        });
    }
}
