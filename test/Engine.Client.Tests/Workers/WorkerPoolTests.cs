using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;

namespace Engine.Client.Tests.Workers;

/// <summary>
/// docs/conformance.md section D at the pool level, with real reference worker processes: placement,
/// reuse, concurrency, health (a worker killed or stopped mid-session), stop and close races.
/// Each test gets its own socket base directory, so "nothing leaks" is checkable: no live process
/// names it, and no socket directory is left in it.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class WorkerPoolTests : WorkerProcessFixture
{
    private WorkerPool Pool(bool reuse = false, bool concurrent = false, Action<WorkerPoolOptions>? adjust = null, Action<UDFWorkerSpecification>? spec = null) =>
        ReferencePool(reuse, concurrent, adjust: adjust, spec: spec);

    private static SessionInit Echo() => new(Encoding.UTF8.GetBytes("echo"), "echo");

    private static SessionInit Fault(string fault) => new(Encoding.UTF8.GetBytes(fault), "fault");

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items(int count, int size = 16)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return new byte[size];
        }
    }

    private static async Task<SessionOutcome> RunEcho(WorkerSession session, int batches = 3)
    {
        await session.InitAsync(Echo()).DefaultTimeout();
        var output = await session.ProcessAsync(Items(batches)).ToListAsync();
        Assert.That(output, Has.Count.EqualTo(batches));
        return await session.CloseAsync().DefaultTimeout();
    }

    /// <summary>Code that only runs sessions: it sees a <see cref="WorkerSessionSource"/>, not what is behind it.</summary>
    private static async Task<(SessionOutcome Outcome, string Worker)> EchoThrough(WorkerSessionSource source)
    {
        await using var session = await source.OpenSessionAsync(TaskTimeouts.HugeTimeouts()).AsTask().DefaultTimeout();
        return (await RunEcho(session), session.Worker);
    }

    [Test]
    public async Task A_pool_and_a_client_open_sessions_through_one_abstraction()
    {
        await using var pool = Pool(reuse: true, adjust: o => o.MaxIdleWorkers = 1);
        var (pooled, worker) = await EchoThrough(pool);
        var address = pool.Workers.Single().Address;

        await using WorkerSessionSource client = WorkerClient.Create(address);
        var (direct, directWorker) = await EchoThrough(client);

        Assert.That(pooled.Kind, Is.EqualTo(SessionOutcomeKind.Finished), pooled.ToString());
        Assert.That(direct.Kind, Is.EqualTo(SessionOutcomeKind.Finished), direct.ToString());
        Assert.That(worker, Is.EqualTo(address.ToString()), "the pool's session ran on its launched worker");
        Assert.That(directWorker, Is.EqualTo(address.ToString()), "the client's session ran on the same worker");
        Assert.That(pool.Name, Is.Not.Empty);
        Assert.That(client.Name, Is.EqualTo(address.ToString()));
    }

    [Test]
    public async Task D01_a_spawned_worker_round_trips_a_5_MiB_output_batch_and_closing_the_session_stops_it_and_removes_its_socket()
    {
        await using var pool = Pool();
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        var worker = pool.Workers.Single();
        var socket = worker.Address.SocketPath!;

        await session.InitAsync(Fault("big-output:5242880")).DefaultTimeout();
        var output = await session.ProcessAsync(Items(1)).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(output.Single().Length, Is.EqualTo(5 * 1024 * 1024));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(Processes.IsAlive(worker.ProcessId), Is.False);
        Assert.That(File.Exists(socket), Is.False);
        Assert.That(Directory.Exists(Path.GetDirectoryName(socket)), Is.False);
        Assert.That(pool.Workers, Is.Empty);
    }

    [Test]
    public async Task D02_eight_concurrent_requests_get_distinct_workers_and_socket_paths_when_reuse_is_off()
    {
        await using var pool = Pool(adjust: o => o.MaxWorkers = 8);

        var sessions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => pool.OpenSessionAsync().AsTask())).WaitAsync(TimeSpan.FromSeconds(60));
        var workers = pool.Workers;

        Assert.That(workers, Has.Count.EqualTo(8));
        Assert.That(workers.Select(w => w.ProcessId).Distinct().Count(), Is.EqualTo(8));
        Assert.That(workers.Select(w => w.Address.SocketPath).Distinct().Count(), Is.EqualTo(8));
        Assert.That(workers.All(w => w.ActiveSessions == 1));
        var outcomes = await Task.WhenAll(sessions.Select(s => RunEcho(s))).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(outcomes.All(o => o.Kind == SessionOutcomeKind.Finished));
        Assert.That(pool.Workers, Is.Empty);
    }

    [Test]
    public async Task D03_closing_the_pool_stops_every_worker()
    {
        var pool = Pool(reuse: true);
        var infos = await pool.StartWorkersAsync(3).DefaultTimeout();
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        await session.InitAsync(Echo()).DefaultTimeout();

        await pool.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(infos.All(w => !Processes.IsAlive(w.ProcessId)));
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.AnyOf(SessionOutcomeKind.Cancelled, SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task D05_closing_a_session_stops_its_worker_before_close_returns_when_reuse_is_off()
    {
        await using var pool = Pool();
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        var worker = pool.Workers.Single();

        await RunEcho(session);

        Assert.That(Processes.IsAlive(worker.ProcessId), Is.False);
        Assert.That(Directory.Exists(Path.GetDirectoryName(worker.Address.SocketPath!)), Is.False);
    }

    [Test]
    public async Task D06_session_close_racing_pool_close_has_no_double_close_and_no_error([Range(1, 3)] int round)
    {
        var pool = Pool();
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        await session.InitAsync(Echo()).DefaultTimeout();

        var close = Task.Run(() => session.CloseAsync());
        var dispose = Task.Run(async () => await pool.DisposeAsync());
        await Task.WhenAll(close, dispose).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(close.Result.Kind, Is.AnyOf(SessionOutcomeKind.Cancelled, SessionOutcomeKind.TransportFailed));
        Assert.That(pool.Workers, Is.Empty);
    }

    [Test]
    public async Task D07_pool_close_racing_a_session_request_leaks_nothing([Range(1, 3)] int round)
    {
        var pool = Pool();

        var request = Task.Run(async () => await pool.OpenSessionAsync());
        var dispose = Task.Run(async () => await pool.DisposeAsync());
        await dispose.WaitAsync(TimeSpan.FromSeconds(30));
        try
        {
            var session = await request.WaitAsync(TimeSpan.FromSeconds(30));
            await session.CloseAsync().DefaultTimeout();
        }
        catch (ObjectDisposedException)
        {
            // The request lost the race: it was rejected, and its worker (if any) stopped.
        }

        Assert.That(pool.Workers, Is.Empty);
    }

    [Test]
    public async Task D10_requests_after_close_are_rejected()
    {
        var pool = Pool();
        await pool.DisposeAsync();

        Assert.That(async () => await pool.OpenSessionAsync(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => pool.StartWorkersAsync(1), Throws.TypeOf<ObjectDisposedException>());
        await pool.DisposeAsync();
    }

    [Test]
    public async Task D13_the_worker_is_stopped_when_session_construction_throws()
    {
        await using var pool = Pool();

        var error = Assert.ThrowsAsync<ArgumentException>(async () => await pool.OpenSessionAsync(new SessionOptions { OutputBufferCapacity = 0 }));

        Assert.That(error!.Message, Does.Contain("OutputBufferCapacity"));
        Assert.That(pool.Workers, Is.Empty);
    }

    [Test]
    public async Task A_reusable_worker_serves_session_after_session()
    {
        await using var pool = Pool(reuse: true);

        var first = await pool.OpenSessionAsync().DefaultTimeout();
        var id = pool.Workers.Single().Id;
        await RunEcho(first);
        var second = await pool.OpenSessionAsync().DefaultTimeout();
        await RunEcho(second);

        var worker = pool.Workers.Single();
        Assert.That(worker.Id, Is.EqualTo(id));
        Assert.That(worker.SessionsServed, Is.EqualTo(2));
        Assert.That(worker.State, Is.EqualTo(PooledWorkerState.Idle));
    }

    [Test]
    public async Task Idle_workers_beyond_the_configured_count_are_stopped()
    {
        await using var pool = Pool(reuse: true, adjust: o => o.MaxIdleWorkers = 1);
        var sessions = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => pool.OpenSessionAsync().AsTask())).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(pool.Workers, Has.Count.EqualTo(3));

        foreach (var session in sessions)
        {
            await RunEcho(session);
        }

        Assert.That(pool.Workers, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_concurrent_worker_serves_up_to_its_maximum_at_once_then_the_pool_launches_another()
    {
        await using var pool = Pool(reuse: true, concurrent: true, adjust: o => o.MaxSessionsPerWorker = 2);

        var a = await pool.OpenSessionAsync().DefaultTimeout();
        var b = await pool.OpenSessionAsync().DefaultTimeout();
        Assert.That(pool.Workers, Has.Count.EqualTo(1));
        Assert.That(pool.Workers.Single().ActiveSessions, Is.EqualTo(2));
        var c = await pool.OpenSessionAsync().DefaultTimeout();

        Assert.That(pool.Workers, Has.Count.EqualTo(2));
        await Task.WhenAll(RunEcho(a), RunEcho(b), RunEcho(c)).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Test]
    public async Task Without_concurrency_a_reusable_worker_serves_one_session_at_a_time()
    {
        await using var pool = Pool(reuse: true, concurrent: false);

        var a = await pool.OpenSessionAsync().DefaultTimeout();
        var b = await pool.OpenSessionAsync().DefaultTimeout();

        Assert.That(pool.Workers, Has.Count.EqualTo(2));
        await Task.WhenAll(RunEcho(a), RunEcho(b)).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Test]
    public async Task At_the_worker_cap_requests_wait_for_a_free_worker()
    {
        await using var pool = Pool(reuse: true, adjust: o => o.MaxWorkers = 1);
        var first = await pool.OpenSessionAsync().DefaultTimeout();

        var second = pool.OpenSessionAsync();
        Assert.That(second.IsCompleted, Is.False);
        await RunEcho(first);
        await RunEcho(await second.DefaultTimeout());

        Assert.That(pool.Workers, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_worker_whose_session_ended_unsalvageably_is_never_reused()
    {
        await using var pool = Pool(reuse: true);
        var session = await pool.OpenSessionAsync(TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = TimeSpan.FromMilliseconds(300))).DefaultTimeout();
        var first = pool.Workers.Single();
        await session.InitAsync(Fault("ignore-cancel")).DefaultTimeout();

        var outcome = await session.CloseAsync().DefaultTimeout();
        var next = await pool.OpenSessionAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(Processes.IsAlive(first.ProcessId), Is.False, "the retired worker was stopped");
        Assert.That(pool.Workers.Single().Id, Is.Not.EqualTo(first.Id));
        await RunEcho(next);
    }

    [Test]
    public async Task A_worker_killed_with_SIGKILL_mid_session_fails_the_session_within_the_heartbeat_window_naming_the_worker_and_its_signal()
    {
        await using var pool = Pool(reuse: true);
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        var worker = pool.Workers.Single();
        await session.InitAsync(Fault("slow:50")).DefaultTimeout();
        var reading = session.ProcessAsync(Items(100_000)).ToListAsync();

        Process.GetProcessById(worker.ProcessId).Kill();

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => reading.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.WorkerLost));
        Assert.That(error.Message, Does.Contain($"worker {worker.Id} (pid {worker.ProcessId})").And.Contain("signal 9").And.Contain("SIGKILL"));
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));

        var next = await pool.OpenSessionAsync().DefaultTimeout();
        Assert.That(pool.Workers.Single().ProcessId, Is.Not.EqualTo(worker.ProcessId), "the next session gets a fresh worker");
        await RunEcho(next);
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> OneThenWait([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        yield return new byte[16];
        await Task.Delay(Timeout.Infinite, ct);
    }

    [Test]
    public async Task A_worker_stopped_with_SIGSTOP_misses_its_heartbeats_and_its_session_fails_promptly_saying_why()
    {
        await using var pool = Pool(reuse: true);
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        var worker = pool.Workers.Single();
        await session.InitAsync(Echo()).DefaultTimeout();
        var output = session.ProcessAsync(OneThenWait()).GetAsyncEnumerator();
        Assert.That(await output.MoveNextAsync().DefaultTimeout(), Is.True, "the session is live");
        var next = output.MoveNextAsync().AsTask();

        using (var stop = Process.Start("kill", ["-STOP", worker.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await stop.WaitForExitAsync().DefaultTimeout();
        }

        // Heartbeats every 200 ms with a 500 ms deadline, lost after 2 misses: well within 5 s,
        // while every protocol timeout of the session is minutes.
        var error = Assert.ThrowsAsync<WorkerTransportException>(() => next.WaitAsync(TimeSpan.FromSeconds(5)));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.WorkerLost));
        Assert.That(error.Message, Does.Contain($"worker {worker.Id} (pid {worker.ProcessId})").And.Contain("missed 2 heartbeats in a row"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        var fresh = await pool.OpenSessionAsync().DefaultTimeout();
        Assert.That(pool.Workers.Single(w => w.State == PooledWorkerState.Busy).Id, Is.Not.EqualTo(worker.Id), "replaced for the next request");
        await RunEcho(fresh);
        await output.DisposeAsync();
    }

    [Test]
    public async Task Heartbeat_metrics_are_exposed_per_worker()
    {
        await using var pool = Pool(reuse: true, adjust: o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(50));
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        pool.HeartbeatAnswered += _ => answered.TrySetResult();
        await pool.StartWorkersAsync(1).DefaultTimeout();

        await answered.Task.DefaultTimeout();

        var info = pool.Workers.Single();
        Assert.That(info.HeartbeatMetrics!["worker_id"], Is.EqualTo(info.Id));
        Assert.That(info.MissedHeartbeats, Is.Zero);
    }

    [Test]
    public async Task The_environment_runs_once_per_pool_and_its_cleanup_once_on_close()
    {
        var counter = Dir.File("installs");
        var cleanups = Dir.File("cleanups");
        var install = Dir.Script("install.sh", $"echo x >> {counter}");
        var cleanup = Dir.Script("cleanup.sh", $"echo x >> {cleanups}");
        var pool = Pool(spec: s => s.Environment = new WorkerEnvironment { Installation = Specs.Callable(install), EnvironmentCleanup = Specs.Callable(cleanup) });

        var sessions = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => pool.OpenSessionAsync().AsTask())).WaitAsync(TimeSpan.FromSeconds(60));
        foreach (var session in sessions)
        {
            await RunEcho(session);
        }

        Assert.That(Dir.LineCount("installs"), Is.EqualTo(1));
        Assert.That(Dir.LineCount("cleanups"), Is.Zero, "cleanup runs on pool close only");
        await pool.DisposeAsync();
        await pool.DisposeAsync();
        Assert.That(Dir.LineCount("cleanups"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_failed_installation_creates_no_worker_and_is_not_retried()
    {
        var counter = Dir.File("installs");
        var install = Dir.Script("install.sh", $"echo x >> {counter}; echo 'no space left' >&2; exit 7");
        await using var pool = Pool(spec: s => s.Environment = new WorkerEnvironment { Installation = Specs.Callable(install) });

        var first = Assert.ThrowsAsync<WorkerEnvironmentException>(async () => await pool.OpenSessionAsync());
        var second = Assert.ThrowsAsync<WorkerEnvironmentException>(async () => await pool.OpenSessionAsync());

        Assert.That(first!.Message, Does.Contain("7").And.Contain("no space left"));
        Assert.That(second, Is.SameAs(first));
        Assert.That(Dir.LineCount("installs"), Is.EqualTo(1));
        Assert.That(pool.Workers, Is.Empty);
    }

    [Test]
    public async Task A_launch_failure_reaches_the_requester_with_the_exit_code_and_output()
    {
        var script = Dir.Script("broken.sh", "echo 'cannot import udf' >&2; exit 3");
        await using var pool = WorkerPool.Create(
            WorkerSpecification.FromProto(Specs.Direct([script])),
            new WorkerPoolOptions { Process = new WorkerProcessOptions { SocketDirectory = Dir.Path } });

        var error = Assert.ThrowsAsync<WorkerLaunchException>(async () => await pool.OpenSessionAsync());

        Assert.That(error!.Message, Does.Contain("exit code 3").And.Contain("cannot import udf"));
        Assert.That(pool.Workers, Is.Empty);
    }

    // Issue case: sessions failed by their pool's disposal said "Cannot access a disposed object ...
    // GrpcCall" instead of saying that the pool was closing.
    [Test]
    public async Task A_session_running_when_its_pool_closes_says_why_it_ended()
    {
        var pool = Pool();
        var session = await pool.OpenSessionAsync().DefaultTimeout();
        await session.InitAsync(Echo()).DefaultTimeout();
        var reading = session.ProcessAsync(OneThenWait()).ToListAsync();

        await pool.DisposeAsync().AsTask().DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(async () => await reading, Throws.InstanceOf<WorkerException>().Or.InstanceOf<OperationCanceledException>());
        // The reference worker cancels its streams when stopped (WorkerError + CancelResponse); a
        // stream that breaks instead names the pool's closing. Never a disposed object of gRPC's.
        Assert.That(outcome.Kind, Is.AnyOf(SessionOutcomeKind.Cancelled, SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Exception!.Message, Does.Contain("the pool is closing").Or.Contain("shutting down").Or.Contain("shut down"));
        Assert.That(outcome.Exception.ToString(), Does.Not.Contain("Cannot access a disposed object"));
    }

    [Test]
    public async Task A_session_initialised_after_its_pool_closed_says_the_pool_is_closing()
    {
        var pool = Pool();
        var session = await pool.OpenSessionAsync().DefaultTimeout();

        await pool.DisposeAsync().AsTask().DefaultTimeout();
        var error = Assert.ThrowsAsync<WorkerTransportException>(() => session.InitAsync(Echo()).DefaultTimeout());
        await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.Message, Does.Contain("the pool is closing"));
        Assert.That(error.Message, Does.Not.Contain("Cannot access a disposed object"));
    }
}
