extern alias cli;

using System.Globalization;
using FollowedHeartbeatProbes = cli::Engine.Client.Cli.Operations.FollowedHeartbeatProbes;
using Engine.Client.Load;
using Engine.Client.Tests.Fleets;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using static Engine.Client.Tests.Fleets.FleetTestSupport;

namespace Engine.Client.Tests.Load;

/// <summary>
/// <c>load</c> against a fleet found through a real DNS server (dnsmasq) whose records change during
/// the run: the heartbeat samples follow the fleet's membership, as <c>--fleet</c> wires them.
/// </summary>
[TestFixture]
public sealed class LoadFleetHeartbeatTests
{
    /// <summary>
    /// One worker listens on both loopbacks, so its IPv4 and IPv6 addresses are two workers of the
    /// fleet. The run starts with the A record only; the AAAA record is added mid-run and the new
    /// worker gets heartbeat samples (in the result's per-worker figures too); then the A record is
    /// removed and, from the round after the fleet drained it, the old worker is probed no more.
    /// </summary>
    [Test]
    public async Task A_worker_that_joins_the_fleet_mid_run_is_sampled_and_one_that_leaves_is_probed_no_more()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = true });
        var port = worker.Port!.Value.ToString(CultureInfo.InvariantCulture);
        var v4 = "http://127.0.0.1:" + port;
        var v6 = "http://[::1]:" + port;
        var host = "workers." + DnsmasqServer.Domain;
        await using var dns = await DnsmasqServer.StartAsync(["127.0.0.1 " + host]);
        await using var fleet = WorkerFleet.CreateFromDns($"dns://{dns.Authority}/{host}:{port}", Options(o => o.ResolveInterval = TimeSpan.FromMilliseconds(200)));
        await fleet.WaitForWorkersAsync().DefaultTimeout();
        using var followed = FollowedHeartbeatProbes.ForFleet(fleet, new WorkerClientOptions());
        var calls = new ProbeCalls();

        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 5,
            Duration = TimeSpan.FromMinutes(10),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            SessionOptions = Huge,
            CountOutputRows = false,
            Seed = 1,
        };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty) { Input = LoadInput.FromMessages([new byte[16]], "16 B") });
        options.HeartbeatProbes = () => calls.Wrap(followed.Current());
        using var stop = new CancellationTokenSource();
        var run = LoadTest.RunAsync(fleet, options, stop.Token);
        LoadResult result;
        try
        {
            await calls.Answered(v4, 1).DefaultTimeout();

            // Added: the AAAA record's address joins the fleet, then gets heartbeat samples.
            var joined = WaitForWorker(fleet, w => w.Address == v6);
            await dns.SetHostsAsync("127.0.0.1 " + host, "::1 " + host);
            await joined.DefaultTimeout();
            await calls.Answered(v6, 2).DefaultTimeout();

            // Removed: once the fleet drains the A record's address, a round that starts after
            // that probes only the new worker.
            var draining = WaitForWorker(fleet, w => w.Address == v4 && w.State == FleetWorkerState.Draining);
            await dns.SetHostsAsync("::1 " + host);
            await draining.DefaultTimeout();
            var mark = calls.Count;
            var v6Answers = calls.AnsweredCount(v6);
            await calls.Answered(v6, v6Answers + 3).DefaultTimeout();

            var after = calls.Since(mark);
            var firstV6 = after.IndexOf(v6);
            Assert.That(after.Skip(firstV6 + 1), Has.None.EqualTo(v4), $"probes after the drain: {string.Join(", ", after)}");
        }
        finally
        {
            await stop.CancelAsync();
            result = await run.WaitAsync(TaskTimeouts.Huge);
        }

        var workers = result.Workers.ToDictionary(w => w.Worker, StringComparer.Ordinal);
        Assert.Multiple(() =>
        {
            Assert.That(workers[v6].Heartbeats, Is.GreaterThanOrEqualTo(3), "the worker that joined was sampled");
            Assert.That(workers[v4].Heartbeats, Is.GreaterThanOrEqualTo(1));
            Assert.That(result.Latency[LoadPhases.Heartbeat].TotalCount, Is.EqualTo(workers.Values.Sum(w => w.Heartbeats)));
            Assert.That(result.Errors.Where(e => e.Outcome == "heartbeatFailed"), Is.Empty);
        });
    }

    /// <summary>The probes' calls in order, and gates on answered ones.</summary>
    private sealed class ProbeCalls
    {
        private readonly Lock _gate = new();
        private readonly List<string> _started = [];
        private readonly Dictionary<string, int> _answered = new(StringComparer.Ordinal);
        private readonly List<(string Worker, int Count, TaskCompletionSource Done)> _waiting = [];

        public int Count
        {
            get
            {
                lock (_gate)
                {
                    return _started.Count;
                }
            }
        }

        public List<string> Since(int index)
        {
            lock (_gate)
            {
                return _started[index..];
            }
        }

        public int AnsweredCount(string worker)
        {
            lock (_gate)
            {
                return _answered.GetValueOrDefault(worker);
            }
        }

        public Task Answered(string worker, int count)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate)
            {
                if (_answered.GetValueOrDefault(worker) >= count)
                {
                    return Task.CompletedTask;
                }

                _waiting.Add((worker, count, done));
            }

            return done.Task;
        }

        public IReadOnlyList<LoadHeartbeatProbe> Wrap(IReadOnlyList<LoadHeartbeatProbe> probes) =>
            [.. probes.Select(p => new LoadHeartbeatProbe(p.Worker, async token =>
            {
                lock (_gate)
                {
                    _started.Add(p.Worker);
                }

                await p.Call(token);
                lock (_gate)
                {
                    var answered = _answered[p.Worker] = _answered.GetValueOrDefault(p.Worker) + 1;
                    foreach (var waiting in _waiting.Where(w => w.Worker == p.Worker && answered >= w.Count))
                    {
                        waiting.Done.TrySetResult();
                    }
                }
            }))];
    }
}
