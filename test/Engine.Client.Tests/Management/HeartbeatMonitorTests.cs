using System.Threading.Channels;
using Engine.Client.Management;
using Engine.Client.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Engine.Client.Tests.Management;

/// <summary>
/// The heartbeat monitor on a fake clock: every probe is a pending call the test answers or lets
/// expire, so each interleaving is forced, never timed.
/// </summary>
public sealed class HeartbeatMonitorTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private FakeTimeProvider _time = null!;
    private Channel<(TaskCompletionSource<HeartbeatResult> Answer, CancellationToken Token)> _probes = null!;
    private HeartbeatMonitor _monitor = null!;
    private CancellationTokenSource _stop = null!;
    private List<int> _missed = null!;
    private int _answered;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider();
        _probes = Channel.CreateUnbounded<(TaskCompletionSource<HeartbeatResult>, CancellationToken)>();
        _stop = new CancellationTokenSource();
        _missed = [];
        _answered = 0;
        _monitor = new HeartbeatMonitor(Probe, Interval, Timeout, maxMissed: 3, _time);
        _monitor.Missed += (n, _) => _missed.Add(n);
        _monitor.Answered += _ => _answered++;
    }

    [TearDown]
    public void TearDown() => _stop.Dispose();

    private Task<HeartbeatResult> Probe(TimeSpan timeout, CancellationToken token)
    {
        var answer = new TaskCompletionSource<HeartbeatResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => answer.TrySetCanceled(token));
        _probes.Writer.TryWrite((answer, token));
        return answer.Task;
    }

    private static HeartbeatResult Beat() => new(new Dictionary<string, string>(), TimeSpan.Zero, DateTimeOffset.UnixEpoch);

    /// <summary>Moves to the next tick and returns the probe it starts.</summary>
    private async Task<TaskCompletionSource<HeartbeatResult>> NextProbeAsync()
    {
        _time.Advance(Interval);
        return (await _probes.Reader.ReadAsync().AsTask().DefaultTimeout()).Answer;
    }

    [Test]
    public async Task Nothing_is_sent_before_the_first_interval_and_an_answering_worker_is_never_lost()
    {
        var run = _monitor.RunAsync(_stop.Token);
        _time.Advance(Interval - TimeSpan.FromMilliseconds(1));
        Assert.That(_probes.Reader.TryRead(out _), Is.False);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        for (var i = 0; i < 10; i++)
        {
            var probe = i == 0 ? (await _probes.Reader.ReadAsync().AsTask().DefaultTimeout()).Answer : await NextProbeAsync();
            probe.TrySetResult(Beat());
        }

        await _stop.CancelAsync();
        Assert.That(await run.DefaultTimeout(), Is.Null);
        Assert.That(_missed, Is.Empty);
    }

    [Test]
    public async Task A_heartbeat_past_its_deadline_is_a_miss_and_the_threshold_declares_the_worker_lost()
    {
        var run = _monitor.RunAsync(_stop.Token);

        for (var i = 1; i <= 3; i++)
        {
            var probe = await NextProbeAsync();
            _time.Advance(Timeout);
            Assert.That(async () => await probe.Task.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>(), "the deadline cancels the probe");
            if (i < 3)
            {
                Assert.That(run.IsCompleted, Is.False);
            }
        }

        var lost = await run.DefaultTimeout();
        Assert.That(lost, Does.StartWith("missed 3 heartbeats in a row (last answer 21 s ago").And.Contain("no answer within 2 s"));
        Assert.That(_missed, Is.EqualTo(new[] { 1, 2, 3 }));
    }

    [Test]
    public async Task An_answer_resets_the_count_of_misses()
    {
        var run = _monitor.RunAsync(_stop.Token);

        for (var round = 0; round < 3; round++)
        {
            for (var miss = 0; miss < 2; miss++)
            {
                await NextProbeAsync();
                _time.Advance(Timeout);
            }

            (await NextProbeAsync()).TrySetResult(Beat());
        }

        await _stop.CancelAsync();
        Assert.That(await run.DefaultTimeout(), Is.Null);
        Assert.That(_missed, Is.EqualTo(new[] { 1, 2, 1, 2, 1, 2 }));
        Assert.That(_answered, Is.EqualTo(3));
    }

    [Test]
    public async Task A_transport_error_is_a_miss_and_names_itself_in_the_reason()
    {
        var run = _monitor.RunAsync(_stop.Token);

        for (var i = 0; i < 3; i++)
        {
            (await NextProbeAsync()).TrySetException(new WorkerTransportException("w", TransportFailureReason.Unreachable, "nothing listens at unix:///x", null, null));
        }

        Assert.That(await run.DefaultTimeout(), Does.Contain("nothing listens at unix:///x"));
    }

    [Test]
    public async Task Stopping_the_monitor_during_a_probe_is_not_a_miss()
    {
        var run = _monitor.RunAsync(_stop.Token);
        await NextProbeAsync();

        await _stop.CancelAsync();

        Assert.That(await run.DefaultTimeout(), Is.Null);
        Assert.That(_missed, Is.Empty);
    }
}
