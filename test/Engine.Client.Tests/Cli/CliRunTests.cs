using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Engine.Client.Arrow;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Samples;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client run</c> as a real process against the reference worker: exit codes 0, 1 and 3, the JSON report, Arrow input and output.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliRunTests : ReferenceWorkerFixture
{
    private static readonly string[] MetricNames =
    [
        "bytesIn", "bytesOut", "rowsIn", "rowsOut", "batchesIn", "batchesOut",
        "initWallNanos", "processingWallNanos", "receiveWallNanos", "sendWallNanos", "workWallNanos", "workCpuNanos",
    ];


    [Test]
    public async Task Echo_of_an_Arrow_file_exits_0_and_the_json_report_has_every_field_with_its_type()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "echo", "--input", CliTestFiles.SampleFile, "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        var expectedBatches = CliTestFiles.SampleRows / CliTestFiles.SampleBatchRows;
        Assert.Multiple(() =>
        {
            Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
            {
                "outcome", "exitCode", "worker", "format", "error", "sent", "received", "metrics", "initData", "finishData", "durationSeconds", "output",
            }));
            Assert.That(root.GetProperty("outcome").GetString(), Is.EqualTo("finished"));
            Assert.That(root.GetProperty("exitCode").GetInt32(), Is.EqualTo(0));
            Assert.That(root.GetProperty("worker").GetString(), Is.EqualTo(Worker.Address));
            Assert.That(root.GetProperty("format").GetString(), Is.EqualTo("echo"));
            Assert.That(root.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
            foreach (var direction in new[] { "sent", "received" })
            {
                var traffic = root.GetProperty(direction);
                Assert.That(traffic.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "batches", "rows", "bytes" }), direction);
                Assert.That(traffic.GetProperty("batches").GetInt64(), Is.EqualTo(expectedBatches), direction);
                Assert.That(traffic.GetProperty("rows").GetInt64(), Is.EqualTo(CliTestFiles.SampleRows), direction);
                Assert.That(traffic.GetProperty("bytes").GetInt64(), Is.GreaterThan(100_000), direction);
            }

            Assert.That(root.GetProperty("received").GetProperty("bytes").GetInt64(), Is.EqualTo(root.GetProperty("sent").GetProperty("bytes").GetInt64()));
            var metrics = root.GetProperty("metrics");
            Assert.That(metrics.EnumerateObject().Select(p => p.Name), Is.EqualTo(MetricNames));
            foreach (var metric in metrics.EnumerateObject())
            {
                Assert.That(metric.Value.ValueKind, Is.AnyOf(JsonValueKind.Number, JsonValueKind.Null), metric.Name);
            }

            // The echo UDF reports batches and bytes but not rows; work_cpu_nanos is never measured.
            Assert.That(metrics.GetProperty("batchesIn").GetInt64(), Is.EqualTo(expectedBatches));
            Assert.That(metrics.GetProperty("batchesOut").GetInt64(), Is.EqualTo(expectedBatches));
            Assert.That(metrics.GetProperty("bytesIn").GetInt64(), Is.EqualTo(root.GetProperty("sent").GetProperty("bytes").GetInt64()));
            Assert.That(metrics.GetProperty("rowsIn").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(metrics.GetProperty("workCpuNanos").ValueKind, Is.EqualTo(JsonValueKind.Null));
            // The echo format answers the declared input schema as its output schema.
            Assert.That(ArrowSchemas.FindDifference(SampleData.Schema, ArrowSchemas.Deserialize(root.GetProperty("initData").GetBytesFromBase64())), Is.Null);
            Assert.That(Encoding.UTF8.GetString(root.GetProperty("finishData").GetBytesFromBase64()), Is.EqualTo($"echoed {expectedBatches} batches"));
            Assert.That(root.GetProperty("durationSeconds").ValueKind, Is.EqualTo(JsonValueKind.Number));
            Assert.That(root.GetProperty("durationSeconds").GetDouble(), Is.GreaterThan(0).And.LessThan(30));
            Assert.That(root.GetProperty("output").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(result.Stderr, Is.Empty);
        });
    }

    [Test]
    public async Task A_stream_input_echoed_into_an_output_file_holds_the_same_rows()
    {
        var output = CliTestFiles.NewPath(".arrow");

        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "echo", "--input", CliTestFiles.SampleStream, "--output", output, "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stdout, Does.Contain($"Output written to {output}."));
        var batches = await CliTestFiles.ReadFileAsync(output);
        Assert.Multiple(() =>
        {
            Assert.That(batches.Sum(b => b.Length), Is.EqualTo(CliTestFiles.SampleRows));
            Assert.That(batches[0].Schema.FieldsList.Select(f => f.Name), Is.EqualTo(SampleData.Schema.FieldsList.Select(f => f.Name)));
            var ids = batches.SelectMany(b => ((Apache.Arrow.Int64Array)b.Column("id")).Values.ToArray()).ToArray();
            Assert.That(ids, Is.EqualTo(Enumerable.Range(0, CliTestFiles.SampleRows).Select(i => (long)i)));
            var names = batches.SelectMany(b => Enumerable.Range(0, b.Length).Select(i => ((Apache.Arrow.StringArray)b.Column("name")).GetString(i))).ToArray();
            Assert.That(names, Is.EqualTo(Enumerable.Range(0, CliTestFiles.SampleRows).Select(i => SampleData.Name(i))));
        });
    }

    [Test]
    public async Task A_generator_without_input_writes_an_Arrow_stream_to_stdout_and_its_summary_to_stderr()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "builtin", "--payload", "generate 3000 batch 1000", "--output", "-", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var batches = await CliTestFiles.ReadStreamAsync(new MemoryStream(result.StdoutBytes));
        Assert.Multiple(() =>
        {
            Assert.That(batches.Select(b => b.Length), Is.EqualTo(new[] { 1000, 1000, 1000 }));
            Assert.That(result.Stderr, Does.Contain("finished"));
            Assert.That(result.Stderr, Does.Contain("3,000 rows"));
        });
    }

    [Test]
    public async Task Stdin_input_is_read_as_an_Arrow_stream()
    {
        await using var cli = CliProcess.Start(["run", "--worker", Worker.Address, "--format", "echo", "--input", "-", "--json", "--no-progress"], redirectStdin: true);
        await using (var input = File.OpenRead(CliTestFiles.SampleStream))
        {
            await input.CopyToAsync(cli.StandardInput);
        }

        cli.StandardInput.Close();
        var result = await cli.WaitForExitAsync(CliProcess.RunTimeout);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("received").GetProperty("rows").GetInt64(), Is.EqualTo(CliTestFiles.SampleRows));
    }

    [Test]
    public async Task A_small_output_is_shown_as_a_table()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "builtin", "--payload", "aggregate count, sum x", "--input", CliTestFiles.SampleFile, "--no-progress");

        var sum = Enumerable.Range(0, CliTestFiles.SampleRows).Sum(r => (long)(SampleData.X(r) ?? 0));
        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = result.Stdout.Split('\n').Select(l => l.Trim()).ToList();
        var header = lines.FindIndex(l => l.StartsWith("count", StringComparison.Ordinal));
        Assert.That(header, Is.GreaterThan(0), result.Stdout);
        Assert.That(lines[header].Split(' ', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "count", "sum_x" }));
        Assert.That(lines[header + 2].Split(' ', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { CliTestFiles.SampleRows.ToString(CultureInfo.InvariantCulture), sum.ToString(CultureInfo.InvariantCulture) }));
    }

    [Test]
    public async Task A_payload_larger_than_the_chunk_size_travels_in_chunks_with_session_conf_and_task_context()
    {
        var payload = CliTestFiles.NewPath(".bin");
        await File.WriteAllBytesAsync(payload, Enumerable.Range(0, 1024 * 1024).Select(i => (byte)(i * 7)).ToArray());

        var result = await CliProcess.RunAsync(
            "run", "--worker", Worker.Address, "--format", "echo", "--payload-file", payload, "--chunk-size", "64KiB",
            "--session-conf", "spark.sql.session.timeZone=UTC", "--task-context", "partition_id=3", "--task-context", "stage_id=1", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("finished"));
    }

    [Test]
    public async Task Input_batches_larger_than_the_message_limit_are_split_by_rows()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "echo", "--input", CliTestFiles.SampleFile, "--max-message-size", "64KiB", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var sent = json.RootElement.GetProperty("sent");
        Assert.Multiple(() =>
        {
            // Each 5,000-row batch is about 200 KiB: several data messages each.
            Assert.That(sent.GetProperty("batches").GetInt64(), Is.GreaterThan(3 * CliTestFiles.SampleRows / CliTestFiles.SampleBatchRows));
            Assert.That(sent.GetProperty("rows").GetInt64(), Is.EqualTo(CliTestFiles.SampleRows));
            Assert.That(json.RootElement.GetProperty("received").GetProperty("rows").GetInt64(), Is.EqualTo(CliTestFiles.SampleRows));
        });
    }

    [Test]
    public async Task A_user_error_exits_1_and_the_json_report_carries_the_error()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "user-error", "--input", CliTestFiles.SampleFile, "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var error = json.RootElement.GetProperty("error");
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("cancelled"));
            Assert.That(json.RootElement.GetProperty("exitCode").GetInt32(), Is.EqualTo(1));
            Assert.That(error.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "kind", "message", "errorClass", "traceback", "origin", "reason" }));
            Assert.That(error.GetProperty("kind").GetString(), Is.EqualTo("user"));
            Assert.That(error.GetProperty("message").GetString(), Is.EqualTo("boom in UDF"));
            Assert.That(error.GetProperty("errorClass").GetString(), Is.EqualTo("UdfError"));
            Assert.That(error.GetProperty("traceback").GetString(), Does.StartWith("Traceback (most recent call last)"));
            Assert.That(error.GetProperty("origin").GetString(), Is.EqualTo("data"));
            Assert.That(error.GetProperty("reason").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(json.RootElement.GetProperty("metrics").ValueKind, Is.EqualTo(JsonValueKind.Object), "the CancelResponse carries metrics");
            Assert.That(result.StderrLines, Has.One.Contains("boom in UDF"));
        });
    }

    [Test]
    public async Task A_finish_callback_error_exits_1_as_failed()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "finish-error", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("failed"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("errorClass").GetString(), Is.EqualTo("FinishCallbackError"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("origin").GetString(), Is.EqualTo("finish"));
        });
    }

    [Test]
    public async Task An_init_error_exits_1_and_the_summary_shows_it()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "init-error", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stdout, Does.Contain("cancelled"));
            Assert.That(result.Stdout, Does.Contain("fault: init failed"));
            Assert.That(result.Stdout, Does.Contain("InitError"));
            Assert.That(result.Stdout, Does.Match("origin +init"));
        });
    }

    [Test]
    public async Task An_unreachable_worker_exits_3()
    {
        var result = await CliProcess.RunAsync("run", "--worker", CliTestFiles.UnreachableAddress, "--format", "echo", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("transport_failed"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("kind").GetString(), Is.EqualTo("transport"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("unreachable"));
            Assert.That(json.RootElement.GetProperty("metrics").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
    }

    [Test]
    public async Task A_silent_worker_exits_3_once_the_timeout_expires_not_after_the_protocol_timeouts()
    {
        var clock = Stopwatch.StartNew();

        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "fault", "--payload", "silent", "--timeout", "700ms", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("transport_failed"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("timeout"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("message").GetString(), Does.Contain("--timeout 700 ms"));

            // The 700 ms, plus the Cancel acknowledgement grace (100 ms here), plus start-up: far below the 30 s protocol timeouts.
            Assert.That(json.RootElement.GetProperty("durationSeconds").GetDouble(), Is.InRange(0.6, 5));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)));
        });
    }

    // Issue case: the worker was still computing (a slow UDF) when --timeout expired; the session
    // had sent Finish, then Cancel; the run reported finished with part of the output.
    [Test]
    public async Task A_timeout_that_expires_while_the_UDF_works_after_Finish_exits_3_not_0()
    {
        var result = await CliProcess.RunAsync(
            "run", "--worker", Worker.Address, "--format", "builtin", "--payload", "delay 1500ms",
            "--input", CliTestFiles.SampleStream, "--timeout", "2500ms", "--json", "--no-progress", "--output", Path.Combine(CliTestFiles.Directory, "timeout-out.arrows"));

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("transport_failed"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("timeout"));
        });
    }

    [Test]
    public async Task The_timeout_covers_the_wait_for_the_input_schema_on_stdin()
    {
        await using var cli = CliProcess.Start(["run", "--worker", Worker.Address, "--format", "echo", "--input", "-", "--timeout", "300ms", "--json", "--no-progress"], redirectStdin: true);

        // stdin stays open and empty.
        var result = await cli.WaitForExitAsync(CliProcess.RunTimeout);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("transport_failed"));
            Assert.That(json.RootElement.GetProperty("worker").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("kind").GetString(), Is.EqualTo("input"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("timeout"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("message").GetString(), Does.Contain("no Arrow schema arrived on stdin"));
        });
        cli.StandardInput.Close();
    }

    [Test]
    public async Task A_worker_that_cannot_be_launched_exits_3()
    {
        var result = await CliProcess.RunAsync("run", "--spec", CliTestFiles.UnlaunchableSpec, "--format", "echo", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("transport_failed"));
            Assert.That(json.RootElement.GetProperty("worker").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo("launch_failed"));
            Assert.That(json.RootElement.GetProperty("error").GetProperty("message").GetString(), Does.Contain("no-such-worker"));
        });
    }

    [Test]
    public async Task A_spec_launches_a_worker_for_the_run_and_stops_it_after()
    {
        var result = await CliProcess.RunAsync("run", "--spec", CliTestFiles.ValidSpec, "--format", "builtin", "--payload", "generate 10", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var address = json.RootElement.GetProperty("worker").GetString()!;
        Assert.Multiple(() =>
        {
            Assert.That(address, Does.StartWith("unix://").And.Not.EqualTo(Worker.Address));
            Assert.That(json.RootElement.GetProperty("received").GetProperty("rows").GetInt64(), Is.EqualTo(10));
        });

        // The worker is gone: nothing answers at its address any more.
        await using var client = WorkerClient.Create(address);
        var failure = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync(TimeSpan.FromSeconds(5)));
        Assert.That(failure!.Reason, Is.EqualTo(TransportFailureReason.Unreachable));
    }
}
