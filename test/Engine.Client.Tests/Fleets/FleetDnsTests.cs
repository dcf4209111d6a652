using System.Globalization;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using static Engine.Client.Tests.Fleets.FleetTestSupport;

namespace Engine.Client.Tests.Fleets;

/// <summary>A fleet found through a real DNS server (dnsmasq on a loopback port) whose records change while the fleet runs, and through the system resolver.</summary>
public sealed class FleetDnsTests : OwnedWorkersFixture
{
    private async Task<DnsmasqServer> StartDnsAsync(IEnumerable<string> hosts, IEnumerable<string>? config = null)
    {
        var dns = await DnsmasqServer.StartAsync(hosts, config);
        Own(dns);
        return dns;
    }

    private static string Text(int port) => port.ToString(CultureInfo.InvariantCulture);

    [Test]
    public async Task Addresses_added_to_A_and_AAAA_records_join_and_take_sessions_and_removed_ones_drain_without_failing_a_running_session()
    {
        // One worker listens on both loopbacks: its IPv4 and IPv6 addresses are two workers of the fleet.
        var worker = await StartWorkerAsync();
        var port = Text(worker.Port!.Value);
        var v4 = "http://127.0.0.1:" + port;
        var v6 = "http://[::1]:" + port;
        var dns = await StartDnsAsync(["127.0.0.1 workers." + DnsmasqServer.Domain]);

        await using var fleet = WorkerFleet.CreateFromDns(
            $"dns://{dns.Authority}/workers.{DnsmasqServer.Domain}:{port}",
            Options(o => o.ResolveInterval = TimeSpan.FromMilliseconds(200)));
        Assert.That(fleet.Workers.Select(w => w.Address), Is.Empty.Or.EqualTo(new[] { v4 }));
        var running = await HeldSession.StartAsync(await fleet.OpenSessionAsync().DefaultTimeout());
        Assert.That(running.Session.Worker, Is.EqualTo(v4));

        // Added: the AAAA record's address joins and takes sessions.
        var joined = WaitForWorker(fleet, w => w.Address == v6);
        await dns.SetHostsAsync("127.0.0.1 workers." + DnsmasqServer.Domain, "::1 workers." + DnsmasqServer.Domain);
        await joined.DefaultTimeout();
        var keyed = await fleet.OpenSessionAsync(null, KeyFor(fleet, v6)).DefaultTimeout();
        Assert.That(keyed.Worker, Is.EqualTo(v6));
        Assert.That((await EchoAsync(keyed)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));

        // Removed: the A record's address drains; its running session finishes, then it leaves.
        var draining = WaitForWorker(fleet, w => w.Address == v4 && w.State == FleetWorkerState.Draining);
        var left = WaitForWorker(fleet, w => w.Address == v4 && w.State == FleetWorkerState.Draining && w.SessionsInFlight == 0);
        await dns.SetHostsAsync("::1 workers." + DnsmasqServer.Domain);
        await draining.DefaultTimeout();
        for (var i = 0; i < 5; i++)
        {
            var session = await fleet.OpenSessionAsync().DefaultTimeout();
            Assert.That(session.Worker, Is.EqualTo(v6));
            Assert.That((await EchoAsync(session)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        }

        var outcome = await running.FinishAsync();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        await left.DefaultTimeout();
        Assert.That(fleet.Workers.Select(w => w.Address), Is.EqualTo(new[] { v6 }));
    }

    [Test]
    public async Task SRV_records_as_a_headless_Service_publishes_them_bring_workers_in_and_out()
    {
        var first = await StartWorkerAsync();
        var second = await StartWorkerAsync();
        const string Service = "_udf._tcp.workers." + DnsmasqServer.Domain;
        string[] Hosts(params ReferenceWorkerProcess[] workers) =>
        [
            "host-record=w1." + DnsmasqServer.Domain + ",127.0.0.1",
            "host-record=w2." + DnsmasqServer.Domain + ",127.0.0.1",
            .. workers.Select(w => $"srv-host={Service},w{(w == first ? 1 : 2)}.{DnsmasqServer.Domain},{Text(w.Port!.Value)}"),
        ];
        var dns = await StartDnsAsync([], Hosts(first));

        await using var fleet = WorkerFleet.CreateFromDns($"dns://{dns.Authority}/{Service}", Options(o => o.ResolveInterval = TimeSpan.FromMilliseconds(200)));
        var running = await HeldSession.StartAsync(await fleet.OpenSessionAsync().DefaultTimeout());
        Assert.That(running.Session.Worker, Is.EqualTo(first.Address));

        var joined = WaitForWorker(fleet, w => w.Address == second.Address);
        await dns.SetConfigAsync(Hosts(first, second));
        await joined.DefaultTimeout();
        var keyed = await fleet.OpenSessionAsync(null, KeyFor(fleet, second.Address)).DefaultTimeout();
        Assert.That(keyed.Worker, Is.EqualTo(second.Address));
        Assert.That((await EchoAsync(keyed)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));

        var left = WaitForWorker(fleet, w => w.Address == first.Address && w.State == FleetWorkerState.Draining && w.SessionsInFlight == 0);
        var draining = WaitForWorker(fleet, w => w.Address == first.Address && w.State == FleetWorkerState.Draining);
        await dns.SetConfigAsync(Hosts(second));
        await draining.DefaultTimeout();
        Assert.That((await running.FinishAsync()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        await left.DefaultTimeout();
        Assert.That(fleet.Workers.Select(w => w.Address), Is.EqualTo(new[] { second.Address }));
    }

    [Test]
    public async Task A_DNS_server_that_stops_answering_leaves_the_known_workers_in_place()
    {
        var worker = await StartWorkerAsync();
        var port = Text(worker.Port!.Value);
        var dns = await StartDnsAsync(["127.0.0.1 workers." + DnsmasqServer.Domain]);
        await using var fleet = WorkerFleet.CreateFromDns(
            $"dns://{dns.Authority}/workers.{DnsmasqServer.Domain}:{port}",
            Options(o => o.ResolveInterval = TimeSpan.FromMilliseconds(200)));
        Assert.That((await EchoAsync(await fleet.OpenSessionAsync().DefaultTimeout())).Kind, Is.EqualTo(SessionOutcomeKind.Finished));

        await dns.DisposeAsync();
        var deadline = DateTime.UtcNow + TaskTimeouts.Default;
        while (fleet.ResolveError is null && DateTime.UtcNow < deadline)
        {
            // Each round is a real heartbeat round trip, not a sleep.
            await fleet.HeartbeatAllAsync().DefaultTimeout();
        }

        Assert.That(fleet.ResolveError, Does.Contain("workers." + DnsmasqServer.Domain));
        Assert.That(fleet.Workers.Select(w => (w.Address, w.State)), Is.EqualTo(new[] { ("http://127.0.0.1:" + port, FleetWorkerState.Healthy) }));
        Assert.That((await EchoAsync(await fleet.OpenSessionAsync().DefaultTimeout())).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task A_DNS_fleet_resolves_as_it_is_created_not_one_resolve_interval_later()
    {
        // The system resolver (the hosts file's localhost) and a resolve interval far beyond the
        // test's timeouts: the first resolution must be asked for at creation.
        var worker = await StartWorkerAsync();
        await using var fleet = WorkerFleet.CreateFromDns(
            "dns:///localhost:" + Text(worker.Port!.Value),
            Options(o =>
            {
                o.ResolveInterval = TimeSpan.FromMinutes(10);
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
            }));

        var workers = await fleet.WaitForWorkersAsync().DefaultTimeout();
        Assert.That(workers.Select(w => w.Address), Has.Member(worker.Address));
        var outcome = await EchoAsync(await fleet.OpenSessionAsync().DefaultTimeout());
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
    }

    [Test]
    public void DNS_targets_parse_in_grpc_forms_and_bad_ones_say_what_is_accepted()
    {
        Assert.That(Engine.Client.Fleets.DnsTarget.Parse("dns:///workers.default.svc.cluster.local:7070").ToString(), Is.EqualTo("dns:///workers.default.svc.cluster.local:7070"));
        Assert.That(Engine.Client.Fleets.DnsTarget.Parse("dns://127.0.0.1:5353/_udf._tcp.workers").ToString(), Is.EqualTo("dns://127.0.0.1:5353/_udf._tcp.workers"));
        Assert.That(Engine.Client.Fleets.DnsTarget.Parse("dns://[::1]/w:1").Server!.Port, Is.EqualTo(53));
        Assert.That(() => Engine.Client.Fleets.DnsTarget.Parse("dns://name-not-ip/w:1"), Throws.InstanceOf<FormatException>().With.Message.Contains("not an IP address"));
        Assert.That(() => Engine.Client.Fleets.DnsTarget.Parse("http://w:1"), Throws.InstanceOf<FormatException>().With.Message.Contains("dns:///name:port"));
        Assert.That(() => Engine.Client.Fleets.DnsTarget.Parse("dns:///w:99999"), Throws.InstanceOf<FormatException>());
    }
}
