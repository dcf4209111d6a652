using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Engine.Client.Workers;

namespace Engine.Client.Tests.Workers;

/// <summary>
/// Nothing outlives a killed engine: an engine process embedding a <see cref="WorkerPool"/> is
/// killed with SIGKILL and its worker, which does not watch its parent, goes with every process
/// of its group; the next pool removes the socket directory left behind. Also the parts: the
/// parent-death signal does not fire when the launching thread exits, the group watch, the sweep.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class EngineDeathTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static readonly string ReferenceWorker = Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    private static readonly string PoolHost = Path.Combine(AppContext.BaseDirectory, "Engine.Client.PoolHost");

    private TempDir _dir = null!;
    private readonly List<int> _pids = [];

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _pids.Clear();
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var pid in _pids.Where(Processes.IsAlive))
        {
            _ = NativeMethods.Kill(pid, NativeMethods.SIGKILL);
        }

        _dir.Dispose();
    }

    /// <summary>
    /// A worker that does not watch its parent: a shell script that starts a helper child (deaf
    /// to SIGTERM, its output away from the engine's pipes) and the reference worker as its server, and waits.
    /// </summary>
    private WorkerSpecification UnwatchfulWorker()
    {
        var script = _dir.Script("unwatchful-worker", $"""
            (trap '' TERM; exec sleep 100000) > /dev/null 2>&1 &
            echo $! > "{_dir.File("helper.pid")}"
            echo $$ > "{_dir.File("worker.pid")}"
            "{ReferenceWorker}" "$@" &
            wait $!
            """);
        return WorkerSpecification.FromProto(Specs.Direct([script], initializationTimeoutMs: 20_000, gracefulTerminationTimeoutMs: 1000));
    }

    private WorkerPoolOptions Options() => new() { Process = new WorkerProcessOptions { SocketDirectory = _dir.Path } };

    private static async Task<int> ServerPidAsync(WorkerClient client)
    {
        var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(5)).WaitAsync(Bound);
        return int.Parse(heartbeat.Metrics["pid"], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task Killing_an_engine_that_embeds_a_pool_kills_its_worker_and_the_worker_s_children_and_the_next_pool_removes_the_socket_directory()
    {
        var spec = UnwatchfulWorker();
        var specFile = _dir.File("unwatchful.spec.json");
        await File.WriteAllTextAsync(specFile, Google.Protobuf.JsonFormatter.Default.Format(spec.ToProto()));
        using var engine = Process.Start(new ProcessStartInfo(PoolHost)
        {
            ArgumentList = { specFile, _dir.Path },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        })!;
        _pids.Add(engine.Id);
        var address = await engine.StandardOutput.ReadLineAsync().WaitAsync(Bound);
        Assert.That(address, Is.Not.Null, "the engine printed its worker's address");
        using (var client = WorkerClient.Create(address!))
        {
            _pids.Add(await ServerPidAsync(client));
        }

        _pids.Add(Processes.ReadPid(_dir.File("worker.pid")));
        _pids.Add(Processes.ReadPid(_dir.File("helper.pid")));
        Assert.That(_pids.All(Processes.IsAlive), Is.True, "the engine, the worker, its server and its helper run");

        engine.Kill();
        await engine.WaitForExitAsync().WaitAsync(Bound);

        foreach (var pid in _pids)
        {
            Assert.That(await Processes.WaitForExitAsync(pid, Bound), Is.True, $"process {pid} outlived the killed engine");
        }

        var directory = Path.GetDirectoryName(WorkerAddress.Parse(address!).SocketPath)!;
        Assert.That(Directory.Exists(directory), Is.True, "the killed engine could not remove its socket directory");

        await using var next = WorkerPool.Create(spec, Options());

        Assert.That(Directory.Exists(directory), Is.False, "the next pool removed the directory of the dead engine");
    }

    [Test]
    public async Task Killing_an_engine_during_its_environment_installation_kills_the_installation()
    {
        // The installation tells its pid through a named pipe, then runs until killed.
        var gate = _dir.Fifo("gate");
        var install = _dir.Script("install", $"""
            echo $$ > "{gate}"
            exec sleep 100000
            """);
        var proto = Specs.Direct([ReferenceWorker], initializationTimeoutMs: 20_000);
        proto.Environment = new Engine.Client.Protocol.WorkerEnvironment { Installation = Specs.Callable(install) };
        var specFile = _dir.File("installing.spec.json");
        await File.WriteAllTextAsync(specFile, Google.Protobuf.JsonFormatter.Default.Format(proto));
        using var engine = Process.Start(new ProcessStartInfo(PoolHost)
        {
            ArgumentList = { specFile, _dir.Path },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        })!;
        _pids.Add(engine.Id);
        var step = int.Parse((await Task.Run(() => File.ReadAllText(gate)).WaitAsync(Bound)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        _pids.Add(step);
        Assert.That(Processes.IsAlive(step), Is.True, "the installation runs");

        engine.Kill();
        await engine.WaitForExitAsync().WaitAsync(Bound);

        Assert.That(await Processes.WaitForExitAsync(step, Bound), Is.True, "the installation outlived the killed engine");
    }

    [Test]
    public async Task A_worker_launched_from_a_thread_that_then_exits_keeps_running()
    {
        // PR_SET_PDEATHSIG fires when the thread that forked the process exits: a launch from a
        // short-lived thread must not tie the worker's life to that thread.
        WorkerProcess? worker = null;
        Exception? failure = null;
        var threadId = 0;
        var thread = new Thread(() =>
        {
            threadId = GetThreadId();
            try
            {
                worker = WorkerProcess.StartAsync(WorkerSpecification.FromProto(Specs.Direct([ReferenceWorker], initializationTimeoutMs: 20_000)), new WorkerProcessOptions { SocketDirectory = _dir.Path })
                    .WaitAsync(Bound).GetAwaiter().GetResult();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        Assert.That(thread.Join(Bound), Is.True);
        Assert.That(failure, Is.Null, failure?.ToString());
        await using var _ = worker!;
        _pids.Add(worker!.ProcessId);

        // The kernel signals the children of an exiting thread before the thread leaves
        // /proc/self/task; there is no event for another thread's end, so this waits for that
        // entry to go, bounded.
        var deadline = DateTime.UtcNow + Bound;
        while (Directory.Exists($"/proc/self/task/{threadId}") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.That(Directory.Exists($"/proc/self/task/{threadId}"), Is.False, "the launching thread has exited");
        Assert.DoesNotThrowAsync(() => worker.Client.HeartbeatAsync(TimeSpan.FromSeconds(5)).WaitAsync(Bound), "the worker still answers");
        Assert.That(worker.Exited.IsCompleted, Is.False);
    }

    [Test]
    public async Task A_worker_s_child_that_holds_none_of_its_output_is_killed_once_the_worker_is_stopped()
    {
        var worker = await WorkerProcess.StartAsync(UnwatchfulWorker(), new WorkerProcessOptions { SocketDirectory = _dir.Path }).WaitAsync(Bound);
        var helper = Processes.ReadPid(_dir.File("helper.pid"));
        _pids.Add(helper);

        await worker.StopAsync().WaitAsync(Bound);

        Assert.That(await Processes.WaitForExitAsync(helper, Bound), Is.True, "the helper left in the worker's group is killed");
    }

    [Test]
    public void Launched_processes_get_a_parent_death_signal_and_a_group_on_this_system()
    {
        // The tests above rely on both; .ci/run installs util-linux, which provides them.
        Assert.Multiple(() =>
        {
            Assert.That(ChildProcesses.ParentDeathSignalAvailable, Is.True, "setpriv --pdeathsig");
            Assert.That(ChildProcesses.ProcessGroupsAvailable, Is.True, "setsid");
        });
    }

    [Test]
    public void The_sweep_removes_directories_of_engines_that_are_gone_and_keeps_every_other()
    {
        var ns = EngineMark.Namespace!.Value;
        using var finished = Process.Start("/bin/true")!;
        finished.WaitForExit();
        var startOfSelf = EngineMark.Current.Split('-')[2];

        var own = MakeDirectory($"ecw-{EngineMark.Current}aaaaaa");
        var gone = MakeDirectory($"ecw-{ns}-{finished.Id}-12345-bbbbbb");
        var reused = MakeDirectory($"ecw-{ns}-{Environment.ProcessId}-{long.Parse(startOfSelf, System.Globalization.CultureInfo.InvariantCulture) + 1}-cccccc");
        var otherNamespace = MakeDirectory($"ecw-{ns + 1}-{finished.Id}-12345-dddddd");
        var oldFormat = MakeDirectory("ecw-eeeeee");
        File.WriteAllText(Path.Combine(gone, WorkerEndpoint.SocketFileName), string.Empty);

        var (removed, failed) = WorkerEndpoint.SweepAbandoned(_dir.Path);

        Assert.Multiple(() =>
        {
            Assert.That(removed, Is.EquivalentTo(new[] { gone, reused }));
            Assert.That(failed, Is.Empty);
            Assert.That(Directory.Exists(own), Is.True, "a running engine's directory stays");
            Assert.That(Directory.Exists(otherNamespace), Is.True, "another pid namespace cannot be checked");
            Assert.That(Directory.Exists(oldFormat), Is.True, "a name without an engine mark stays");
        });
    }

    private string MakeDirectory(string name)
    {
        var path = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(path);
        return path;
    }

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetThreadId();
}
