using System.Globalization;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Engine.Client.Tests.Arrow;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary>
/// <c>engine-client run</c> as a real process against the reference worker, over inputs written
/// by Arrow's JavaScript implementation (test data in Arrow/FieldCases): a replacement dictionary,
/// zero-row and schema-only streams, a view-type file; and inputs with no schema at all.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliFieldCaseTests : ReferenceWorkerFixture
{

    private static string FieldCase(string name) => Path.Combine(AppContext.BaseDirectory, "FieldCases", name);

    [Test]
    public async Task A_replacement_dictionary_is_written_to_stdout_as_a_replacement_so_each_batch_keeps_its_values()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "echo", "--input", FieldCase("dict.stream"), "--output", "-", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var batches = await CliTestFiles.ReadStreamAsync(new MemoryStream(result.StdoutBytes));
        Assert.Multiple(() =>
        {
            Assert.That(batches.Select(Colors), Is.EqualTo(new[]
            {
                new[] { "red", "green", "green", "red" },
                new[] { "black", "yellow", "blue", "black" },
            }));
            Assert.That(batches.SelectMany(b => ((Int32Array)b.Column("n")).Values.ToArray()), Is.EqualTo(Enumerable.Range(0, 8)));
            Assert.That(batches[0].Schema.GetFieldByName("color").DataType, Is.InstanceOf<DictionaryType>(), "still dictionary-encoded");
        });
    }

    [Test]
    public async Task A_replacement_dictionary_bound_for_an_Arrow_file_is_refused_naming_the_column_and_the_rule()
    {
        var output = CliTestFiles.NewPath(".arrow");

        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "echo", "--input", FieldCase("dict.stream"), "--output", output, "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var error = json.RootElement.GetProperty("error");
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.Not.EqualTo("finished"));
            Assert.That(error.GetProperty("kind").GetString(), Is.EqualTo("output"));
            Assert.That(error.GetProperty("message").GetString(), Does.Contain("output batch 1").And.Contain("column 'color'").And.Contain("one dictionary per column").And.Contain("--output -"));
        });
    }

    [Test]
    public async Task A_builtin_filter_over_a_replacement_dictionary_keeps_each_batchs_own_values()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "builtin", "--payload", "filter n > 2", "--input", FieldCase("dict.stream"), "--output", "-", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var batches = await CliTestFiles.ReadStreamAsync(new MemoryStream(result.StdoutBytes));
        Assert.That(batches.Select(Colors), Is.EqualTo(new[] { new[] { "red" }, new[] { "black", "yellow", "blue", "black" } }));
    }

    [Test]
    public async Task A_builtin_filter_over_a_view_column_keeps_its_values()
    {
        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "builtin", "--payload", "filter id >= 59990", "--input", FieldCase("view.arrow"), "--output", "-", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var output = await CliTestFiles.ReadStreamAsync(new MemoryStream(result.StdoutBytes));
        var input = RandomArrow.Rows(await CliTestFiles.ReadFileAsync(FieldCase("view.arrow")));
        Assert.That(RandomArrow.Rows(output), Is.EqualTo(input.Skip(59_990)));
    }

    [Test]
    public async Task An_empty_filter_result_carries_the_workers_output_schema_and_the_next_stage_answers_count_0()
    {
        var first = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "builtin", "--payload", "filter x > 1000", "--input", FieldCase("zerorow.stream"), "--output", "-", "--no-progress");

        Assert.That(first.ExitCode, Is.EqualTo(0), first.ToString());
        using (var reader = new ArrowStreamReader(new MemoryStream(first.StdoutBytes)))
        {
            Assert.That(reader.Schema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"), Is.EqualTo(new[] { "x int32", "name utf8" }));
            Assert.That(reader.ReadNextRecordBatch(), Is.Null, "zero rows, no batch");
        }

        // The documented pipeline: the first stage's stdout is the next stage's stdin.
        await using var next = CliProcess.Start(["run", "--worker", Worker.Address, "--format", "builtin", "--payload", "aggregate count, sum x", "--input", "-", "--output", "-", "--no-progress"], redirectStdin: true);
        await next.StandardInput.WriteAsync(first.StdoutBytes);
        next.StandardInput.Close();
        var second = await next.WaitForExitAsync(CliProcess.RunTimeout);

        Assert.That(second.ExitCode, Is.EqualTo(0), second.ToString());
        var batches = await CliTestFiles.ReadStreamAsync(new MemoryStream(second.StdoutBytes));
        Assert.Multiple(() =>
        {
            Assert.That(batches.Sum(b => b.Length), Is.EqualTo(1), "one row");
            Assert.That(((Int64Array)batches.Single(b => b.Length == 1).Column("count")).GetValue(0), Is.EqualTo(0));
        });
    }

    [TestCase("-")]
    [TestCase("file")]
    public async Task Echo_of_a_schema_only_stream_writes_that_schema_with_zero_rows(string output)
    {
        var path = output == "-" ? "-" : CliTestFiles.NewPath(".arrow");

        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "echo", "--input", FieldCase("empty.stream"), "--output", path, "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Stream bytes = output == "-" ? new MemoryStream(result.StdoutBytes) : File.OpenRead(path);
        await using (bytes)
        {
            // ArrowFileReader is an ArrowStreamReader.
            using var reader = output == "-" ? new ArrowStreamReader(bytes) : new ArrowFileReader(bytes);
            Assert.That(reader.Schema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"), Is.EqualTo(new[] { "x int32", "name utf8" }));
            Assert.That(await reader.ReadNextRecordBatchAsync(), Is.Null);
        }
    }

    [TestCase("1MiB", 5)]
    [TestCase(null, 2)]
    public async Task A_view_batch_split_by_rows_sends_about_its_own_size_and_comes_back_value_for_value(string? limit, int minimumMessages)
    {
        var output = CliTestFiles.NewPath(".arrow");
        string[] sizing = limit is null ? [] : ["--max-message-size", limit];

        var result = await CliProcess.RunAsync(["run", "--worker", Worker.Address, "--format", "echo", "--input", FieldCase("view.arrow"), "--output", output, "--json", "--no-progress", .. sizing]);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var sent = json.RootElement.GetProperty("sent");
        var inputSize = new FileInfo(FieldCase("view.arrow")).Length;
        Assert.Multiple(() =>
        {
            Assert.That(sent.GetProperty("rows").GetInt64(), Is.EqualTo(60_000));
            Assert.That(sent.GetProperty("batches").GetInt64(), Is.GreaterThanOrEqualTo(minimumMessages), "split into several data messages");
            Assert.That(sent.GetProperty("bytes").GetInt64(), Is.LessThan(inputSize * 11 / 10), "each part carries only its rows' bytes");
            Assert.That(json.RootElement.GetProperty("received").GetProperty("rows").GetInt64(), Is.EqualTo(60_000));
        });
        var expected = RandomArrow.Rows(await CliTestFiles.ReadFileAsync(FieldCase("view.arrow")));
        Assert.That(RandomArrow.Rows(await CliTestFiles.ReadFileAsync(output)), Is.EqualTo(expected));
    }

    [Test]
    public async Task Rows_count_as_sent_only_once_their_messages_were_sent()
    {
        // Batch 0: 10 small rows; batch 1: a row of 200 KB, over a 64 KiB message limit, then a small one.
        var input = CliTestFiles.NewPath(".arrows");
        var schema = new Schema([new Field("s", StringType.Default, true)], null);
        await using (var file = File.Create(input))
        using (var writer = new ArrowStreamWriter(file, schema))
        {
            await writer.WriteRecordBatchAsync(new RecordBatch(schema, [new StringArray.Builder().AppendRange(Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture))).Build()], 10));
            await writer.WriteRecordBatchAsync(new RecordBatch(schema, [new StringArray.Builder().Append(new string('x', 200_000)).Append("a").Build()], 2));
            await writer.WriteEndAsync();
        }

        var result = await CliProcess.RunAsync("run", "--worker", Worker.Address, "--format", "echo", "--input", input, "--max-message-size", "64KiB", "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var sent = json.RootElement.GetProperty("sent");
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("error").GetProperty("message").GetString(), Does.Contain("Row 0 of input batch 1"));
            Assert.That(sent.GetProperty("batches").GetInt64(), Is.EqualTo(1), "batch 0 went as one message");
            Assert.That(sent.GetProperty("rows").GetInt64(), Is.EqualTo(10), "the rows of batch 0 only: batch 1 was not sent whole");
        });
    }

    [TestCase("stdin", "is empty (0 bytes)")]
    [TestCase("file", "is empty (0 bytes)")]
    [TestCase("/dev/zero", "holds no Arrow schema")]
    [TestCase("end-of-stream", "holds no Arrow schema")]
    public async Task An_input_with_no_schema_is_an_input_error_naming_the_input(string input, string fragment)
    {
        string path;
        switch (input)
        {
            case "stdin":
                path = "-";
                break;
            case "file":
                path = CliTestFiles.NewPath(".arrow");
                await File.WriteAllBytesAsync(path, []);
                break;
            case "end-of-stream":
                path = CliTestFiles.NewPath(".arrows");
                await File.WriteAllBytesAsync(path, [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
                break;
            default:
                path = input;
                break;
        }

        await using var cli = CliProcess.Start(["run", "--worker", Worker.Address, "--format", "echo", "--input", path, "--no-progress"], redirectStdin: true);
        cli.StandardInput.Close();
        var result = await cli.WaitForExitAsync(CliProcess.RunTimeout);

        var name = path == "-" ? "stdin" : $"'{path}'";
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stderr, Does.Contain($"--input {name} {fragment}"));
            Assert.That(result.Stderr, Does.Contain("not an Arrow IPC file or stream"));
        });
    }

    [Test]
    public async Task An_Arrow_file_on_stdin_is_read_as_a_file()
    {
        await using var cli = CliProcess.Start(["run", "--worker", Worker.Address, "--format", "echo", "--input", "-", "--json", "--no-progress"], redirectStdin: true);
        await using (var input = File.OpenRead(CliTestFiles.SampleFile))
        {
            await input.CopyToAsync(cli.StandardInput);
        }

        cli.StandardInput.Close();
        var result = await cli.WaitForExitAsync(CliProcess.RunTimeout);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("received").GetProperty("rows").GetInt64(), Is.EqualTo(CliTestFiles.SampleRows));
    }

    private static string?[] Colors(RecordBatch batch)
    {
        var column = (DictionaryArray)batch.Column("color");
        var dictionary = (StringArray)column.Dictionary;
        var indices = (Int32Array)column.Indices;
        return [.. Enumerable.Range(0, batch.Length).Select(i => dictionary.GetString(indices.GetValue(i)!.Value))];
    }
}
