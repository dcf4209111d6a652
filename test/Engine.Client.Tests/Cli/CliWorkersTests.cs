using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client workers start</c>: addresses on stdout, workers up until SIGTERM or Ctrl+C, then stopped cleanly.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CliWorkersTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Workers_answer_at_the_printed_addresses_until_SIGTERM_stops_them()
    {
        await using var cli = CliProcess.Start(["workers", "start", "--spec", CliTestFiles.ValidSpec, "--count", "2"]);
        var addresses = new[]
        {
            await cli.WaitForLineAsync(_ => true, Bound),
            await cli.WaitForLineAsync(_ => true, Bound),
        };
        Assert.That(addresses, Is.Unique);

        var pids = new List<int>();
        foreach (var address in addresses)
        {
            await using var client = WorkerClient.Create(address);
            var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(5));
            pids.Add(int.Parse(heartbeat.Metrics["pid"], CultureInfo.InvariantCulture));
        }

        cli.Signal(CliProcess.SigTerm);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stderr, Does.Contain("2 workers up"));
            Assert.That(result.Stderr, Does.Contain("workers stopped"));
            foreach (var pid in pids)
            {
                Assert.That(IsRunning(pid), Is.False, $"worker process {pid} is still running");
            }

            foreach (var address in addresses)
            {
                Assert.That(File.Exists(WorkerAddress.Parse(address).SocketPath), Is.False, $"{address} still has its socket");
            }
        });
    }

    [Test]
    public async Task Json_lists_the_workers_and_Ctrl_C_stops_them()
    {
        await using var cli = CliProcess.Start(["workers", "start", "--spec", CliTestFiles.ValidSpec, "--json"]);

        // The object is indented: wait for its last line.
        await cli.WaitForLineAsync(line => line == "}", Bound);
        cli.Signal(CliProcess.SigInt);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var workers = json.RootElement.GetProperty("workers");
        Assert.That(workers.GetArrayLength(), Is.EqualTo(1));
        var worker = workers[0];
        Assert.Multiple(() =>
        {
            Assert.That(worker.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "id", "pid", "address" }));
            Assert.That(worker.GetProperty("address").GetString(), Does.StartWith("unix://"));
            Assert.That(IsRunning(worker.GetProperty("pid").GetInt32()), Is.False);
        });
    }

    [Test]
    public async Task A_worker_that_cannot_be_launched_exits_3_with_one_line()
    {
        var result = await CliProcess.RunAsync("workers", "start", "--spec", CliTestFiles.UnlaunchableSpec);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stdout, Is.Empty);
            Assert.That(result.StderrLines, Has.Count.EqualTo(1));
            Assert.That(result.Stderr, Does.Contain("a worker could not be started").And.Contain("no-such-worker"));
        });
    }

    [Test]
    public async Task Ctrl_C_while_workers_start_begins_no_further_launch_exits_130_and_leaves_no_worker_behind()
    {
        // Every launch records its pid, then blocks on a gate that never opens: the launches stay
        // in progress until engine-client gives them up.
        using var dir = new TempDir();
        var gate = dir.Fifo("gate");
        var launches = Path.Combine(dir.Path, "launches");
        Directory.CreateDirectory(launches);
        var script = dir.Script("gated-worker", $"""
            echo $$ > "{launches}/$$.tmp" && mv "{launches}/$$.tmp" "{launches}/$$"
            read _ < "{gate}"
            """);
        var spec = dir.File("gated.spec.json");
        File.WriteAllText(spec, File.ReadAllText(CliTestFiles.ValidSpec)
            .Replace(ReferenceWorkerProcess.ExecutablePath, script, StringComparison.Ordinal)
            .Replace("\"initializationTimeoutMs\": 20000", "\"initializationTimeoutMs\": 30000", StringComparison.Ordinal));
        const int count = 9;
        const int atOnce = 4;

        using var watcher = new FileSystemWatcher(launches) { Filter = "*" };
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (Launched(launches).Length >= atOnce)
            {
                started.TrySetResult();
            }
        }

        watcher.Renamed += (_, _) => Check();
        watcher.EnableRaisingEvents = true;
        await using var cli = CliProcess.Start(["workers", "start", "--spec", spec, "--count", count.ToString(CultureInfo.InvariantCulture)]);
        Check();
        await started.Task.WaitAsync(Bound);

        cli.Signal(CliProcess.SigInt);
        var result = await cli.WaitForExitAsync(Bound);

        var pids = Launched(launches);
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(130), result.ToString());
            Assert.That(result.Stdout, Is.Empty);
            Assert.That(result.Stderr, Does.Contain("interrupted while starting"));

            // The first launches were in progress (blocked); none was begun after them.
            Assert.That(pids, Has.Length.EqualTo(atOnce), $"launched: {string.Join(", ", pids)}");
        });
        foreach (var pid in pids)
        {
            Assert.That(await Processes.WaitForExitAsync(pid, Bound), Is.True, $"launched process {pid} outlived engine-client");
        }
    }

    [Test]
    public async Task A_worker_killed_while_up_is_reported_and_replaced_and_the_command_then_exits_3()
    {
        await using var cli = CliProcess.Start(["workers", "start", "--spec", CliTestFiles.ValidSpec, "--count", "2"]);
        var first = await cli.WaitForLineAsync(_ => true, Bound);
        await cli.WaitForLineAsync(_ => true, Bound);
        var victim = await WorkerPidAsync(first);

        Assert.That(Kill(victim, 9), Is.Zero);
        var lost = await cli.WaitForStderrLineAsync(line => line.Contains("is unhealthy", StringComparison.Ordinal), Bound);
        var replaced = await cli.WaitForStderrLineAsync(line => line.Contains("replaces worker", StringComparison.Ordinal), Bound);
        var replacement = Regex.Match(replaced, @"at (unix://\S+)\.$").Groups[1].Value;
        var replacementPid = await WorkerPidAsync(replacement);

        cli.Signal(CliProcess.SigTerm);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(lost, Does.Contain($"pid {victim}").And.Contain("SIGKILL"));
            Assert.That(replacementPid, Is.Not.EqualTo(victim));
            Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
            Assert.That(result.Stderr, Does.Contain("1 worker was lost while up"));
            Assert.That(IsRunning(replacementPid), Is.False, "the replacement is stopped with the others");
        });
    }

    [Test]
    public async Task A_lost_worker_that_cannot_be_replaced_ends_the_command_with_exit_3()
    {
        // The worker starts once; every later launch fails.
        using var dir = new TempDir();
        var script = dir.Script("once-worker", $"""
            if [ -e "{dir.File("started")}" ]; then echo "not again" >&2; exit 1; fi
            touch "{dir.File("started")}"
            exec "{ReferenceWorkerProcess.ExecutablePath}" "$@"
            """);
        var spec = dir.File("once.spec.json");
        File.WriteAllText(spec, File.ReadAllText(CliTestFiles.ValidSpec).Replace(ReferenceWorkerProcess.ExecutablePath, script, StringComparison.Ordinal));
        await using var cli = CliProcess.Start(["workers", "start", "--spec", spec]);
        var victim = await WorkerPidAsync(await cli.WaitForLineAsync(_ => true, Bound));

        Assert.That(Kill(victim, 9), Is.Zero);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
            Assert.That(result.Stderr, Does.Contain("could not be replaced").And.Contain("not again"));
            Assert.That(result.StderrLines[^1], Does.Contain("1 worker was lost while up and could not be replaced"));
        });
    }

    [Test]
    public async Task Killing_workers_start_with_SIGKILL_leaves_no_worker_and_no_child_and_the_next_start_removes_its_socket_directory()
    {
        using var dir = new TempDir();
        var spec = UnwatchfulWorkerSpec(dir);
        var pids = new List<int>();
        try
        {
            string address;
            await using (var cli = CliProcess.Start(["workers", "start", "--spec", spec]))
            {
                address = await cli.WaitForLineAsync(_ => true, Bound);
                pids.Add(Processes.ReadPid(dir.File("worker.pid")));
                pids.Add(Processes.ReadPid(dir.File("helper.pid")));
                pids.Add(await WorkerPidAsync(address));
                Assert.That(pids.All(Processes.IsAlive), Is.True, "the worker, its helper and its server run");

                cli.Signal(9);
                await cli.WaitForExitAsync(Bound);
            }

            foreach (var pid in pids)
            {
                Assert.That(await Processes.WaitForExitAsync(pid, Bound), Is.True, $"process {pid} outlived the killed engine");
            }

            // The next engine start sweeps the socket directories of engines that are gone.
            var directory = Path.GetDirectoryName(WorkerAddress.Parse(address).SocketPath)!;
            await using (var next = CliProcess.Start(["workers", "start", "--spec", CliTestFiles.ValidSpec]))
            {
                await next.WaitForLineAsync(_ => true, Bound);
                next.Signal(CliProcess.SigTerm);
                Assert.That((await next.WaitForExitAsync(Bound)).ExitCode, Is.Zero);
            }

            Assert.That(Directory.Exists(directory), Is.False, $"{directory} was left behind");
        }
        finally
        {
            foreach (var pid in pids.Where(Processes.IsAlive))
            {
                _ = Kill(pid, 9);
            }
        }
    }

    [Test]
    public async Task The_documented_wait_loop_fails_when_the_workers_cannot_start()
    {
        var result = await RunDocumentedLoopAsync(CliTestFiles.UnlaunchableSpec);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1), result.Output);
            Assert.That(result.Output, Does.Contain("workers failed to start (exit 3)"));
        });
    }

    [Test]
    public async Task The_documented_wait_loop_gets_both_addresses_when_the_workers_start()
    {
        var result = await RunDocumentedLoopAsync(CliTestFiles.ValidSpec);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.Zero, result.Output);
            Assert.That(result.Output, Does.Match(@"up unix://\S+ unix://\S+"));
            Assert.That(result.Output, Does.Contain("stopped 0"));
        });
    }

    /// <summary>
    /// Runs the wait loop of docs/cli.md ("Launch two workers for other tools"), from
    /// <c>mkfifo</c> to the line that handles a failed start, with the specification given,
    /// then stops the workers.
    /// </summary>
    private static async Task<(int ExitCode, string Output)> RunDocumentedLoopAsync(string specification)
    {
        var lines = (await File.ReadAllLinesAsync(Path.Combine(Specs.RepositoryRoot(), "docs", "cli.md"))).ToList();
        var start = lines.FindIndex(line => line.StartsWith("mkfifo workers.fifo", StringComparison.Ordinal));
        Assert.That(start, Is.GreaterThanOrEqualTo(0), "docs/cli.md has the documented wait loop");
        var end = lines.FindIndex(start, line => line.Contains("workers failed to start", StringComparison.Ordinal));
        Assert.That(end, Is.GreaterThan(start), "the documented loop handles a failed start");

        using var dir = new TempDir();
        File.Copy(specification, dir.File("worker.spec.json"));
        var bin = Path.Combine(dir.Path, "bin");
        Directory.CreateDirectory(bin);
        var tool = Path.Combine(bin, "engine-client");
        await File.WriteAllTextAsync(tool, $"#!/bin/sh\nexec \"{CliProcess.ExecutablePath}\" \"$@\"\n");
        File.SetUnixFileMode(tool, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var script = dir.Script("loop.sh", string.Join('\n', lines.GetRange(start, end - start + 1)) + """

            echo "up $a1 $a2"
            kill -TERM "$pid"; wait "$pid"; echo "stopped $?"
            """);

        var info = new ProcessStartInfo("/bin/sh")
        {
            ArgumentList = { script },
            WorkingDirectory = dir.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(CliProcess.RunTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the documented wait loop did not end within {CliProcess.RunTimeout.TotalSeconds} s");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>
    /// A worker that does not watch its parent: a shell script that starts a helper child (deaf to
    /// SIGTERM) and the reference worker as its server, writes the pids, and waits, whatever happens to the engine.
    /// </summary>
    private static string UnwatchfulWorkerSpec(TempDir dir)
    {
        var script = dir.Script("unwatchful-worker", $"""
            (trap '' TERM; exec sleep 100000) &
            echo $! > "{dir.File("helper.pid")}"
            echo $$ > "{dir.File("worker.pid")}"
            "{ReferenceWorkerProcess.ExecutablePath}" "$@" &
            wait $!
            """);
        var spec = dir.File("unwatchful.spec.json");
        File.WriteAllText(spec, File.ReadAllText(CliTestFiles.ValidSpec).Replace(ReferenceWorkerProcess.ExecutablePath, script, StringComparison.Ordinal));
        return spec;
    }

    /// <summary>The pids the gated worker script recorded (one file each, complete when renamed into place).</summary>
    private static int[] Launched(string directory) => [.. Directory.GetFiles(directory)
        .Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal))
        .Select(f => int.Parse(Path.GetFileName(f), CultureInfo.InvariantCulture))];

    /// <summary>The pid of the process serving at <paramref name="address"/>, from its heartbeat.</summary>
    private static async Task<int> WorkerPidAsync(string address)
    {
        await using var client = WorkerClient.Create(address);
        var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(5));
        return int.Parse(heartbeat.Metrics["pid"], CultureInfo.InvariantCulture);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
