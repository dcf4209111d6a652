using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;

namespace Engine.Client.Tests.Workers;

/// <summary>
/// The pool under concurrent requests and process faults, with real reference worker processes:
/// it launches only the workers the requests need (starting workers count, with their capacity
/// reserved), spreads sessions over its workers, and kills a lost worker at once instead of
/// asking it to stop.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class WorkerPoolLoadTests : WorkerProcessFixture
{
    /// <summary>Whether a worker is started before the requests, and how far it got.</summary>
    public enum InAdvance
    {
        None,
        Ready,
        Starting,
    }

    private WorkerPool Pool(Action<WorkerPoolOptions>? adjust = null, int gracefulTerminationTimeoutMs = 1000) =>
        ReferencePool(reuse: true, concurrent: true, gracefulTerminationTimeoutMs, options =>
        {
            options.MaxSessionsPerWorker = 4;
            adjust?.Invoke(options);
        });

    private static SessionInit Echo() => new(Encoding.UTF8.GetBytes("echo"), "echo");

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return new byte[16];
        }
    }

    private static async Task<SessionOutcome> RunEcho(WorkerSession session)
    {
        await session.InitAsync(Echo()).DefaultTimeout();
        var output = await session.ProcessAsync(Items(2)).ToListAsync();
        Assert.That(output, Has.Count.EqualTo(2));
        return await session.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task Eight_concurrent_requests_with_four_sessions_per_worker_launch_exactly_two_workers([Values] InAdvance inAdvance)
    {
        await using var pool = Pool(o => o.MaxWorkers = null);
        var joined = new List<string>();
        Task<IReadOnlyList<PooledWorkerInfo>>? started = null;
        if (inAdvance == InAdvance.Ready)
        {
            await pool.StartWorkersAsync(1).DefaultTimeout();
        }
        else if (inAdvance == InAdvance.Starting)
        {
            started = pool.StartWorkersAsync(1);
        }

        var sessions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => pool.OpenSessionAsync().AsTask())).WaitAsync(TimeSpan.FromSeconds(60));
        if (started is not null)
        {
            await started.DefaultTimeout();
        }

        var workers = pool.Workers;
        Assert.That(workers, Has.Count.EqualTo(2), "8 sessions at 4 per worker need 2 workers: " + string.Join(", ", workers.Select(w => $"{w.Id}={w.ActiveSessions}")));
        Assert.That(workers.Select(w => w.ActiveSessions), Is.EqualTo(new[] { 4, 4 }));
        Assert.That(LiveWorkers(), Has.Length.EqualTo(2), "no other worker process was launched");
        Assert.That(sessions.Select(s => s.Worker).Distinct().Count(), Is.EqualTo(2));
        var outcomes = await Task.WhenAll(sessions.Select(RunEcho)).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(outcomes.All(o => o.Kind == SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task Sessions_spread_evenly_over_the_workers_instead_of_piling_on_the_first()
    {
        await using var pool = Pool();
        await pool.StartWorkersAsync(2).DefaultTimeout();

        // Three sessions at a time on two workers, 30 rounds: placing each on the least loaded
        // worker, the fewest sessions so far breaking ties, gives 45 each (give or take one).
        for (var round = 0; round < 30; round++)
        {
            var sessions = new List<WorkerSession>();
            for (var i = 0; i < 3; i++)
            {
                sessions.Add(await pool.OpenSessionAsync().DefaultTimeout());
            }

            await Task.WhenAll(sessions.Select(RunEcho)).WaitAsync(TimeSpan.FromSeconds(60));
        }

        var served = pool.Workers.Select(w => w.SessionsServed).ToArray();
        Assert.That(served, Has.Length.EqualTo(2));
        Assert.That(served.Sum(), Is.EqualTo(90));
        Assert.That(Math.Abs(served[0] - served[1]), Is.LessThanOrEqualTo(2), "sessions served per worker: " + string.Join(", ", served));
    }

    [Test]
    public async Task Concurrent_requests_at_the_worker_cap_share_the_starting_workers()
    {
        await using var pool = Pool(o => o.MaxWorkers = 2);

        var sessions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => pool.OpenSessionAsync().AsTask())).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(pool.Workers.Select(w => w.ActiveSessions), Is.EqualTo(new[] { 4, 4 }));
        await Task.WhenAll(sessions.Select(RunEcho)).WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Test]
    public async Task A_request_cancelled_while_its_worker_starts_gives_its_slot_back_and_the_others_keep_the_worker()
    {
        await using var pool = Pool();
        using var cancel = new CancellationTokenSource();
        var abandoned = pool.OpenSessionAsync(cancellationToken: cancel.Token);
        var kept = pool.OpenSessionAsync();

        await cancel.CancelAsync();

        Assert.That(async () => await abandoned.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var session = await kept.DefaultTimeout();
        Assert.That(pool.Workers.Single().ActiveSessions, Is.EqualTo(1));
        Assert.That((await RunEcho(session)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task A_request_cancelled_while_the_only_worker_it_waits_for_starts_leaves_nothing_running()
    {
        await using var pool = Pool();
        using var cancel = new CancellationTokenSource();
        var request = pool.OpenSessionAsync(cancellationToken: cancel.Token);

        await cancel.CancelAsync();

        Assert.That(async () => await request.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var next = await pool.OpenSessionAsync().DefaultTimeout();
        await RunEcho(next);
        Assert.That(pool.Workers, Has.Count.EqualTo(1));
    }

    [Test]
    public void The_worker_cap_defaults_to_twice_the_processors_and_at_least_four()
    {
        Assert.That(new WorkerPoolOptions().MaxWorkers, Is.EqualTo(Math.Max(4, 2 * Environment.ProcessorCount)));
        Assert.That(WorkerPoolOptions.DefaultMaxWorkers, Is.EqualTo(Math.Max(4, 2 * Environment.ProcessorCount)));
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Endless(int size)
    {
        var batch = new byte[size];
        while (true)
        {
            await Task.Yield();
            yield return batch;
        }
    }

    [Test]
    public async Task A_worker_that_stops_reading_mid_stream_while_its_heartbeats_answer_fails_the_session_after_the_progress_timeout_and_is_not_reused()
    {
        await using var pool = Pool();
        var answered = 0;
        pool.HeartbeatAnswered += _ => Interlocked.Increment(ref answered);
        var options = TaskTimeouts.HugeTimeouts(o => o.ProgressTimeout = TimeSpan.FromSeconds(2));
        var session = await pool.OpenSessionAsync(options).DefaultTimeout();
        var worker = pool.Workers.Single();
        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("stop-reading:3"), "fault")).DefaultTimeout();

        var received = 0;
        var reading = Task.Run(async () =>
        {
            await foreach (var batch in session.ProcessAsync(Endless(256 * 1024)))
            {
                received++;
            }
        });

        // Every other deadline of the session is minutes; the progress deadline is 2 s.
        var error = Assert.ThrowsAsync<WorkerTransportException>(() => reading.WaitAsync(TimeSpan.FromSeconds(60)));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(received, Is.EqualTo(3), "three batches were echoed before the worker stopped reading");
        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Timeout));
        Assert.That(error.Message, Does.Contain("accepted no input and sent nothing for 2 s").And.Contain("ProgressTimeout"));
        Assert.That(Volatile.Read(ref answered), Is.GreaterThan(0), "the worker kept answering heartbeats");
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.WorkerReusable, Is.False);
        var next = await pool.OpenSessionAsync().DefaultTimeout();
        Assert.That(next.Worker, Is.Not.EqualTo(session.Worker), "the wedged worker takes no new session");
        Assert.That((await RunEcho(next)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(pool.Workers.Select(w => w.Id), Does.Not.Contain(worker.Id));
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> OneThenWait([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        yield return new byte[16];
        await Task.Delay(Timeout.Infinite, ct);
    }

    [Test]
    public async Task A_lost_worker_is_killed_at_once_and_close_returns_promptly_with_the_real_reason_of_each_missed_heartbeat()
    {
        // Every graceful path is a minute or more: asking the stopped worker to shut down, then
        // waiting for SIGTERM, would take 90 s. Killing it takes milliseconds.
        using var logs = new LogCapture();
        await using var pool = Pool(
            o =>
            {
                o.LoggerFactory = logs.Factory;
                o.Process.ShutdownRequestTimeout = TimeSpan.FromMinutes(1);
            },
            gracefulTerminationTimeoutMs: 30_000);
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        var worker = pool.Workers.Single();
        var exited = logs.WaitFor(e => e.EventId.Id == 307 && e.Message.Contains(worker.Id, StringComparison.Ordinal));
        await session.InitAsync(Echo()).DefaultTimeout();
        var output = session.ProcessAsync(OneThenWait()).GetAsyncEnumerator();
        Assert.That(await output.MoveNextAsync().DefaultTimeout(), Is.True, "the session is live");
        var next = output.MoveNextAsync().AsTask();

        using (var stop = Process.Start("kill", ["-STOP", worker.ProcessId.ToString(CultureInfo.InvariantCulture)]))
        {
            await stop.WaitForExitAsync().DefaultTimeout();
        }

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => next.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.WorkerLost));
        var lost = Stopwatch.StartNew();
        var outcome = await session.CloseAsync().DefaultTimeout();
        var closed = lost.Elapsed;
        var exit = await exited.DefaultTimeout();
        var gone = lost.Elapsed;
        TestContext.Out.WriteLine($"after the loss: CloseAsync returned in {closed.TotalMilliseconds:0} ms, the worker exited after {gone.TotalMilliseconds:0} ms");

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(closed, Is.LessThan(TimeSpan.FromSeconds(3)), "CloseAsync must not wait for a graceful stop of a lost worker");
        Assert.That(gone, Is.LessThan(TimeSpan.FromSeconds(3)), "a lost worker is killed, not asked to stop");
        Assert.That(exit.Message, Does.Contain("signal 9"));
        Assert.That(Processes.IsAlive(worker.ProcessId), Is.False);

        var missed = logs.Entries.Where(e => e.EventId.Id == 402).Select(e => e.Message).ToArray();
        Assert.That(missed, Has.Length.GreaterThanOrEqualTo(2));
        Assert.That(missed, Has.All.Contain("deadline exceeded: no answer within 0.5 s"));
        Assert.That(missed, Has.None.Contain("cancelled by the caller"));
        Assert.That(logs.Entries.Where(e => e.EventId.Id == 304), Is.Empty, "no Manage shutdown is sent to a lost worker");
        await output.DisposeAsync();
    }
}
