using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary>
/// engine-client when it cannot write: stdout into a pipe whose reader has gone, stdout on
/// /dev/full, stdout or stderr closed. A failed write to stdout is an output failure (exit 2)
/// unless the command had already failed otherwise; a closed stderr changes nothing. The
/// standard streams are arranged by a small python3 parent before engine-client starts, so no
/// test depends on timing.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliOutputFailureTests : ReferenceWorkerFixture
{
    /// <summary>
    /// argv: mode, then the command. Modes: <c>read:N</c> (stdout is a pipe; read N bytes, then
    /// close it), <c>no-reader</c> (stdout is a pipe whose read end is closed before the start),
    /// <c>dev-full</c> (stdout is /dev/full), <c>close-stdout</c>, <c>close-stderr</c>, <c>close-stdin</c>. The child's
    /// stderr (or, with <c>close-stderr</c>, its stdout) is this process's; the last line this
    /// process prints is <c>exit=&lt;code&gt;</c> (negative: killed by that signal).
    /// </summary>
    private const string Parent = """
        import os, subprocess, sys
        mode, command = sys.argv[1], sys.argv[2:]
        if mode.startswith('read:'):
            wanted = int(mode[5:])
            r, w = os.pipe()
            child = subprocess.Popen(command, stdout=w)
            os.close(w)
            got = 0
            while got < wanted:
                chunk = os.read(r, wanted - got)
                if not chunk:
                    break
                got += len(chunk)
            os.close(r)
        elif mode == 'no-reader':
            r, w = os.pipe()
            os.close(r)
            child = subprocess.Popen(command, stdout=w)
            os.close(w)
        elif mode == 'dev-full':
            with open('/dev/full', 'wb') as full:
                child = subprocess.Popen(command, stdout=full)
        elif mode == 'close-stdout':
            child = subprocess.Popen(command, preexec_fn=lambda: os.close(1))
        elif mode == 'close-stderr':
            child = subprocess.Popen(command, preexec_fn=lambda: os.close(2))
        elif mode == 'close-stdin':
            child = subprocess.Popen(command, preexec_fn=lambda: os.close(0))
        else:
            sys.exit('unknown mode ' + mode)
        code = child.wait()
        sys.stdout.flush()
        print('exit=%d' % code, flush=True)
        """;


    [Test]
    public async Task Arrow_output_into_a_pipe_whose_reader_stops_after_1000_bytes_cancels_the_run_with_exit_2()
    {
        var run = await RunAsync("read:1000", "run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 2000000 batch 65536", "--output", "-", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(run.Stderr, Does.Contain("kind     output"));
            Assert.That(run.Stderr, Does.Contain("broken pipe"));
            Assert.That(run.Stderr, Does.Not.Contain("2,000,000 rows"));
            Assert.That(run.Stderr, Does.Contain("engine-client run: cancelled (exit 2)").Or.Contain("engine-client run: transport_failed (exit 2)"));
        });
    }

    [Test]
    public async Task After_a_closed_output_pipe_the_rows_reported_are_those_of_the_batches_read_never_presented_as_all_received()
    {
        // 1,000 rows per batch: the worker sends batches faster than the closed pipe lets the tool read them.
        var run = await RunAsync("read:1000", "run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 1000000 batch 1000", "--output", "-", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        var line = run.Stderr.Split('\n').Single(l => l.TrimStart().StartsWith("received ", StringComparison.Ordinal)).Trim();
        var all = System.Text.RegularExpressions.Regex.Match(line, @"^received\s+([\d,]+) batch(?:es)?, ([\d,]+) rows?, [^;]+$");
        var partial = System.Text.RegularExpressions.Regex.Match(line, @"^received\s+([\d,]+) batch(?:es)?, [^;]+; ([\d,]+) rows? in the ([\d,]+) batch(?:es)? read$");
        static long N(System.Text.RegularExpressions.Group g) => long.Parse(g.Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        if (all.Success)
        {
            Assert.That(N(all.Groups[2]), Is.EqualTo(1000 * N(all.Groups[1])), line);
        }
        else
        {
            Assert.That(partial.Success, line);
            Assert.That(N(partial.Groups[3]), Is.LessThan(N(partial.Groups[1])), line);
            Assert.That(N(partial.Groups[2]), Is.EqualTo(1000 * N(partial.Groups[3])), line);
        }
    }

    [Test]
    public async Task Arrow_output_into_a_pipe_without_reader_exits_2()
    {
        var run = await RunAsync("no-reader", "run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 1000", "--output", "-", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("kind     output"));
    }

    [Test]
    public async Task Arrow_output_on_dev_full_is_an_output_error_with_exit_2()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 200000 batch 65536", "--output", "/dev/full", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("exitCode").GetInt32(), Is.EqualTo(2));
            Assert.That(root.GetProperty("outcome").GetString(), Is.Not.EqualTo("finished"));
            Assert.That(root.GetProperty("error").GetProperty("kind").GetString(), Is.EqualTo("output"));
            Assert.That(root.GetProperty("error").GetProperty("message").GetString(), Does.Contain("/dev/full"));
            Assert.That(result.Stderr, Does.Not.Contain("unexpected error"));
        });
    }

    [Test]
    public async Task Stdout_on_dev_full_for_the_Arrow_stream_exits_2()
    {
        var run = await RunAsync("dev-full", "run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 1000", "--output", "-", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("kind     output"));
    }

    [TestCase("close-stdout")]
    [TestCase("dev-full")]
    [TestCase("no-reader")]
    public async Task A_run_whose_report_cannot_be_written_exits_2(string mode)
    {
        var run = await RunAsync(mode, "run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 10", "--json", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("engine-client run: stdout could not be written"));
    }

    [Test]
    public async Task A_failed_run_with_stdout_closed_keeps_its_exit_code()
    {
        var run = await RunAsync("close-stdout", "run", "--worker", CliTestFiles.UnreachableAddress, "--format", "echo", "--json", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(3), run.ToString());
        Assert.That(run.Stderr, Does.Contain("engine-client run: transport_failed (exit 3)"));
    }

    [Test]
    public async Task A_timed_out_run_with_stderr_closed_exits_3()
    {
        var run = await RunAsync("close-stderr", "run", "--worker", Worker.Address, "--format", "fault", "--payload", "silent", "--timeout", "1s", "--json", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(3), run.ToString());
        Assert.That(run.Stdout, Does.Contain("\"reason\": \"timeout\""));
    }

    [Test]
    public async Task A_finished_run_with_stderr_closed_exits_0()
    {
        var run = await RunAsync("close-stderr", "run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 10", "--json");

        Assert.That(run.ExitCode, Is.EqualTo(0), run.ToString());
        Assert.That(run.Stdout, Does.Contain("\"outcome\": \"finished\""));
    }

    [Test]
    public async Task Stdin_input_with_stdin_closed_is_bad_input_with_exit_2()
    {
        var run = await RunAsync("close-stdin", "run", "--worker", Worker.Address, "--format", "echo", "--input", "-", "--timeout", "30s", "--no-progress");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("stdin is closed"));
    }

    [Test]
    public async Task Bad_usage_with_stderr_closed_exits_2()
    {
        var run = await RunAsync("close-stderr", "run", "--format", "echo");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
    }

    [TestCase("close-stdout")]
    [TestCase("dev-full")]
    [TestCase("no-reader")]
    public async Task A_heartbeat_whose_answer_cannot_be_written_exits_2(string mode)
    {
        var run = await RunAsync(mode, "heartbeat", "--worker", Worker.Address);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("engine-client heartbeat: stdout could not be written"));
    }

    [Test]
    public async Task An_unanswered_heartbeat_with_stdout_closed_exits_3_and_with_stderr_closed_too()
    {
        var closedStdout = await RunAsync("close-stdout", "heartbeat", "--worker", CliTestFiles.UnreachableAddress);
        var closedStderr = await RunAsync("close-stderr", "heartbeat", "--worker", CliTestFiles.UnreachableAddress);

        Assert.That(closedStdout.ExitCode, Is.EqualTo(3), closedStdout.ToString());
        Assert.That(closedStderr.ExitCode, Is.EqualTo(3), closedStderr.ToString());
    }

    [TestCase("close-stdout")]
    [TestCase("dev-full")]
    public async Task Spec_validate_whose_answer_cannot_be_written_exits_2(string mode)
    {
        var run = await RunAsync(mode, "spec", "validate", CliTestFiles.ValidSpec);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("engine-client spec validate: stdout could not be written"));
    }

    [Test]
    public async Task Conformance_whose_results_cannot_be_written_exits_2()
    {
        var run = await RunAsync("no-reader", "conformance", "--worker", Worker.Address, "--check", "C1");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("engine-client conformance: stdout could not be written"));
    }

    [Test]
    public async Task Help_with_stdout_closed_exits_2_and_with_stderr_closed_exits_0()
    {
        var closedStdout = await RunAsync("close-stdout", "--help");
        var closedStderr = await RunAsync("close-stderr", "--help");

        Assert.That(closedStdout.ExitCode, Is.EqualTo(2), closedStdout.ToString());
        Assert.That(closedStderr.ExitCode, Is.EqualTo(0), closedStderr.ToString());
        Assert.That(closedStderr.Stdout, Does.Contain("Usage:"));
    }

    [Test]
    public async Task Workers_start_whose_addresses_cannot_be_written_stops_them_and_exits_2()
    {
        var run = await RunAsync("close-stdout", "workers", "start", "--spec", CliTestFiles.ValidSpec);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("the addresses could not be written to stdout; stopping the workers"));
    }

    [Test]
    public async Task The_demo_with_stdout_closed_exits_2()
    {
        var run = await RunAsync("close-stdout", "demo");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("engine-client demo: stdout could not be written"));
    }

    /// <summary>Runs engine-client under the python3 parent in <paramref name="mode"/>.</summary>
    private static async Task<ParentResult> RunAsync(string mode, params string[] arguments)
    {
        var info = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(Parent);
        info.ArgumentList.Add(mode);
        info.ArgumentList.Add(CliProcess.ExecutablePath);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("python3 did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await Task.WhenAll(process.WaitForExitAsync(), stdout, stderr).WaitAsync(CliProcess.RunTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout;
        var lines = output.TrimEnd('\n').Split('\n');
        var last = lines[^1];
        Assert.That(last, Does.StartWith("exit="), $"python3 exited {process.ExitCode}; stdout: [{output}] stderr: [{await stderr}]");
        var code = int.Parse(last["exit=".Length..], CultureInfo.InvariantCulture);
        return new ParentResult(code, string.Join('\n', lines[..^1]), await stderr);
    }

    private sealed record ParentResult(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}; stdout: [{Stdout}] stderr: [{Stderr}]";
    }
}
