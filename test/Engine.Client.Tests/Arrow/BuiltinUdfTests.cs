using System.Globalization;
using System.Text;
using Apache.Arrow;
using Engine.Client.Arrow;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Samples;
using static Engine.Client.Tests.Arrow.ArrowTestData;

namespace Engine.Client.Tests.Arrow;

/// <summary>
/// Arrow batches end to end: the SDK's Arrow sessions against the reference worker as a real
/// process, with every shape of builtin UDF, over a Unix domain socket and over TCP, on 100 000
/// rows of the sample dataset (six columns, strings, nulls).
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class BuiltinUdfTests(bool tcp)
{
    private const int Rows = 100_000;
    private const int BatchSize = 10_000;

    private ReferenceWorkerProcess _worker = null!;
    private WorkerClient _client = null!;

    [OneTimeSetUp]
    public async Task StartWorker()
    {
        _worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = tcp });
        _client = _worker.CreateClient();
    }

    [OneTimeTearDown]
    public async Task StopWorker()
    {
        await _client.DisposeAsync();
        await _worker.DisposeAsync();
    }

    private sealed record Run(SessionInitResult Init, List<RecordBatch> Output, SessionOutcome Outcome)
    {
        public string FinishText => Encoding.UTF8.GetString(Outcome.FinishData!.Value.Span);
    }

    private async Task<Run> RunAsync(string program, IAsyncEnumerable<RecordBatch> input, Schema? inputSchema, Schema? outputSchema = null)
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        var init = await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes(program), "builtin", inputSchema, outputSchema)).DefaultTimeout();
        var output = await session.ProcessAsync(input).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        return new Run(init, output, outcome);
    }

    private static IEnumerable<long> AllRows() => Enumerable.Range(0, Rows).Select(r => (long)r);

    [Test]
    public async Task Map_adds_to_an_int_column_upper_cases_a_string_column_and_projects_keeping_nulls()
    {
        var run = await RunAsync("add x 5\nupper name\nselect id, x, name", SampleBatches(Rows, BatchSize), SampleData.Schema);

        var expected = AllRows().Select(r => new object?[] { r, SampleData.X(r) + 5, SampleData.Name(r)?.ToUpperInvariant() }).ToList();
        var rows = Rows(run.Output);
        Assert.Multiple(() =>
        {
            Assert.That(run.Output, Has.Count.EqualTo(Rows / BatchSize));
            AssertRows(rows, expected);
            Assert.That(rows.Count(r => r[1] is null), Is.GreaterThan(10_000), "nulls stay nulls");
            Assert.That(rows.Any(r => ((string?)r[2])?.Contains('Ê', StringComparison.Ordinal) == true), Is.True, "non-ASCII letters are upper-cased");
            Assert.That(run.Output[0].Schema.FieldsList.Select(f => f.Name), Is.EqualTo(new[] { "id", "x", "name" }));
            Assert.That(ArrowSchemas.FindDifference(run.Output[0].Schema, ArrowSchemas.Deserialize(run.Init.Data!.Value)), Is.Null, "InitResponse.data declares the output schema");
            Assert.That(run.Outcome.Metrics!.RowsIn, Is.EqualTo(Rows));
            Assert.That(run.Outcome.Metrics.RowsOut, Is.EqualTo(Rows));
            Assert.That(run.FinishText, Is.EqualTo($"rows_in={Rows} rows_out={Rows}"));
        });
    }

    [Test]
    public async Task Map_adds_to_a_float_column_and_leaves_every_other_column_as_it_was()
    {
        var run = await RunAsync("add score -0.25", SampleBatches(Rows, BatchSize), SampleData.Schema);

        var expected = SampleRows(0, Rows);
        foreach (var row in expected)
        {
            row[2] = (double?)row[2] - 0.25;
        }

        AssertRows(Rows(run.Output), expected);
    }

    [Test]
    public async Task Filter_keeps_the_rows_where_the_condition_holds_and_drops_nulls()
    {
        var run = await RunAsync("filter x > 10", SampleBatches(Rows, BatchSize), SampleData.Schema);

        var kept = AllRows().Where(r => SampleData.X(r) > 10).ToList();
        Assert.Multiple(() =>
        {
            AssertRows(Rows(run.Output), kept.Select(r => SampleRows(r, 1)[0]).ToList());
            Assert.That(run.Outcome.Metrics!.RowsIn, Is.EqualTo(Rows));
            Assert.That(run.Outcome.Metrics.RowsOut, Is.EqualTo(kept.Count));
            Assert.That(kept.Count, Is.LessThan(Rows * 0.8).And.GreaterThan(Rows / 2));
        });
    }

    [Test]
    public async Task Filter_on_strings_and_booleans_then_project()
    {
        var run = await RunAsync("filter flag == true; filter name >= \"gamma\"; select name, ts", SampleBatches(Rows, BatchSize), SampleData.Schema);

        var expected = AllRows()
            .Where(r => SampleData.Flag(r) == true && SampleData.Name(r) is { } name && string.CompareOrdinal(name, "gamma") >= 0)
            .Select(r => new object?[] { SampleData.Name(r), SampleData.Timestamp(r) })
            .ToList();
        Assert.That(expected, Has.Count.GreaterThan(1000));
        AssertRows(Rows(run.Output), expected);
    }

    [Test]
    public async Task Aggregate_consumes_everything_and_answers_in_a_final_batch_and_the_FinishResponse()
    {
        var run = await RunAsync("aggregate count, sum x, min score, max x", SampleBatches(Rows, BatchSize), SampleData.Schema);

        var xs = AllRows().Select(SampleData.X).Where(x => x is not null).Select(x => (long)x!.Value).ToList();
        var minScore = AllRows().Select(SampleData.Score).Where(s => s is not null).Min();
        var result = Rows(run.Output.Single()).Single();
        Assert.Multiple(() =>
        {
            Assert.That(result, Is.EqualTo(new object?[] { (long)Rows, xs.Sum(), minScore, xs.Max() }));
            Assert.That(run.Output.Single().Schema.FieldsList.Select(f => f.Name), Is.EqualTo(new[] { "count", "sum_x", "min_score", "max_x" }));
            Assert.That(run.FinishText, Is.EqualTo(string.Create(
                CultureInfo.InvariantCulture,
                $"rows_in={Rows} rows_out=1 count={Rows} sum_x={xs.Sum()} min_score={minScore!.Value:R} max_x={xs.Max()}")));
            Assert.That(run.Outcome.Metrics!.RowsOut, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_generator_produces_the_sample_batches_with_no_input()
    {
        var run = await RunAsync($"generate {Rows} batch 8192", AsyncEnumerable.Empty<RecordBatch>(), inputSchema: null, outputSchema: SampleData.Schema);

        Assert.Multiple(() =>
        {
            Assert.That(run.Output.Select(b => b.Length), Is.EqualTo(Enumerable.Repeat(8192, 12).Append(Rows - (12 * 8192))));
            AssertRows(Rows(run.Output), SampleRows(0, Rows));
            Assert.That(ArrowSchemas.FindDifference(SampleData.Schema, ArrowSchemas.Deserialize(run.Init.Data!.Value)), Is.Null);
            Assert.That(run.Outcome.Diagnostics.BatchesSent, Is.Zero);
            Assert.That(run.Outcome.Metrics!.RowsIn, Is.Zero);
            Assert.That(run.Outcome.Metrics.HasRowsIn, Is.True, "zero is measured, not unknown");
            Assert.That(run.Outcome.Metrics.RowsOut, Is.EqualTo(Rows));
        });
    }

    [Test]
    public async Task A_per_batch_delay_combines_with_other_statements_and_shows_in_the_work_time()
    {
        const int Batches = 20;
        var delay = TimeSpan.FromMilliseconds(5);

        var run = await RunAsync("delay 5ms; add x 1; select id, x", SampleBatches(Batches * 100, 100), SampleData.Schema);

        AssertRows(Rows(run.Output), Enumerable.Range(0, Batches * 100).Select(r => new object?[] { (long)r, SampleData.X(r) + 1 }).ToList());
        Assert.That(TimeSpan.FromTicks((long)(run.Outcome.Metrics!.WorkWallNanos / 100)), Is.GreaterThanOrEqualTo(delay * Batches));
    }

    [Test]
    public async Task Raise_is_a_user_error_with_its_class_message_and_traceback_and_the_session_is_cancelled()
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("add x 1\nraise ValueError \"x too large\" when x > 99"), "builtin", SampleData.Schema)).DefaultTimeout();

        WorkerExecutionException? error = null;
        try
        {
            await session.ProcessAsync(SampleBatches(Rows, BatchSize)).ToListAsync();
        }
        catch (WorkerExecutionException ex)
        {
            error = ex;
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(error, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(error!.Kind, Is.EqualTo(SessionErrorKind.User));
            Assert.That(error.ErrorClass, Is.EqualTo("ValueError"));
            Assert.That(error.Error.Message, Is.EqualTo("x too large"));
            Assert.That(error.Traceback, Does.Contain("line 2, column 1").And.Contain("raise ValueError \"x too large\" when x > 99"));
            Assert.That(error.Traceback, Does.EndWith("ValueError: x too large (x > 99 holds for row 99 of input batch 0)"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Error?.ErrorClass, Is.EqualTo("ValueError"));
        });
    }

    [TestCase("generate 10\nraise RuntimeError \"always\"", "RuntimeError", "always", "RuntimeError: always (generated batch 0)")]
    [TestCase("add x 2147483600", "OverflowError", "add x 2147483600 overflows int32", "OverflowError: add x 2147483600 overflows int32 (row 48 of input batch 0)")]
    public async Task Other_user_errors_carry_their_class_and_where_they_happened(string program, string errorClass, string message, string tracebackEnd)
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        var generator = program.StartsWith("generate", StringComparison.Ordinal);
        await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes(program), "builtin", generator ? null : SampleData.Schema)).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() =>
            session.ProcessAsync(generator ? AsyncEnumerable.Empty<RecordBatch>() : SampleBatches(1_000, 100)).ToListAsync());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.ErrorClass, Is.EqualTo(errorClass));
        Assert.That(error.Error.Message, Is.EqualTo(message));
        Assert.That(error.Traceback, Does.EndWith(tracebackEnd));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [TestCase("filter x >", "line 1, column 11: expected a value after 'filter x >'")]
    [TestCase("select id\nadd x abc", "line 2, column 7: expected a number after 'add x', found 'abc'")]
    [TestCase("delay 5 parsecs", "line 1, column 7: expected a duration after 'delay'")]
    [TestCase("filter x = 3", "line 1, column 10: expected a comparison (==, !=, <, <=, >, >=) after 'filter x', found '=' (use == to compare)")]
    [TestCase("select id; generate 10", "line 1, column 12: 'generate' must be the first statement")]
    [TestCase("explode x", "line 1, column 1: unknown statement 'explode'")]
    [TestCase("raise ValueError \"unterminated", "line 1, column 18: this string has no closing \"")]
    [TestCase("# only a comment", "line 1, column 1: the program is empty")]
    public async Task A_program_that_does_not_parse_fails_Init_with_a_SyntaxError_naming_the_position(string program, string message)
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() => session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes(program), "builtin", SampleData.Schema)));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.Kind, Is.EqualTo(SessionErrorKind.User));
        Assert.That(error.ErrorClass, Is.EqualTo("SyntaxError"));
        Assert.That(error.Error.Message, Does.StartWith("the builtin program does not parse: " + message));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [TestCase("select id, nope", null, "line 1, column 12: no column 'nope'; the columns here are: id, x, score, name, flag, ts")]
    [TestCase("upper x", null, "line 1, column 7: 'upper' needs a utf8 column; 'x' is int32")]
    [TestCase("add x 0.5", null, "line 1, column 7: column 'x' is int32: add a whole number, not 0.5")]
    [TestCase("filter name > 3", null, "line 1, column 15: column 'name' is utf8: compare it with a quoted string, not 3")]
    [TestCase("select id, x", "mismatch", "the builtin program's output does not match Init.output_schema: it has 2 fields where the schema has 6")]
    public async Task A_program_that_does_not_fit_the_declared_schemas_fails_Init_with_an_AnalysisError(string program, string? output, string message)
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() => session.InitAsync(
            SessionInit.ForArrow(Encoding.UTF8.GetBytes(program), "builtin", SampleData.Schema, output is null ? null : SampleData.Schema)));
        await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.ErrorClass, Is.EqualTo("AnalysisError"));
        Assert.That(error.Error.Message, Does.Contain(message));
    }

    [Test]
    public async Task Without_a_declared_schema_the_program_is_checked_against_the_first_batch()
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        var init = await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("select nope"), "builtin", inputSchema: null)).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() => session.ProcessAsync(SampleBatches(1_000, 100)).ToListAsync());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(init.Data, Is.Null, "the output schema is not known at Init");
        Assert.That(error!.ErrorClass, Is.EqualTo("AnalysisError"));
        Assert.That(error.Error.Message, Does.Contain("does not fit the schema of DataRequest 0: line 1, column 8: no column 'nope'"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task Data_that_is_not_Arrow_is_a_ProtocolError_from_the_worker()
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("filter x > 1"), "builtin")).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() =>
            session.ProcessAsync(new ReadOnlyMemory<byte>[] { Encoding.UTF8.GetBytes("not arrow") }.ToAsyncEnumerable()).ToListAsync());
        await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.Kind, Is.EqualTo(SessionErrorKind.Protocol));
        Assert.That(error.Error.Message, Does.StartWith("DataRequest 0 is not a valid Arrow IPC stream"));
    }

    [Test]
    public async Task A_generator_rejects_input()
    {
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("generate 10"), "builtin", inputSchema: null)).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() => session.ProcessAsync(SampleBatches(10, 10)).ToListAsync());
        await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.ErrorClass, Is.EqualTo("ValueError"));
        Assert.That(error.Error.Message, Is.EqualTo("'generate' takes no input, but DataRequest 0 arrived"));
    }
}
