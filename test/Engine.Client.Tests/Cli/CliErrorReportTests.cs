using System.Text;
using System.Text.Json;
using Apache.Arrow.Ipc;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Samples;

namespace Engine.Client.Tests.Cli;

/// <summary>
/// What engine-client says when a worker misbehaves, as real processes against the reference
/// worker: output it must reject (empty or not Arrow), a timeout while waiting for InitResponse,
/// an error with nothing in it, and worker text full of terminal escape sequences and raw bytes
/// (error strings, tracebacks, heartbeat metrics, a launch's output).
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliErrorReportTests : ReferenceWorkerFixture
{
    /// <summary>
    /// Three batches of 2, 2 and 1 rows: sent with Finish right behind them, so the worker's
    /// FinishResponse usually crosses the engine's Cancel after it rejected the first output.
    /// </summary>
    private string _small = null!;

    [OneTimeSetUp]
    public async Task WriteSmallInput()
    {
        _small = CliTestFiles.NewPath(".arrows");
        await using (var file = File.Create(_small))
        {
            using var writer = new ArrowStreamWriter(file, SampleData.Schema);
            foreach (var batch in SampleData.CreateBatches(5, 2))
            {
                using (batch)
                {
                    await writer.WriteRecordBatchAsync(batch);
                }
            }

            await writer.WriteEndAsync();
        }
    }

    [TestCase("big-output:0", "is empty")]
    [TestCase("big-output:7", "is not a valid Arrow IPC stream")]
    public async Task Output_that_is_empty_or_not_Arrow_is_invalid_output_with_exit_1(string fault, string problem)
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", fault, "--input", _small, "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        var error = root.GetProperty("error");
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("outcome").GetString(), Is.EqualTo("cancelled"));
            Assert.That(error.GetProperty("kind").GetString(), Is.EqualTo("protocol"));
            Assert.That(error.GetProperty("reason").GetString(), Is.EqualTo("invalid_output"));
            Assert.That(error.GetProperty("origin").GetString(), Is.EqualTo("data"));
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("output batch 0").And.Contain(problem));
            Assert.That(root.GetProperty("received").GetProperty("rows").GetInt64(), Is.Zero);
            Assert.That(result.Stderr, Does.Contain("engine-client run: cancelled (exit 1)"));
        });
    }

    [Test]
    public async Task Empty_output_written_to_a_file_is_invalid_output_too()
    {
        var output = CliTestFiles.NewPath(".arrow");

        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "big-output:0", "--input", _small, "--output", output, "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stdout, Does.Contain("invalid_output"));
            Assert.That(result.Stdout, Does.Not.Contain("Output written to"));
        });
    }

    [Test]
    public async Task A_timeout_while_waiting_for_InitResponse_names_that_stage_and_counts_rows_as_numbers()
    {
        // The worker never answers Init: whatever the load, the run is waiting for InitResponse
        // when the 4 s expire (connecting to a local socket takes milliseconds).
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "silent", "--input", CliTestFiles.SampleFile, "--timeout", "4s", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("timeout"));
            Assert.That(root.GetProperty("error").GetProperty("message").GetString(), Does.Contain("(it was waiting for InitResponse)"));
            foreach (var direction in new[] { "sent", "received" })
            {
                Assert.That(root.GetProperty(direction).GetProperty("rows").ValueKind, Is.EqualTo(JsonValueKind.Number), direction);
                Assert.That(root.GetProperty(direction).GetProperty("rows").GetInt64(), Is.Zero, direction);
            }
        });
    }

    [Test]
    public async Task An_error_with_an_empty_message_and_class_says_that_the_worker_sent_none()
    {
        var text = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "blank-user-error", "--input", CliTestFiles.SampleFile, "--no-progress");
        var json = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "blank-user-error", "--input", CliTestFiles.SampleFile, "--json", "--no-progress");

        Assert.That(text.ExitCode, Is.EqualTo(1), text.ToString());
        Assert.That(json.ExitCode, Is.EqualTo(1), json.ToString());
        using var report = JsonDocument.Parse(json.Stdout);
        var error = report.RootElement.GetProperty("error");
        Assert.Multiple(() =>
        {
            Assert.That(text.Stdout, Does.Contain("message  (the worker sent no message and no error class)"));
            Assert.That(text.Stdout, Does.Contain("class    (the worker sent an empty class)"));
            Assert.That(text.Stdout, Does.Contain("traceback: (the worker sent an empty traceback)"));
            Assert.That(text.Stderr, Does.Contain("engine-client run: cancelled (exit 1): (the worker sent no message and no error class)"));

            // The JSON keeps what was received, exactly.
            Assert.That(error.GetProperty("kind").GetString(), Is.EqualTo("user"));
            Assert.That(error.GetProperty("message").GetString(), Is.Empty);
            Assert.That(error.GetProperty("errorClass").GetString(), Is.Empty);
        });
    }

    [Test]
    public async Task Escape_sequences_in_a_worker_error_are_shown_escaped_and_the_traceback_bounded()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "escapes-user-error", "--input", CliTestFiles.SampleFile, "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        AssertTerminalSafe(result.Stdout, "stdout");
        AssertTerminalSafe(result.Stderr, "stderr");
        Assert.Multiple(() =>
        {
            Assert.That(result.Stdout, Does.Contain(@"boom\x1b[2J\x1b[H\x1b]0;owned\x07 after \x9b31m red"));
            Assert.That(result.Stdout, Does.Contain(@"Evil\x1b[31mClass\x00"));
            Assert.That(result.Stdout, Does.Contain("lines left out]"));
            Assert.That(result.Stdout.Split('\n'), Has.Length.LessThan(90), "the 300-line traceback is bounded");
            Assert.That(result.StderrLines, Has.Count.EqualTo(1));
            Assert.That(result.Stderr, Does.Contain(@"boom\x1b[2J"));
        });
    }

    [Test]
    public async Task Escape_sequences_in_a_worker_error_stay_exact_in_the_JSON_and_escaped_in_its_bytes()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "escapes-user-error", "--input", CliTestFiles.SampleFile, "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        AssertTerminalSafe(result.Stdout, "stdout");
        using var json = JsonDocument.Parse(result.Stdout);
        var error = json.RootElement.GetProperty("error");
        Assert.Multiple(() =>
        {
            Assert.That(error.GetProperty("message").GetString(), Does.StartWith("boom\u001b[2J\u001b[H\u001b]0;owned\u0007 after \u009b31m red "));
            Assert.That(error.GetProperty("errorClass").GetString(), Is.EqualTo("Evil\u001b[31mClass\u0000"));
            Assert.That(error.GetProperty("traceback").GetString()!.Split('\n'), Has.Length.EqualTo(300));
        });
    }

    [Test]
    public async Task Escape_sequences_in_heartbeat_metrics_are_shown_escaped()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { Id = "w\u001b[2J\u001b]0;owned\u0007" });

        var result = await CliProcess.RunAsync("heartbeat", "--worker", worker.Address);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        AssertTerminalSafe(result.Stdout, "stdout");
        Assert.That(result.Stdout, Does.Contain(@"w\x1b[2J\x1b]0;owned\x07"));
    }

    [Test]
    public async Task A_launch_whose_output_holds_escape_sequences_and_raw_bytes_is_reported_escaped_and_bounded()
    {
        var spec = await LaunchFailureSpecAsync();

        var text = await CliProcess.RunAsync("run", "--spec", spec, "--format", "echo", "--no-progress");
        var json = await CliProcess.RunAsync("run", "--spec", spec, "--format", "echo", "--json", "--no-progress");

        Assert.That(text.ExitCode, Is.EqualTo(3), text.ToString());
        Assert.That(json.ExitCode, Is.EqualTo(3), json.ToString());
        AssertTerminalSafe(text.Stdout, "stdout");
        AssertTerminalSafe(text.Stderr, "stderr");
        AssertTerminalSafe(json.Stdout, "JSON");
        using var report = JsonDocument.Parse(json.Stdout);
        var message = report.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Multiple(() =>
        {
            Assert.That(text.Stdout, Does.Contain(@"line 299 \x1b[1A\x1b[K\x0d\x1b[31m red"));
            Assert.That(text.Stdout, Does.Contain(@"no newline at the end \x1b[?1049h"));
            Assert.That(text.Stdout, Does.Contain("\uFFFD"), "bytes that are not UTF-8 are replaced");
            Assert.That(text.Stdout.Split('\n'), Has.Length.LessThan(70));
            Assert.That(text.StderrLines, Has.Count.EqualTo(1));
            Assert.That(Encoding.UTF8.GetByteCount(text.Stderr), Is.LessThan(1500));

            // The library's message itself carries the output escaped, and at most its tail.
            Assert.That(message, Does.Contain(@"\x1b[?1049h"));
            AssertTerminalSafe(message, "the library's message");
            Assert.That(message.Split('\n'), Has.Length.LessThan(80));
        });
    }

    /// <summary>No control character but line breaks (and tabs), no C1 control, no lone surrogate.</summary>
    internal static void AssertTerminalSafe(string text, string what)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var safe = c is '\n' or '\t' || (c >= ' ' && c != '\u007f' && c is not (>= '\u0080' and <= '\u009f') && !char.IsSurrogate(c))
                || (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[++i]));
            Assert.That(safe, Is.True, $"{what} holds U+{(int)c:X4} at {i}: [{text[Math.Max(0, i - 40)..Math.Min(text.Length, i + 40)]}]");
        }
    }

    /// <summary>A specification whose runner prints escape sequences, bytes that are not UTF-8 and 300 lines, then exits 3.</summary>
    private static async Task<string> LaunchFailureSpecAsync()
    {
        var script = CliTestFiles.NewPath(".sh");
        await File.WriteAllTextAsync(script, """
            printf 'start \033[2J\033]0;owned\007 \377\376\200 bytes\n'
            i=0
            while [ $i -lt 300 ]; do
              printf 'line %d \033[1A\033[K\r\033[31m red\n' $i
              i=$((i+1))
            done
            printf 'no newline at the end \033[?1049h \233 2J'
            exit 3
            """);
        var spec = CliTestFiles.NewPath(".spec.json");
        await File.WriteAllTextAsync(spec, $$"""
            {
              "capabilities": {
                "supportedDataFormats": ["ARROW"],
                "supportedCommunicationPatterns": ["BIDIRECTIONAL_STREAMING"],
                "supportsConcurrentUdfs": true,
                "supportsReuse": true
              },
              "direct": {
                "runner": { "command": ["sh", "{{script}}"] },
                "properties": { "initializationTimeoutMs": 20000, "connection": { "unixDomainSocket": {} } }
              }
            }
            """);
        return spec;
    }
}
