using System.Globalization;
using System.Text.Json;
using Engine.Client.Tests.Fleets;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary><c>fleet status</c>, and <c>run</c>, <c>heartbeat</c>, <c>shutdown</c> on several workers, as real processes against real workers.</summary>
public sealed class CliFleetTests : OwnedWorkersFixture
{
    private static string DeadAddress() => "http://127.0.0.1:" + ReferenceWorkerProcess.FreeTcpPort().ToString(CultureInfo.InvariantCulture);

    private static string FleetFile(params string[] addresses)
    {
        var path = CliTestFiles.NewPath(".fleet");
        File.WriteAllLines(path, ["# workers of the test", .. addresses, ""]);
        return path;
    }

    [Test]
    public async Task Fleet_status_of_healthy_workers_exits_0_and_its_json_lists_every_worker_with_every_field()
    {
        var tcp = await StartWorkerAsync();
        var unix = await StartWorkerAsync(tcp: false);

        var result = await CliProcess.RunAsync("fleet", "status", "--worker", tcp.Address, "--worker", unix.Address, "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var workers = json.RootElement.GetProperty("workers").EnumerateArray().ToList();
        Assert.That(workers.Select(w => w.GetProperty("address").GetString()), Is.EquivalentTo(new[] { tcp.Address, unix.Address }));
        foreach (var worker in workers)
        {
            Assert.That(worker.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
            {
                "address", "identity", "state", "sessionsInFlight", "reportedLoad", "sessionLimit", "lastHeartbeatAgeMs", "error",
            }));
            Assert.That(worker.GetProperty("state").GetString(), Is.EqualTo("healthy"));
            Assert.That(worker.GetProperty("identity").GetString(), Is.EqualTo(worker.GetProperty("address").GetString() == tcp.Address ? tcp.Id : unix.Id));
            Assert.That(worker.GetProperty("sessionsInFlight").GetInt32(), Is.Zero);
            Assert.That(worker.GetProperty("reportedLoad").GetInt32(), Is.Zero);
            Assert.That(worker.GetProperty("lastHeartbeatAgeMs").GetDouble(), Is.GreaterThanOrEqualTo(0));
            Assert.That(worker.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        }
    }

    [Test]
    public async Task Fleet_status_with_one_worker_not_answering_exits_1_and_shows_it_ejected()
    {
        var live = await StartWorkerAsync();
        var dead = DeadAddress();

        var file = FleetFile(live.Address, dead);
        var result = await CliProcess.RunAsync("fleet", "status", "--fleet", file, "--json", "--timeout", "5s");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("fleet").GetString(), Is.EqualTo(file), "the fleet is named as given: the file");
        var workers = json.RootElement.GetProperty("workers").EnumerateArray().ToDictionary(w => w.GetProperty("address").GetString()!);
        Assert.That(workers[live.Address].GetProperty("state").GetString(), Is.EqualTo("healthy"));
        Assert.That(workers[dead].GetProperty("state").GetString(), Is.EqualTo("ejected"));
        Assert.That(workers[dead].GetProperty("identity").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(workers[dead].GetProperty("lastHeartbeatAgeMs").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(workers[dead].GetProperty("error").GetString(), Does.Contain("heartbeat"));
    }

    [Test]
    public async Task Fleet_status_when_no_worker_answers_exits_3_and_says_so_in_text()
    {
        var result = await CliProcess.RunAsync("fleet", "status", "--worker", DeadAddress(), "--worker", DeadAddress(), "--timeout", "5s");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.Stdout, Does.Contain("0 of 2 workers healthy"));
        Assert.That(result.Stdout, Does.Contain("ejected"));
    }

    [Test]
    public async Task Fleet_status_through_DNS_on_a_given_server_exits_0()
    {
        var worker = await StartWorkerAsync();
        var dns = await DnsmasqServer.StartAsync(["127.0.0.1 workers." + DnsmasqServer.Domain]);
        Own(dns);
        var port = worker.Port!.Value.ToString(CultureInfo.InvariantCulture);

        var result = await CliProcess.RunAsync("fleet", "status", "--fleet", $"dns://{dns.Authority}/workers.{DnsmasqServer.Domain}:{port}", "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("address").GetString()), Is.EqualTo(new[] { "http://127.0.0.1:" + port }));
    }

    [Test]
    public async Task Run_on_a_fleet_places_its_session_on_a_worker_that_answers()
    {
        var live = await StartWorkerAsync();
        var dead = DeadAddress();

        for (var i = 0; i < 3; i++)
        {
            var result = await CliProcess.RunAsync("run", "--worker", dead, "--worker", live.Address, "--format", "echo", "--input", CliTestFiles.SampleFile, "--json", "--no-progress");

            Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
            using var json = JsonDocument.Parse(result.Stdout);
            Assert.That(json.RootElement.GetProperty("worker").GetString(), Is.EqualTo(live.Address));
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("finished"));
        }
    }

    [Test]
    public async Task Heartbeat_of_several_workers_lists_each_and_exits_1_when_some_do_not_answer()
    {
        var a = await StartWorkerAsync();
        var b = await StartWorkerAsync(tcp: false);

        var all = await CliProcess.RunAsync("heartbeat", "--worker", a.Address, "--worker", b.Address, "--json");
        Assert.That(all.ExitCode, Is.EqualTo(0), all.ToString());
        using (var json = JsonDocument.Parse(all.Stdout))
        {
            Assert.That(json.RootElement.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("ok").GetBoolean()), Is.EqualTo(new[] { true, true }));
        }

        var some = await CliProcess.RunAsync("heartbeat", "--worker", a.Address, "--worker", DeadAddress(), "--json", "--timeout", "5s");
        Assert.That(some.ExitCode, Is.EqualTo(1), some.ToString());
    }

    [Test]
    public async Task Shutdown_of_a_fleet_file_stops_every_worker()
    {
        var a = await StartWorkerAsync();
        var b = await StartWorkerAsync(tcp: false);

        var result = await CliProcess.RunAsync("shutdown", "--fleet", FleetFile(a.Address, b.Address), "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(await a.WaitForExitAsync(TimeSpan.FromSeconds(20)), Is.Zero);
        Assert.That(await b.WaitForExitAsync(TimeSpan.FromSeconds(20)), Is.Zero);
    }

    [Test]
    public async Task Worker_and_fleet_together_are_bad_usage()
    {
        var result = await CliProcess.RunAsync("fleet", "status", "--worker", "http://127.0.0.1:1", "--fleet", "dns:///w:1");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("--worker and --fleet are both given"));
    }
}
