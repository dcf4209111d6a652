using System.Diagnostics.Metrics;
using System.Runtime.Versioning;
using Engine.Client.DependencyInjection;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.Workers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Client.Tests.DependencyInjection;

/// <summary>
/// Engine.Client.DependencyInjection in a real host with the real reference worker: pools and
/// clients bound from configuration, validated at start, named and keyed, the container's logging,
/// clock and meter factory, the hosted start and stop, and synchronous disposal stopping workers.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class DependencyInjectionTests : TempDirFixture
{
    [Test]
    public async Task A_pool_bound_from_configuration_starts_with_the_host_serves_sessions_and_stops_with_it()
    {
        var spec = HostedWorkers.WriteSpecification(Dir);
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(HostedWorkers.PoolConfiguration("udf", spec, Dir.Path, startWithHost: true));
        using var logs = new LogCapture();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.Services.AddWorkerPool("udf").BindConfiguration("EngineClient:Pools:udf");

        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();

        var pool = host.Services.GetRequiredKeyedService<WorkerPool>("udf");
        Assert.That(pool.Name, Is.EqualTo("udf"));
        var workers = pool.Workers;
        Assert.That(workers, Has.Count.EqualTo(1), "WorkersAtStart = 1 launched one worker as the host started");
        var pid = workers[0].ProcessId;
        Assert.That(Processes.IsAlive(pid), Is.True);

        var outcome = await HostedWorkers.EchoAsync(pool);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(pool.Workers.Single().ProcessId, Is.EqualTo(pid), "the started worker served the session");
        Assert.That(logs.Entries.Select(e => e.Category), Has.Member(typeof(WorkerPool).FullName), "the pool logs through the container's ILoggerFactory");

        await host.StopAsync().DefaultTimeout();
        Assert.That(pool.IsClosed, Is.True, "the host's stop closed the pool");
        Assert.That(pool.Workers, Is.Empty);
        Assert.That(Processes.IsAlive(pid), Is.False, "the host's stop stopped the worker");
        Assert.That(Directory.GetDirectories(Dir.Path, "ecw-*"), Is.Empty, "no socket directory is left behind");
    }

    [Test]
    public async Task Invalid_options_fail_the_host_start_naming_each_problem()
    {
        var builder = Host.CreateApplicationBuilder();
        var configuration = HostedWorkers.PoolConfiguration("udf", Dir.File("missing.spec.json"), Dir.Path, startWithHost: false);
        configuration["EngineClient:Pools:udf:Pool:MaxIdleWorkers"] = "-1";
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Services.AddWorkerPool("udf").BindConfiguration("EngineClient:Pools:udf");

        using var host = builder.Build();
        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().DefaultTimeout());
        Assert.That(error!.Message, Does.Contain("MaxIdleWorkers"));
        Assert.That(error.Message, Does.Contain("missing.spec.json"));
        await Task.CompletedTask;
    }

    [Test]
    public async Task Invalid_client_options_fail_the_host_start()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddWorkerClient("remote").Configure(o => o.Address = "tcp://nowhere");

        using var host = builder.Build();
        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().DefaultTimeout());
        Assert.That(error!.Message, Does.Contain("tcp://nowhere"));
        await Task.CompletedTask;
    }

    [Test]
    public async Task The_default_pool_resolves_unkeyed_and_a_synchronous_container_dispose_stops_its_worker()
    {
        var services = new ServiceCollection();
        services.AddWorkerPool().Configure(o =>
        {
            o.SpecificationPath = HostedWorkers.WriteSpecification(Dir);
            o.Pool.Process.SocketDirectory = Dir.Path;
        });
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var pool = provider.GetRequiredService<WorkerPool>();
        Assert.That(pool.Name, Is.EqualTo("default"));
        var started = await pool.StartWorkersAsync(1).DefaultTimeout();
        var pid = started[0].ProcessId;
        Assert.That(Processes.IsAlive(pid), Is.True);

        provider.Dispose();

        Assert.That(pool.IsClosed, Is.True);
        Assert.That(Processes.IsAlive(pid), Is.False, "a synchronous dispose of the container stopped the worker");
    }

    [Test]
    public void Two_registrations_of_one_name_are_refused()
    {
        var services = new ServiceCollection();
        services.AddWorkerPool("udf");
        Assert.Throws<ArgumentException>(() => services.AddWorkerPool("udf"));
        services.AddWorkerClient("udf");
        Assert.Throws<ArgumentException>(() => services.AddWorkerClient("udf"));
    }

    [Test]
    public async Task The_containers_clock_meter_factory_and_logger_factory_reach_the_options_unless_set()
    {
        var builder = Host.CreateApplicationBuilder();
        var clock = new ContainerClock();
        builder.Services.AddSingleton<TimeProvider>(clock);
        var ownClock = new ContainerClock();
        builder.Services.AddWorkerPool("a").Configure(o => o.SpecificationPath = HostedWorkers.WriteSpecification(Dir));
        builder.Services.AddWorkerPool("b").Configure(o =>
        {
            o.SpecificationPath = HostedWorkers.WriteSpecification(Dir);
            o.Pool.TimeProvider = ownClock;
            o.Pool.Name = "renamed";
        });
        builder.Services.AddWorkerClient("c").Configure(o => o.Address = "unix:///tmp/none.sock");

        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();
        var pools = host.Services.GetRequiredService<IOptionsMonitor<WorkerPoolServiceOptions>>();
        var a = pools.Get("a").Pool;
        Assert.That(a.TimeProvider, Is.SameAs(clock));
        Assert.That(a.MeterFactory, Is.SameAs(host.Services.GetRequiredService<IMeterFactory>()));
        Assert.That(a.LoggerFactory, Is.SameAs(host.Services.GetRequiredService<ILoggerFactory>()));
        Assert.That(a.Name, Is.EqualTo("a"));
        Assert.That(pools.Get("b").Pool.TimeProvider, Is.SameAs(ownClock), "a clock set in the options is kept");
        Assert.That(host.Services.GetRequiredKeyedService<WorkerPool>("b").Name, Is.EqualTo("renamed"));

        var client = host.Services.GetRequiredKeyedService<WorkerClient>("c");
        Assert.That(client.Options.TimeProvider, Is.SameAs(clock));
        Assert.That(client.Options.MeterFactory, Is.SameAs(host.Services.GetRequiredService<IMeterFactory>()));
        await host.StopAsync().DefaultTimeout();
    }

    [Test]
    public async Task A_named_client_reaches_a_worker_by_its_configured_address()
    {
        var specification = HostedWorkers.WriteSpecification(Dir);
        await using var pool = WorkerPool.Create(WorkerSpecification.Load(specification), new WorkerPoolOptions { Process = new WorkerProcessOptions { SocketDirectory = Dir.Path } });
        var worker = (await pool.StartWorkersAsync(1).DefaultTimeout())[0];

        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Workers:remote:Address"] = worker.Address.ToString() });
        builder.Services.AddWorkerClient("remote").BindConfiguration("Workers:remote");
        using (var host = builder.Build())
        {
            await host.StartAsync().DefaultTimeout();
            var client = host.Services.GetRequiredKeyedService<WorkerClient>("remote");
            var heartbeat = await client.HeartbeatAsync().DefaultTimeout();
            Assert.That(heartbeat.RoundTrip, Is.GreaterThan(TimeSpan.Zero));
            await host.StopAsync().DefaultTimeout();
        }

        Assert.That(Processes.IsAlive(worker.ProcessId), Is.True, "a client does not own the worker it talks to");
    }

    /// <summary>A clock of the container's own (the system's time, through the base class).</summary>
    private sealed class ContainerClock : TimeProvider;
}
