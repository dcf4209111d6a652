using System.Runtime.Versioning;
using Engine.Client.Workers;

namespace Engine.Client.Tests.Workers;

/// <summary>Launching, watching and stopping the project's reference worker as a real process.</summary>
[UnsupportedOSPlatform("windows")]
public class WorkerProcessTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static readonly string ReferenceWorker = Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        Assert.That(File.Exists(ReferenceWorker), Is.True, "the reference worker's apphost is built next to the tests");
        _dir = new TempDir();
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static Task<WorkerProcess> Start(string command, bool tcp = false, int? graceMs = null, IDictionary<string, string>? environment = null) =>
        WorkerProcess.StartAsync(WorkerSpecification.FromProto(Specs.Direct([command], initializationTimeoutMs: 20_000, gracefulTerminationTimeoutMs: graceMs, tcp: tcp, environment: environment))).WaitAsync(Bound);

    private static int ProcessGroupOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task D11_D12_a_ready_worker_serves_from_a_private_directory_that_stop_removes()
    {
        var worker = await Start(ReferenceWorker);
        var directory = worker.SocketDirectory!;

        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(directory), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
            Assert.That(worker.Address.SocketPath, Is.EqualTo(Path.Combine(directory, "w.sock")));
            Assert.That(File.Exists(worker.Address.SocketPath), Is.True);
            Assert.That(worker.Exited.IsCompleted, Is.False);
            Assert.That(worker.CommandLine.TakeLast(4), Is.EqualTo(new[] { "--id", worker.Id, "--connection", worker.Address.SocketPath }));
        });
        Assert.DoesNotThrowAsync(() => worker.Client.HeartbeatAsync(TimeSpan.FromSeconds(5)));

        var exit = await worker.StopAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.Not.Null);
            Assert.That(exit!.ExitCode, Is.Zero, "the worker exited on the Manage shutdown");
            Assert.That(exit.StopRequested, Is.True);
            Assert.That(worker.Exited.IsCompleted, Is.True);
            Assert.That(Directory.Exists(directory), Is.False);
            Assert.That(Processes.IsAlive(worker.ProcessId), Is.False);
        });
    }

    [Test]
    public async Task A_tcp_worker_is_ready_on_its_loopback_port()
    {
        await using var worker = await Start(ReferenceWorker, tcp: true);

        Assert.Multiple(() =>
        {
            Assert.That(worker.Address.Transport, Is.EqualTo(WorkerTransport.Tcp));
            Assert.That(worker.Address.HttpUri!.Host, Is.EqualTo("127.0.0.1"));
            Assert.That(worker.SocketDirectory, Is.Null);
        });
        Assert.DoesNotThrowAsync(() => worker.Client.HeartbeatAsync(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public async Task The_worker_runs_in_its_own_process_group()
    {
        await using var worker = await Start(ReferenceWorker);

        Assert.Multiple(() =>
        {
            Assert.That(worker.UsesProcessGroup, Is.True);
            Assert.That(ProcessGroupOf(worker.ProcessId), Is.EqualTo(worker.ProcessId));
        });
    }

    [Test]
    public async Task D06_stop_is_idempotent_and_safe_to_call_concurrently()
    {
        var worker = await Start(ReferenceWorker);

        var stops = Enumerable.Range(0, 8).Select(i => Task.Run(() => i % 2 == 0 ? worker.StopAsync() : worker.DisposeAsync().AsTask().ContinueWith(_ => (WorkerProcessExit?)null, TaskScheduler.Default))).ToArray();
        await Task.WhenAll(stops).WaitAsync(Bound);
        var again = await worker.StopAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(stops.Where((_, i) => i % 2 == 0).Select(s => s.Result), Is.All.SameAs(again));
            Assert.That(again!.ExitCode, Is.Zero);
            Assert.That(Directory.Exists(worker.SocketDirectory), Is.False);
        });
    }

    [Test]
    public async Task The_exit_watch_reports_a_worker_killed_from_outside()
    {
        await using var worker = await Start(ReferenceWorker);

        Assert.That(NativeMethods.Kill(worker.ProcessId, NativeMethods.SIGKILL), Is.Zero);
        var exit = await worker.Exited.WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(exit.ExitCode, Is.EqualTo(137));
            Assert.That(exit.Signal, Is.EqualTo(9));
            Assert.That(exit.StopRequested, Is.False);
            Assert.That(exit.ToString(), Is.EqualTo("exit code 137 (killed by signal 9, SIGKILL)"));
        });
    }

    [Test]
    public async Task The_exit_watch_reports_a_worker_that_ends_on_its_own()
    {
        await using var worker = await Start(ReferenceWorker);

        await worker.Client.ShutdownAsync("test", cancelSessions: false, TimeSpan.FromSeconds(5));
        var exit = await worker.Exited.WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(exit.ExitCode, Is.Zero);
            Assert.That(exit.Signal, Is.Null);
            Assert.That(exit.StopRequested, Is.False);
        });
    }

    [Test]
    public async Task D4_a_ready_worker_ignoring_shutdown_and_sigterm_is_killed_after_the_graceful_timeout()
    {
        // The launcher outlives the worker's Manage shutdown and ignores SIGTERM (recording it).
        var launcher = _dir.Script("launcher", $"""
            trap 'echo TERM >> "{_dir.File("signals")}"' TERM
            "{ReferenceWorker}" "$@" &
            while :; do sleep 600 & wait $!; done
            """);
        var worker = await Start(launcher, graceMs: 500);
        Assert.DoesNotThrowAsync(() => worker.Client.HeartbeatAsync(TimeSpan.FromSeconds(5)));

        var exit = await worker.StopAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(_dir.ReadOrNull("signals"), Does.StartWith("TERM"), "SIGTERM first, ignored");
            Assert.That(exit!.Signal, Is.EqualTo(9), "then SIGKILL");
            Assert.That(exit.StopRequested, Is.True);
            Assert.That(Directory.Exists(worker.SocketDirectory), Is.False);
        });
    }

    [Test]
    public async Task D32_a_launcher_forwarding_connection_works_and_killing_it_stops_the_inner_worker()
    {
        var launcher = _dir.Script("launcher", $"""
            "{ReferenceWorker}" "$@" &
            echo $! > "{_dir.File("inner.pid")}"
            wait
            """);
        await using var worker = await Start(launcher);
        var inner = Processes.ReadPid(_dir.File("inner.pid"));
        Assert.DoesNotThrowAsync(() => worker.Client.HeartbeatAsync(TimeSpan.FromSeconds(5)), "the inner worker serves the forwarded --connection");

        // Only the launcher dies; the inner worker notices its parent is gone and exits, which
        // closes the output it inherited.
        Assert.That(NativeMethods.Kill(worker.ProcessId, NativeMethods.SIGKILL), Is.Zero);
        var exit = await worker.Exited.WaitAsync(Bound);
        await worker.OutputClosed.WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(exit.Signal, Is.EqualTo(9));
            Assert.That(Processes.IsAlive(inner), Is.False);
        });
    }

    [Test]
    public async Task D32_stopping_after_the_launcher_was_killed_stops_the_inner_worker_at_once()
    {
        var launcher = _dir.Script("launcher", $"""
            "{ReferenceWorker}" "$@" &
            echo $! > "{_dir.File("inner.pid")}"
            wait
            """);
        var worker = await Start(launcher);
        var inner = Processes.ReadPid(_dir.File("inner.pid"));

        Assert.That(NativeMethods.Kill(worker.ProcessId, NativeMethods.SIGKILL), Is.Zero);
        await worker.Exited.WaitAsync(Bound);
        await worker.StopAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(Processes.IsAlive(inner), Is.False, "SIGTERM to the process group reached the inner worker");
            Assert.That(Directory.Exists(worker.SocketDirectory), Is.False);
        });
    }

    [Test]
    public async Task The_shipped_example_spec_launches_the_reference_worker_found_on_path()
    {
        var proto = WorkerSpecification.Load(Path.Combine(Specs.RepositoryRoot(), "docs", "examples", "reference-worker.spec.json")).ToProto();
        proto.Direct.Runner.EnvironmentVariables["PATH"] = AppContext.BaseDirectory + ":" + Environment.GetEnvironmentVariable("PATH");

        await using var worker = await WorkerProcess.StartAsync(WorkerSpecification.FromProto(proto)).WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(worker.CommandLine[0], Is.EqualTo(ReferenceWorker));
            Assert.That(worker.Address.Transport, Is.EqualTo(WorkerTransport.UnixDomainSocket));
        });
        Assert.DoesNotThrowAsync(() => worker.Client.HeartbeatAsync(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public async Task Stopping_with_cancel_sessions_still_stops_and_cleans_up()
    {
        var worker = await Start(ReferenceWorker);

        var exit = await worker.StopAsync(cancelSessions: true, reason: "pool closing").WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(exit!.ExitCode, Is.Zero);
            Assert.That(Directory.Exists(worker.SocketDirectory), Is.False);
        });
        Assert.ThrowsAsync<ObjectDisposedException>(() => worker.Client.HeartbeatAsync());
    }
}
