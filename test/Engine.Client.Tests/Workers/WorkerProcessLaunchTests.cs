using System.Runtime.Versioning;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Workers;
using Microsoft.Extensions.Time.Testing;

namespace Engine.Client.Tests.Workers;

/// <summary>Launch failures, against small scripts that misbehave in one precise way each.</summary>
[UnsupportedOSPlatform("windows")]
public class WorkerProcessLaunchTests : TempDirFixture
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private WorkerSpecification Spec(string script, int? initMs = null, int? graceMs = null, WorkerSpecificationOptions? options = null, bool tcp = false, string[]? arguments = null) =>
        WorkerSpecification.FromProto(
            Specs.Direct([script], initMs, graceMs, tcp, arguments, new Dictionary<string, string> { ["DIR"] = Dir.Path }),
            options);

    private static Task<WorkerProcess> Start(WorkerSpecification spec, WorkerProcessOptions? options = null, string? id = null, CancellationToken ct = default) =>
        WorkerProcess.StartAsync(spec, options, id, ct);

    private string SocketDirectoryOf(string connectionFile) => Path.GetDirectoryName(File.ReadAllText(Dir.File(connectionFile)).Trim())!;

    [Test]
    public void D18_a_worker_that_exits_at_once_fails_fast_with_its_exit_code_and_output()
    {
        var script = Dir.Script("worker", """
            echo "$4" > "$DIR/conn"
            echo "worker starting"
            echo "fatal: cannot load model" >&2
            exit 3
            """);

        // The initialization timeout is 30 s: failing within the bound proves the exit was noticed.
        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script, initMs: 30_000)).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Failure, Is.EqualTo(WorkerLaunchFailure.ExitedBeforeReady));
            Assert.That(ex.Exit!.ExitCode, Is.EqualTo(3));
            Assert.That(ex.Exit.Signal, Is.Null);
            Assert.That(ex.Message, Does.Contain("exited before it was ready: exit code 3"));
            Assert.That(ex.Message, Does.Contain("worker starting").And.Contain("fatal: cannot load model"));
            Assert.That(ex.OutputTail, Does.Contain("worker starting").And.Contain("fatal: cannot load model"));
            Assert.That(ex.Message, Does.Contain(script));
            Assert.That(Directory.Exists(SocketDirectoryOf("conn")), Is.False, "socket directory removed");
        });
    }

    [Test]
    public void D18_a_worker_killed_by_a_signal_is_reported_with_the_signal()
    {
        var script = Dir.Script("worker", """
            echo "about to crash"
            kill -9 $$
            """);

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script, initMs: 30_000)).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Exit!.ExitCode, Is.EqualTo(137));
            Assert.That(ex.Exit.Signal, Is.EqualTo(9));
            Assert.That(ex.Exit.StopRequested, Is.False);
            Assert.That(ex.Message, Does.Contain("exit code 137 (killed by signal 9, SIGKILL)").And.Contain("about to crash"));
        });
    }

    [Test]
    public void D19_a_worker_alive_but_never_listening_times_out_naming_the_value_and_is_stopped()
    {
        var script = Dir.Script("worker", """
            echo $$ > "$DIR/pid"
            echo "$4" > "$DIR/conn"
            echo "loading a very large model"
            exec sleep 600
            """);

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script, initMs: 1500)).WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Failure, Is.EqualTo(WorkerLaunchFailure.ReadinessTimeout));
            Assert.That(ex.Message, Does.Contain("did not become ready within 1.5 s (direct.properties.initializationTimeoutMs = 1500)"));
            Assert.That(ex.Message, Does.Contain("loading a very large model"));
            Assert.That(ex.Message, Does.Contain("no socket file exists"));
            Assert.That(ex.OutputTail, Does.Contain("loading a very large model"));
            Assert.That(Processes.IsAlive(Processes.ReadPid(Dir.File("pid"))), Is.False, "the worker was stopped");
            Assert.That(Directory.Exists(SocketDirectoryOf("conn")), Is.False, "socket directory removed");
        });
    }

    [Test]
    public void D19_the_default_initialization_timeout_is_named_when_the_spec_sets_none()
    {
        var script = Dir.Script("worker", "exec sleep 600");
        var spec = Spec(script, options: new WorkerSpecificationOptions { MaxInitializationTimeout = TimeSpan.FromSeconds(1) });

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(spec).WaitAsync(Bound));

        Assert.That(ex!.Message, Does.Contain("did not become ready within 1 s (the default initialization timeout, since direct.properties.initializationTimeoutMs is not set)"));
    }

    [Test]
    public void The_initialization_deadline_runs_on_the_configured_clock()
    {
        // Ten minutes of initialization on a clock that moves a minute each time it is read: the
        // launch must end within the real-time bound, so the deadline is measured on that clock.
        var script = Dir.Script("worker", "exec sleep 600");
        var spec = Spec(script, initMs: 600_000, options: new WorkerSpecificationOptions { MaxInitializationTimeout = TimeSpan.FromHours(1) });
        var clock = new FakeTimeProvider { AutoAdvanceAmount = TimeSpan.FromMinutes(1) };
        var options = new WorkerProcessOptions { ReadinessPollInterval = TimeSpan.Zero, Client = new WorkerClientOptions { TimeProvider = clock } };

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(spec, options).WaitAsync(Bound));

        Assert.That(ex!.Message, Does.Contain("did not become ready within 600 s"));
    }

    [Test]
    public void D33_a_socket_file_without_a_listening_server_is_not_ready()
    {
        // Binds the socket (the file appears) but never listens: connecting is refused.
        const string Code = "import os, socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[4])\nopen(os.environ['DIR'] + '/bound', 'w').write(sys.argv[4])\ntime.sleep(600)\n";
        var spec = WorkerSpecification.FromProto(Specs.Direct(["python3", "-c", Code], initializationTimeoutMs: 1500, environment: new Dictionary<string, string> { ["DIR"] = Dir.Path }));

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(spec).WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Failure, Is.EqualTo(WorkerLaunchFailure.ReadinessTimeout));
            Assert.That(Dir.ReadOrNull("bound"), Is.Not.Null, "the socket file existed");
            Assert.That(ex.Message, Does.Contain("connection refused"));
            Assert.That(Directory.Exists(SocketDirectoryOf("bound")), Is.False, "socket file and directory removed (D16)");
        });
    }

    [Test]
    public void D33_a_socket_that_accepts_connections_but_never_answers_is_not_ready()
    {
        // Listens (the kernel completes connections into the backlog) but never accepts or speaks HTTP/2.
        const string Code = "import os, socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[4])\ns.listen(64)\nopen(os.environ['DIR'] + '/bound', 'w').write(sys.argv[4])\ntime.sleep(600)\n";
        var spec = WorkerSpecification.FromProto(Specs.Direct(["python3", "-c", Code], initializationTimeoutMs: 1500, environment: new Dictionary<string, string> { ["DIR"] = Dir.Path }));

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(spec, new WorkerProcessOptions { ReadinessProbeTimeout = TimeSpan.FromMilliseconds(500) }).WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Failure, Is.EqualTo(WorkerLaunchFailure.ReadinessTimeout));
            Assert.That(Dir.ReadOrNull("bound"), Is.Not.Null, "the socket file existed");
            Assert.That(Directory.Exists(SocketDirectoryOf("bound")), Is.False, "socket file and directory removed (D16)");
        });
    }

    [Test]
    public void D11_the_socket_directory_is_private_and_the_socket_path_is_passed()
    {
        var script = Dir.Script("worker", """
            stat -c %a "$(dirname "$4")" > "$DIR/mode"
            echo "$4" > "$DIR/conn"
            exit 1
            """);

        Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script)).WaitAsync(Bound));

        var socket = Dir.ReadOrNull("conn")!.Trim();
        Assert.Multiple(() =>
        {
            Assert.That(Dir.ReadOrNull("mode")!.Trim(), Is.EqualTo("700"));
            Assert.That(Path.GetFileName(socket), Is.EqualTo("w.sock"));
            Assert.That(socket, Does.StartWith("/tmp/ecw-"));
        });
    }

    [Test]
    public void The_command_line_is_command_then_arguments_then_id_and_connection_with_the_environment_added()
    {
        var script = Dir.Script("worker", """
            for a in "$@"; do echo "$a"; done > "$DIR/args"
            echo "$EXTRA|$HOME" > "$DIR/env"
            exit 1
            """);
        var proto = Specs.Direct(
            ["sh", script, "lead one"],
            arguments: ["--verbose", "two words"],
            environment: new Dictionary<string, string> { ["DIR"] = Dir.Path, ["EXTRA"] = "x y" });

        Assert.ThrowsAsync<WorkerLaunchException>(() => Start(WorkerSpecification.FromProto(proto), id: "w-test-1").WaitAsync(Bound));

        var args = File.ReadAllLines(Dir.File("args"));
        Assert.Multiple(() =>
        {
            Assert.That(args[..6], Is.EqualTo(new[] { "lead one", "--verbose", "two words", "--id", "w-test-1", "--connection" }));
            Assert.That(args[6], Does.StartWith("/tmp/ecw-").And.EndWith("/w.sock"));
            Assert.That(args, Has.Length.EqualTo(7));
            Assert.That(Dir.ReadOrNull("env")!.Trim(), Is.EqualTo("x y|" + Environment.GetEnvironmentVariable("HOME")), "spec variables added to the inherited environment");
        });
    }

    [Test]
    public void Tcp_passes_a_free_loopback_port()
    {
        var script = Dir.Script("worker", """
            echo "$4" > "$DIR/conn"
            exit 1
            """);

        Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script, tcp: true)).WaitAsync(Bound));

        var port = int.Parse(Dir.ReadOrNull("conn")!.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(port, Is.InRange(1, 65535));
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        Assert.DoesNotThrow(() => probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port)), "the port was released for the worker");
    }

    [Test]
    public void A_socket_path_over_107_bytes_fails_before_anything_starts()
    {
        var script = Dir.Script("worker", "touch \"$DIR/started\"; exit 1");
        var options = new WorkerProcessOptions { SocketDirectory = "/tmp/" + new string('d', 100) };

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script), options).WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Failure, Is.EqualTo(WorkerLaunchFailure.EndpointUnavailable));
            Assert.That(ex.Message, Does.Contain("at most 107").And.Contain("SocketDirectory"));
            Assert.That(Dir.ReadOrNull("started"), Is.Null);
        });
    }

    [Test]
    public void A_command_not_on_path_fails_clearly()
    {
        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(WorkerSpecification.FromProto(Specs.Direct(["no-such-worker-7f3a"]))).WaitAsync(Bound));
        Assert.Multiple(() =>
        {
            Assert.That(ex!.Failure, Is.EqualTo(WorkerLaunchFailure.StartFailed));
            Assert.That(ex.Message, Does.Contain("direct.runner.command[0] 'no-such-worker-7f3a' was not found on PATH"));
        });
    }

    [Test]
    public void A_bare_name_is_found_on_the_path_the_spec_gives_the_worker()
    {
        Dir.Script("my-worker", "exit 7");
        var proto = Specs.Direct(["my-worker"], environment: new Dictionary<string, string> { ["PATH"] = Dir.Path + ":/usr/bin:/bin" });

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(WorkerSpecification.FromProto(proto)).WaitAsync(Bound));

        Assert.That(ex!.Exit!.ExitCode, Is.EqualTo(7), "the script ran");
    }

    [Test]
    public void A_relative_command_is_resolved_against_the_spec_file_directory()
    {
        Directory.CreateDirectory(Dir.File("bin"));
        Dir.Script("bin/worker", "exit 5");
        File.WriteAllText(Dir.File("spec.json"), WorkerSpecification.FromProto(Specs.Direct(["./bin/worker"])).ToJson());

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(WorkerSpecification.Load(Dir.File("spec.json"))).WaitAsync(Bound));

        Assert.That(ex!.Exit!.ExitCode, Is.EqualTo(5), "the script next to the spec ran");
    }

    [Test]
    public void A_command_that_is_not_executable_fails_clearly()
    {
        File.WriteAllText(Dir.File("worker"), "exit 0\n");
        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(WorkerSpecification.FromProto(Specs.Direct([Dir.File("worker")]))).WaitAsync(Bound));
        Assert.That(ex!.Message, Does.Contain("is not executable").And.Contain("chmod +x"));
    }

    [Test]
    public void An_invalid_spec_is_refused_before_anything_starts()
    {
        var proto = Specs.Direct(["w"]);
        proto.Direct.Properties.Connection = null;
        Assert.ThrowsAsync<WorkerSpecificationException>(() => Start(WorkerSpecification.FromProto(proto)));
    }

    [Test]
    public void D4_a_worker_ignoring_sigterm_is_killed_after_the_graceful_timeout()
    {
        // Never ready, so the launch stops it: SIGTERM (recorded and ignored), then SIGKILL.
        var script = Dir.Script("worker", """
            trap 'echo TERM >> "$DIR/signals"' TERM
            echo $$ > "$DIR/pid"
            while :; do sleep 600 & wait $!; done
            """);

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script, initMs: 1000, graceMs: 300)).WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Failure, Is.EqualTo(WorkerLaunchFailure.ReadinessTimeout));
            Assert.That(Dir.ReadOrNull("signals"), Does.StartWith("TERM"), "SIGTERM came first and was ignored");
            Assert.That(Processes.IsAlive(Processes.ReadPid(Dir.File("pid"))), Is.False, "SIGKILL ended it");
        });
    }

    [Test]
    public void D8_the_graceful_timeout_from_the_spec_is_capped()
    {
        var script = Dir.Script("worker", """
            trap '' TERM
            echo $$ > "$DIR/pid"
            while :; do sleep 600 & wait $!; done
            """);
        var options = new WorkerSpecificationOptions { MaxGracefulTerminationTimeout = TimeSpan.FromMilliseconds(300) };

        // Ten minutes of grace asked for; the cap makes the stop finish within the bound.
        Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script, initMs: 1000, graceMs: 600_000, options: options)).WaitAsync(Bound));

        Assert.That(Processes.IsAlive(Processes.ReadPid(Dir.File("pid"))), Is.False);
    }

    [Test]
    public void D9_the_initialization_timeout_from_the_spec_is_capped()
    {
        var script = Dir.Script("worker", "exec sleep 600");
        var options = new WorkerSpecificationOptions { MaxInitializationTimeout = TimeSpan.FromSeconds(1) };

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(script, initMs: 600_000, options: options)).WaitAsync(Bound));

        Assert.That(ex!.Message, Does.Contain("did not become ready within 1 s (direct.properties.initializationTimeoutMs = 600000, capped at 1 s by WorkerSpecificationOptions.MaxInitializationTimeout)"));
    }

    [Test]
    public async Task D13_a_cancelled_launch_stops_the_process_and_removes_its_directory()
    {
        var gate = Dir.Fifo("gate");
        var script = Dir.Script("worker", """
            echo "$4" > "$DIR/conn"
            echo $$ > "$DIR/gate"
            exec sleep 600
            """);
        using var cts = new CancellationTokenSource();

        var launch = Start(Spec(script, initMs: 30_000), ct: cts.Token);
        var pid = int.Parse((await Task.Run(() => File.ReadAllText(gate)).WaitAsync(Bound)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(Processes.IsAlive(pid), Is.True);
        await cts.CancelAsync();

        Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => launch.WaitAsync(Bound));
        Assert.Multiple(() =>
        {
            Assert.That(Processes.IsAlive(pid), Is.False);
            Assert.That(Directory.Exists(SocketDirectoryOf("conn")), Is.False);
        });
    }

    [Test]
    public void D32_stopping_a_launcher_stops_the_inner_worker_it_started()
    {
        var inner = Dir.Script("inner", """
            echo $$ > "$DIR/inner.pid"
            echo "inner got $3 $4"
            exec sleep 600
            """);
        var launcher = Dir.Script("launcher", $"""
            "{inner}" "$@" &
            wait
            """);

        var ex = Assert.ThrowsAsync<WorkerLaunchException>(() => Start(Spec(launcher, initMs: 1000, graceMs: 5000)).WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.OutputTail, Does.Contain("inner got --connection /tmp/ecw-"), "the launcher forwarded --connection");
            Assert.That(Processes.IsAlive(Processes.ReadPid(Dir.File("inner.pid"))), Is.False, "the inner worker was stopped with its launcher");
        });
    }
}
