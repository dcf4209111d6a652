using System.Globalization;
using System.Net.Sockets;
using Engine.Client.Conformance;
using Engine.Client.Protocol;
using Grpc.Core;
using static Engine.Client.Tests.ReferenceWorker.WireScript;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>The worker as a process: command line, signals, parent death, socket files, Manage, limits.</summary>
[TestFixture]
public sealed class ReferenceWorkerProcessTests
{
    private static readonly TimeSpan ExitBound = TimeSpan.FromSeconds(10);

    [Test]
    public async Task Sigterm_makes_it_exit_promptly_with_code_0_and_remove_its_socket()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();

        worker.Signal(ReferenceWorkerProcess.SigTerm);

        Assert.That(await worker.WaitForExitAsync(ExitBound), Is.EqualTo(0), worker.Describe());
        Assert.That(File.Exists(worker.SocketPath), Is.False);
        Assert.That(worker.Stdout, Does.Contain($"ready id={worker.Id} connection={worker.SocketPath} pid="));
    }

    [Test]
    public async Task Sigterm_cancels_live_streams_with_a_WorkerError_and_CancelResponse_and_still_exits_promptly()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var idle = Open(worker);
        await StartAsync(idle, Echo());
        using var busy = Open(worker);
        await StartAsync(busy, Fault("slow:600000"));
        await busy.SendAsync(Data("a"), "DataRequest");
        using var deaf = Open(worker);
        await StartAsync(deaf, Fault("ignore-finish-and-cancel"));
        await deaf.SendFinishAsync();

        worker.Signal(ReferenceWorkerProcess.SigTerm);

        // Even the stream whose UDF went deaf is cancelled by the worker itself.
        foreach (var stream in new[] { idle, busy, deaf })
        {
            var error = await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.Worker);
            await stream.ExpectCancelAsync();
            await stream.ExpectCleanEndAsync();
            Assert.That(error.Worker.Message, Does.StartWith("worker is shutting down: "));
        }

        Assert.That(await worker.WaitForExitAsync(ExitBound), Is.EqualTo(0), worker.Describe());
    }

    [Test]
    public async Task A_stale_socket_file_is_removed_at_start()
    {
        string? planted = null;
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions
        {
            BeforeStart = directory =>
            {
                // A socket file nobody listens on, as a crashed worker leaves it.
                planted = Path.Combine(directory, "w.sock");
                using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                socket.Bind(new UnixDomainSocketEndPoint(planted));
            },
        });

        Assert.That(planted, Is.EqualTo(worker.SocketPath));
        var heartbeat = await worker.CreateClient().HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(worker.Id));
    }

    [Test]
    public async Task A_socket_with_a_live_server_is_not_taken_over()
    {
        await using var first = await ReferenceWorkerProcess.StartAsync();

        var (exitCode, _, stderr) = await ReferenceWorkerProcess.RunToExitAsync(["--id", "second", "--connection", first.SocketPath!], ExitBound);

        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("another server is already listening on " + first.SocketPath));
        await first.CreateClient().HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [TestCase(new string[0], "missing --id <id>")]
    [TestCase(new[] { "--id", "w" }, "missing --connection <socket path or port>")]
    [TestCase(new[] { "--connection", "/tmp/x.sock" }, "missing --id <id>")]
    [TestCase(new[] { "--id", "w", "--connection", "0" }, "--connection '0' is not a TCP port between 1 and 65535")]
    [TestCase(new[] { "--id", "w", "--connection", "70000" }, "--connection '70000' is not a TCP port between 1 and 65535")]
    [TestCase(new[] { "--id", "w", "--connection" }, "--connection needs a value")]
    [TestCase(new[] { "--id", "w", "--connection", "/tmp/x.sock", "--fault", "reject-unknown-flags", "--bogus" }, "unknown argument '--bogus'")]
    [TestCase(new[] { "--id", "w", "--connection", "/tmp/x.sock", "--fault", "nope" }, "--fault 'nope' is not reject-unknown-flags or ignore-parent-death")]
    [TestCase(new[] { "--id", "w", "--connection", "/tmp/x.sock", "stray" }, "unknown argument 'stray'")]
    [TestCase(new[] { "--id", "w", "--connection", "/tmp/x.sock", "--max-message-size", "lots" }, "--max-message-size 'lots' is not a number")]
    [TestCase(new[] { "--id", "w", "--connection", "/tmp/x.sock", "--http2-stream-window", "1000" }, "--http2-stream-window '1000' is not a number of bytes between 65535")]
    [TestCase(new[] { "--id", "w", "--connection", "/tmp/x.sock", "--http2-max-frame-size", "16777216" }, "--http2-max-frame-size '16777216' is not a number of bytes between 16384 and 16777215")]
    public async Task Bad_arguments_exit_with_code_2_and_one_clear_line_on_stderr(string[] arguments, string message)
    {
        var (exitCode, stdout, stderr) = await ReferenceWorkerProcess.RunToExitAsync(arguments, ExitBound);

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2));
            Assert.That(stderr, Does.StartWith("Engine.ReferenceWorker: " + message));
            Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one line");
            Assert.That(stderr, Does.Contain("usage: Engine.ReferenceWorker --id <id> --connection <socket path|port>"));
            Assert.That(stdout, Is.Empty);
        });
    }

    [Test]
    public async Task Unknown_flags_after_id_and_connection_are_ignored_with_a_warning_naming_them()
    {
        // A later engine may pass more flags than --id and --connection (docs/protocol.md, worker
        // process recommendations): in either form, with or without a value.
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions
        {
            ExtraArguments = ["--later-engine-flag", "value", "--later-engine-option=value", "--later-engine-switch", "--verbose"],
        });

        await worker.CreateClient().HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));

        // Its exit closes its output: everything it wrote has been read.
        worker.Signal(ReferenceWorkerProcess.SigTerm);
        Assert.That(await worker.WaitForExitAsync(ExitBound), Is.Zero, worker.Stderr);
        Assert.That(worker.Stderr, Does.Contain("Engine.ReferenceWorker: ignoring unknown arguments: --later-engine-flag value, --later-engine-option=value, --later-engine-switch\n"));
    }

    [Test]
    public async Task Killing_its_parent_makes_it_exit()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { ThroughShell = true });
        var heartbeat = await worker.CreateClient().HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(int.Parse(heartbeat.Metrics["pid"], CultureInfo.InvariantCulture), Is.Not.EqualTo(worker.Process.Id), "the shell is the parent");

        worker.Signal(ReferenceWorkerProcess.SigKill);

        // The worker shares the shell's output pipes: they close only once the worker exited too.
        await worker.WaitForExitAsync(ExitBound);
        Assert.That(worker.Stderr, Does.Contain("The parent process died"));
        Assert.That(File.Exists(worker.SocketPath), Is.False, "it stopped cleanly and removed its socket");
    }

    [Test]
    public async Task The_heartbeat_answers_at_once_while_streams_are_busy_or_stuck()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var busy = Open(worker);
        await StartAsync(busy, Fault("slow:600000"));
        await busy.SendAsync(Data("a"), "DataRequest");
        using var silent = Open(worker);
        await silent.SendInitAsync(Fault("silent"));
        using var stuck = Open(worker);
        await StartAsync(stuck, Fault("ignore-finish-and-cancel"));
        await stuck.SendFinishAsync();
        var crowd = new List<ConformanceStream>();
        for (var i = 0; i < 24; i++)
        {
            var stream = Open(worker);
            crowd.Add(stream);
            await StartAsync(stream, Fault("slow:600000"));
            await stream.SendAsync(Data("a"), "DataRequest");
        }

        await using var client = worker.CreateClient();
        var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(2)).WaitAsync(TimeSpan.FromSeconds(30));

        var metrics = heartbeat.Metrics;
        Assert.Multiple(() =>
        {
            Assert.That(metrics.Keys, Is.SupersetOf(new[]
            {
                "worker_id", "pid", "uptime_ms", "active_sessions", "sessions_total", "sessions_finished", "sessions_cancelled",
                "batches_in", "batches_out", "bytes_in", "bytes_out", "working_set_bytes", "gc_heap_bytes",
            }));
            Assert.That(metrics["worker_id"], Is.EqualTo(worker.Id));
            Assert.That(metrics["pid"], Is.EqualTo(worker.Process.Id.ToString(CultureInfo.InvariantCulture)));
            // The silent stream's Init is never answered, so it may not have reached the worker yet.
            Assert.That(int.Parse(metrics["active_sessions"], CultureInfo.InvariantCulture), Is.InRange(26, 27));
            Assert.That(int.Parse(metrics["sessions_total"], CultureInfo.InvariantCulture), Is.InRange(26, 27));
            Assert.That(long.Parse(metrics["working_set_bytes"], CultureInfo.InvariantCulture), Is.GreaterThan(0));
        });

        crowd.ForEach(s => s.Dispose());
    }

    [Test]
    public async Task Heartbeat_counts_finished_and_cancelled_sessions()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using (var finished = Open(worker))
        {
            await StartAsync(finished, Echo());
            await finished.SendAsync(Data("abc"), "DataRequest");
            await finished.ExpectDataAsync("an echo");
            await finished.SendFinishAsync();
            await finished.ExpectFinishAsync();
            await finished.ExpectCleanEndAsync();
        }

        using (var cancelled = Open(worker))
        {
            await StartAsync(cancelled, Echo());
            await cancelled.SendCancelAsync();
            await cancelled.ExpectCancelAsync();
            await cancelled.ExpectCleanEndAsync();
        }

        // Both calls ended with status OK after the worker's handler returned, so the counts are final.
        var metrics = (await worker.CreateClient().HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30))).Metrics;
        Assert.Multiple(() =>
        {
            Assert.That(metrics["sessions_total"], Is.EqualTo("2"));
            Assert.That(metrics["sessions_finished"], Is.EqualTo("1"));
            Assert.That(metrics["sessions_cancelled"], Is.EqualTo("1"));
            Assert.That(metrics["active_sessions"], Is.EqualTo("0"));
            Assert.That(metrics["bytes_in"], Is.EqualTo("3"));
            Assert.That(metrics["batches_out"], Is.EqualTo("1"));
        });
    }

    [Test]
    public async Task Shutdown_without_cancelling_lets_live_streams_finish_refuses_new_ones_then_exits()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var live = Open(worker);
        await StartAsync(live, Echo());
        await using var client = worker.CreateClient();

        var shutdown = await client.ShutdownAsync("test", cancelSessions: false, TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(shutdown.SessionsSettled, Is.False, "a stream was still live");

        using (var refused = Open(worker))
        {
            await refused.SendInitAsync(Echo());
            var failure = Assert.ThrowsAsync<ConformanceFailure>(() => refused.ReadAsync("a refusal"));
            Assert.That(failure!.Message, Does.Contain("gRPC status Unavailable 'worker is shutting down'"));
        }

        await live.SendAsync(Data("still served"), "DataRequest");
        Assert.That((await live.ExpectDataAsync("an echo")).ToStringUtf8(), Is.EqualTo("still served"));
        await live.SendFinishAsync();
        await live.ExpectFinishAsync();
        await live.ExpectCleanEndAsync();

        Assert.That(await worker.WaitForExitAsync(ExitBound), Is.EqualTo(0), worker.Describe());
    }

    [Test]
    public async Task Shutdown_with_cancel_sessions_cancels_every_live_stream_settles_them_and_exits()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var idle = Open(worker);
        await StartAsync(idle, Echo());
        using var busy = Open(worker);
        await StartAsync(busy, Fault("slow:600000"));
        await busy.SendAsync(Data("a"), "DataRequest");
        using var failed = Open(worker);
        await StartAsync(failed, Fault("user-error"));
        await failed.SendAsync(Data("a"), "DataRequest");
        await failed.ExpectErrorAsync(ExecutionError.KindOneofCase.User);
        await using var client = worker.CreateClient();

        var shutdown = client.ShutdownAsync("maintenance", cancelSessions: true, TimeSpan.FromSeconds(10));

        foreach (var stream in new[] { idle, busy })
        {
            var error = await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.Worker);
            await stream.ExpectCancelAsync();
            await stream.ExpectCleanEndAsync();
            Assert.That(error.Worker.Message, Is.EqualTo("worker is shutting down: maintenance"));
        }

        // At most one error per stream: the one that already failed gets just the terminator.
        await failed.ExpectCancelAsync();
        await failed.ExpectCleanEndAsync();

        Assert.That((await shutdown.WaitAsync(TimeSpan.FromSeconds(30))).SessionsSettled, Is.True);
        Assert.That(await worker.WaitForExitAsync(ExitBound), Is.EqualTo(0), worker.Describe());
    }

    [Test]
    public async Task An_engine_that_stops_reading_does_not_hold_a_shutdown_or_the_exit()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { ExtraArguments = ["--terminator-grace-ms", "300"] });
        using var stream = Open(worker);
        await StartAsync(stream, Fault("big-output:16777216"));
        for (var i = 0; i < 4; i++)
        {
            // 64 MiB of output that is never read: the worker's writes stall on flow control.
            await stream.SendAsync(Data("x"), "DataRequest");
        }

        // The first 16 MiB were handed to the writer, which cannot finish them: the engine reads nothing.
        await worker.WaitForMetricAsync("bytes_out", value => value >= 16777216, TimeSpan.FromSeconds(20));

        await using var client = worker.CreateClient();
        var shutdown = await client.ShutdownAsync("stuck engine", cancelSessions: true, TimeSpan.FromSeconds(20)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(shutdown.SessionsSettled, Is.True, "the stuck stream was aborted, so nothing is live any more");
        Assert.That(await worker.WaitForExitAsync(ExitBound), Is.EqualTo(0), worker.Describe());
        Assert.That(worker.Stderr, Does.Contain("the engine read no output for 300 ms after the stream ended; aborting the call"));
    }

    [Test]
    public async Task A_message_above_the_configured_maximum_is_refused()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { ExtraArguments = ["--max-message-size", "1048576"] });
        using var stream = Open(worker);
        await StartAsync(stream, Echo());

        try
        {
            await stream.SendDataAsync(new byte[2 * 1024 * 1024]);
        }
        catch (ConformanceFailure)
        {
            // The worker may end the call before the client finished writing; the status tells why.
        }

        var failure = Assert.ThrowsAsync<ConformanceFailure>(() => stream.ReadAsync("a refusal"));
        Assert.That(failure!.Message, Does.Contain("ResourceExhausted"));
    }

    [Test]
    public async Task Help_prints_the_usage_and_exits_with_code_0()
    {
        var (exitCode, stdout, _) = await ReferenceWorkerProcess.RunToExitAsync(["--help"], ExitBound);

        Assert.That(exitCode, Is.EqualTo(0));
        Assert.That(stdout, Does.StartWith("usage: Engine.ReferenceWorker --id <id> --connection <socket path|port>"));
    }
}
