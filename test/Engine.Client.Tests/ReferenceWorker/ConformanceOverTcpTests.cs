using System.Net;
using System.Net.Sockets;
using Engine.Client.Conformance;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>The worker on a loopback TCP port: every check that leaves it running, and both loopback addresses answer.</summary>
[TestFixture]
public sealed class ConformanceOverTcpTests
{
    private ReferenceWorkerProcess _worker = null!;

    [OneTimeSetUp]
    public async Task StartWorker() => _worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = true });

    [OneTimeTearDown]
    public async Task StopWorker() => await _worker.DisposeAsync();

    /// <summary>Every check that leaves the worker running, from the kit's catalogue: a new check is run here without being listed.</summary>
    public static IEnumerable<string> RunningChecks => WorkerConformance.DefaultCheckIds;

    [TestCaseSource(nameof(RunningChecks))]
    public async Task Check_passes_over_tcp(string id)
    {
        using var conformance = WorkerConformance.Create(_worker.Address);

        var result = await conformance.RunCheckAsync(id).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Passed), $"{result} {_worker.Describe()}");
    }

    [TestCase("127.0.0.1")]
    [TestCase("[::1]")]
    public async Task The_worker_answers_on_both_loopback_addresses(string host)
    {
        if (host == "[::1]" && !HasIpv6Loopback())
        {
            // The specification's fallback: the worker says so on stderr and serves IPv4 only.
            Assert.That(_worker.Stderr, Does.Contain("IPv6 loopback [::1] is not available"));
            return;
        }

        await using var client = WorkerClient.Create($"http://{host}:{_worker.Port}");

        var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(_worker.Id));
    }

    private static bool HasIpv6Loopback()
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
