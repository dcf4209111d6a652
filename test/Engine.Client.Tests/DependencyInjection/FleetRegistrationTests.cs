using System.Diagnostics.Metrics;
using System.Globalization;
using Engine.Client.DependencyInjection;
using Engine.Client.Tests.Fleets;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Client.Tests.DependencyInjection;

/// <summary>
/// <c>AddWorkerFleet</c> in a real host against real reference workers: a fleet bound from
/// configuration (addresses or a DNS target, placement, ejection settings), validated at start
/// naming each bad key, named and keyed or the default, the container's logging, clock and meter
/// factory, the hosted start and stop, and disposal with the container.
/// </summary>
public sealed class FleetRegistrationTests : OwnedWorkersFixture
{
    [Test]
    public async Task A_fleet_bound_from_configuration_starts_with_the_host_serves_sessions_and_closes_with_it_leaving_the_workers_up()
    {
        var tcp = await StartWorkerAsync();
        var unix = await StartWorkerAsync(tcp: false);
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EngineClient:Fleets:udf:Addresses:0"] = tcp.Address,
            ["EngineClient:Fleets:udf:Addresses:1"] = unix.Address,
            ["EngineClient:Fleets:udf:StartWithHost"] = "true",
            ["EngineClient:Fleets:udf:Fleet:Placement"] = "RoundRobin",
            ["EngineClient:Fleets:udf:Fleet:FailuresToEject"] = "2",
            ["EngineClient:Fleets:udf:Fleet:BaseEjectionTime"] = "00:00:30",
            ["EngineClient:Fleets:udf:Fleet:MaxEjectionTime"] = "00:10:00",
            ["EngineClient:Fleets:udf:Fleet:MaxEjectedShare"] = "1",
            ["EngineClient:Fleets:udf:Fleet:HeartbeatInterval"] = "00:05:00",
            ["EngineClient:Fleets:udf:Fleet:MaxSessionsPerWorker"] = "8",
            ["EngineClient:Fleets:udf:Fleet:Connection:MaxSendMessageSize"] = "134217728",
            ["EngineClient:Fleets:udf:Fleet:Session:InitResponseTimeout"] = "00:05:00",
        });
        using var logs = new LogCapture();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.Services.AddWorkerFleet("udf").BindConfiguration("EngineClient:Fleets:udf");

        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();

        var fleet = host.Services.GetRequiredKeyedService<WorkerFleet>("udf");
        Assert.That(host.Services.GetRequiredKeyedService<WorkerFleet>("udf"), Is.SameAs(fleet), "one fleet per registration");
        Assert.That(fleet.Name, Is.EqualTo("udf"), "the fleet takes the registration's name");
        Assert.That(fleet.Workers.Select(w => w.Address), Is.EquivalentTo(new[] { tcp.Address, unix.Address }), "the host's start created the fleet of the configured addresses");
        var options = fleet.Options;
        Assert.Multiple(() =>
        {
            Assert.That(options.Placement, Is.EqualTo(FleetPlacement.RoundRobin));
            Assert.That(options.FailuresToEject, Is.EqualTo(2));
            Assert.That(options.BaseEjectionTime, Is.EqualTo(TimeSpan.FromSeconds(30)));
            Assert.That(options.MaxEjectionTime, Is.EqualTo(TimeSpan.FromMinutes(10)));
            Assert.That(options.MaxEjectedShare, Is.EqualTo(1));
            Assert.That(options.HeartbeatInterval, Is.EqualTo(TimeSpan.FromMinutes(5)));
            Assert.That(options.MaxSessionsPerWorker, Is.EqualTo(8));
            Assert.That(options.Connection.MaxSendMessageSize, Is.EqualTo(128 * 1024 * 1024));
            Assert.That(options.Session.InitResponseTimeout, Is.EqualTo(TimeSpan.FromMinutes(5)));
            Assert.That(options.LoggerFactory, Is.SameAs(host.Services.GetRequiredService<ILoggerFactory>()));
        });

        // Round robin over the two workers: two sessions, one on each.
        var first = await fleet.OpenSessionAsync().DefaultTimeout();
        var second = await fleet.OpenSessionAsync().DefaultTimeout();
        Assert.That(new[] { first.Worker, second.Worker }, Is.EquivalentTo(new[] { tcp.Address, unix.Address }));
        Assert.That((await FleetTestSupport.EchoAsync(first)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That((await FleetTestSupport.EchoAsync(second)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(logs.Entries.Select(e => e.Category), Has.Member(typeof(WorkerFleet).FullName), "the fleet logs through the container's ILoggerFactory");

        await host.StopAsync().DefaultTimeout();
        Assert.ThrowsAsync<ObjectDisposedException>(async () => await fleet.OpenSessionAsync(), "the host's stop closed the fleet");
        await using var client = tcp.CreateClient();
        Assert.That(await client.HeartbeatAsync().DefaultTimeout(), Is.Not.Null, "the fleet's workers are not its to stop");
    }

    [Test]
    public async Task The_default_fleet_from_a_DNS_target_resolves_unkeyed_on_first_use_and_a_synchronous_container_dispose_closes_it()
    {
        var worker = await StartWorkerAsync();
        var services = new ServiceCollection();
        services.AddWorkerFleet().Configure(o =>
        {
            // A/AAAA records of localhost through the system resolver (the hosts file).
            o.Dns = "dns:///localhost:" + worker.Port!.Value.ToString(CultureInfo.InvariantCulture);
            o.Fleet.Session = TaskTimeouts.HugeTimeouts();
            o.Fleet.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
        });
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var fleet = provider.GetRequiredService<WorkerFleet>();
        Assert.That(fleet.Name, Is.EqualTo("fleet"), "the default registration keeps the fleet's default name");

        var workers = await fleet.WaitForWorkersAsync().DefaultTimeout();
        Assert.That(workers.Select(w => w.Address), Has.Member(worker.Address), "localhost resolved to the worker's loopback address");
        var outcome = await FleetTestSupport.EchoAsync(await fleet.OpenSessionAsync().DefaultTimeout());
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        Assert.That(outcome.Diagnostics.Worker, Is.EqualTo(worker.Address));

        provider.Dispose();
        Assert.ThrowsAsync<ObjectDisposedException>(async () => await fleet.OpenSessionAsync(), "a synchronous dispose of the container closed the fleet");
    }

    [Test]
    public async Task Invalid_configuration_fails_the_host_start_naming_each_bad_key()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EngineClient:Fleets:both:Addresses:0"] = "http://127.0.0.1:7070",
            ["EngineClient:Fleets:both:Dns"] = "dns:///workers:7070",
            ["EngineClient:Fleets:bad:Addresses:0"] = "http://127.0.0.1:7070",
            ["EngineClient:Fleets:bad:Addresses:1"] = "tcp://nowhere:1",
            ["EngineClient:Fleets:bad:Fleet:MaxEjectedShare"] = "2",
            ["EngineClient:Fleets:dns:Dns"] = "dns:///workers:99999",
            ["EngineClient:Fleets:none:StartWithHost"] = "false",
        });
        builder.Services.AddWorkerFleet("both").BindConfiguration("EngineClient:Fleets:both");
        builder.Services.AddWorkerFleet("bad").BindConfiguration("EngineClient:Fleets:bad");
        builder.Services.AddWorkerFleet("dns").BindConfiguration("EngineClient:Fleets:dns");
        builder.Services.AddWorkerFleet("none").BindConfiguration("EngineClient:Fleets:none");

        using var host = builder.Build();
        var error = Assert.ThrowsAsync<AggregateException>(() => host.StartAsync().DefaultTimeout())!;
        var messages = string.Join("\n", error.InnerExceptions.Select(e => e.Message));
        Assert.Multiple(() =>
        {
            Assert.That(error.InnerExceptions, Has.All.InstanceOf<OptionsValidationException>());
            Assert.That(messages, Does.Contain("worker fleet 'both': both Addresses (1) and Dns ('dns:///workers:7070') are set"));
            Assert.That(messages, Does.Contain("worker fleet 'bad': Addresses:1: ").And.Contain("tcp://nowhere:1"));
            Assert.That(messages, Does.Contain("worker fleet 'bad': Fleet: MaxEjectedShare is 2"));
            Assert.That(messages, Does.Contain("worker fleet 'dns': Dns: ").And.Contain("99999"));
            Assert.That(messages, Does.Contain("worker fleet 'none': neither Addresses nor Dns is set"));
            Assert.That(messages, Does.Not.Contain("Addresses:0"), "a good address is not reported");
        });
        await Task.CompletedTask;
    }

    [Test]
    public void Two_fleets_of_one_name_are_refused_and_a_fleet_may_share_a_pools_name()
    {
        var services = new ServiceCollection();
        services.AddWorkerFleet("udf");
        Assert.Throws<ArgumentException>(() => services.AddWorkerFleet("udf"));
        Assert.DoesNotThrow(() => services.AddWorkerPool("udf"), "keys are per service type");
        services.AddWorkerFleet();
        Assert.Throws<ArgumentException>(() => services.AddWorkerFleet());
    }

    [Test]
    public async Task The_containers_clock_and_meter_factory_reach_the_fleet_unless_set_and_a_set_name_is_kept()
    {
        var worker = await StartWorkerAsync();
        var builder = Host.CreateApplicationBuilder();
        var clock = new ContainerClock();
        var ownClock = new ContainerClock();
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddWorkerFleet("a").Configure(o => o.Addresses.Add(worker.Address));
        builder.Services.AddWorkerFleet("b").Configure(o =>
        {
            o.Addresses.Add(worker.Address);
            o.Fleet.TimeProvider = ownClock;
            o.Fleet.Name = "renamed";
        });

        using var host = builder.Build();
        await host.StartAsync().DefaultTimeout();
        var a = host.Services.GetRequiredKeyedService<WorkerFleet>("a");
        Assert.That(a.Options.TimeProvider, Is.SameAs(clock));
        Assert.That(a.Options.MeterFactory, Is.SameAs(host.Services.GetRequiredService<IMeterFactory>()));
        Assert.That(a.Name, Is.EqualTo("a"));
        var b = host.Services.GetRequiredKeyedService<WorkerFleet>("b");
        Assert.That(b.Options.TimeProvider, Is.SameAs(ownClock), "a clock set in the options is kept");
        Assert.That(b.Name, Is.EqualTo("renamed"));
        await host.StopAsync().DefaultTimeout();
    }

    /// <summary>A clock of the container's own (the system's time, through the base class).</summary>
    private sealed class ContainerClock : TimeProvider;
}
