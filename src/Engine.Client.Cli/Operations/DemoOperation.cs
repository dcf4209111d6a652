using System.Diagnostics;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Apache.Arrow;
using Engine.Client.Cli.Arrow;
using Engine.Client.Cli.Output;
using Engine.Samples;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// The demo: the reference worker launched through a <see cref="WorkerPool"/> over a specification
/// built in code; a <c>builtin</c> program padded to a few MiB so it travels in payload chunks; a
/// real Arrow dataset (six columns, strings and nulls) streamed through it and the result checked
/// row by row; the outcome and metrics; a heartbeat; a clean shutdown.
/// </summary>
internal static class DemoOperation
{
    public const string Program = "filter x >= 50; upper name; add score 0.5; select id, x, score, name, flag, ts";

    private const int PayloadSize = 3 * 1024 * 1024;
    private const int ChunkSize = 512 * 1024;
    private const int Rows = 120_000;
    private const int BatchRows = 10_000;
    private const int PreviewRows = 10;

    public static async Task<int> RunAsync(Renderer output, TextWriter error, CancellationToken interrupt, CancellationToken force)
    {
        var specification = ReferenceWorkerLocator.Specification();
        output.Heading("engine-client demo");
        output.Line($"Starting the reference worker: {specification.Runner} --id <id> --connection <socket>");

        var sessionOptions = new SessionOptions { PayloadChunkSize = ChunkSize };
        var pool = WorkerPool.Create(specification, new WorkerPoolOptions { MaxIdleWorkers = 1, Session = sessionOptions });
        await using var poolScope = pool;
        var clock = Stopwatch.StartNew();
        IReadOnlyList<PooledWorkerInfo> workers;
        try
        {
            workers = await pool.StartWorkersAsync(1, interrupt);
        }
        catch (Exception ex) when (ex is WorkerLaunchException or WorkerEnvironmentException)
        {
            await error.WriteLineAsync($"engine-client demo: the reference worker could not be started: {CliApp.OneLine(ex.Message)}");
            return ExitCodes.Transport;
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }

        var worker = workers[0];
        output.Marked(Mark.Good, "worker up", $"{worker.Id}, pid {worker.ProcessId}, at {worker.Address} ({Formats.Milliseconds(clock.Elapsed)})");
        output.Line();

        RunReport report;
        try
        {
            report = await RunSessionAsync(pool, output, interrupt, force);
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            // Interrupted before the session opened.
            return ExitCodes.Interrupted;
        }

        output.Line();
        RunReportText.Write(report, output);
        if (report.ExitCode != ExitCodes.Success)
        {
            await error.WriteLineAsync($"engine-client demo: the session ended {RunReportJson.OutcomeName(report.Outcome)}: {(report.Error is { } failure ? CliApp.OneLine(RunReportText.Message(failure)) : "no error")}");
            return report.ExitCode;
        }

        output.Line();
        var heartbeat = await ManageOperations.HeartbeatAsync(worker.Address, TimeSpan.FromSeconds(5), interrupt);
        ManageText.Heartbeat(heartbeat, output);
        if (!heartbeat.Answered)
        {
            return heartbeat.ExitCode;
        }

        output.Line();
        var shutdown = await ManageOperations.ShutdownAsync(worker.Address, "the demo is over", cancelSessions: false, TimeSpan.FromSeconds(10), interrupt);
        ManageText.Shutdown(shutdown, output);
        if (!shutdown.Answered)
        {
            return shutdown.ExitCode;
        }

        await pool.DisposeAsync();
        output.Marked(Mark.Good, "worker stopped", $"the demo took {Formats.Seconds(clock.Elapsed)}");
        return ExitCodes.Success;
    }

    /// <summary>The program, padded with a comment to <see cref="PayloadSize"/> bytes so that it is sent in chunks.</summary>
    public static byte[] PaddedProgram()
    {
        var text = new StringBuilder(PayloadSize + 128);
        text.Append(Program).Append('\n');
        const string Line = "# padding: the payload is opaque to the engine; this comment makes it large enough to travel in PayloadChunks\n";
        while (text.Length + Line.Length <= PayloadSize)
        {
            text.Append(Line);
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static async Task<RunReport> RunSessionAsync(WorkerPool pool, Renderer output, CancellationToken interrupt, CancellationToken force)
    {
        var started = Stopwatch.GetTimestamp();
        var payload = PaddedProgram();
        var crc = Crc32.HashToUInt32(payload);
        var chunks = (payload.Length + ChunkSize - 1) / ChunkSize;
        await using var session = await pool.OpenSessionAsync(cancellationToken: interrupt);
        var init = SessionInit.ForArrow(payload, "builtin", SampleData.Schema);
        init.Name = "demo";
        init.Chunking = PayloadChunking.Always;
        var check = new ResultCheck();
        var state = new RunState { CountsRows = true };
        var preview = new List<IReadOnlyList<string>>();
        IReadOnlyList<string> columns = [];
        RunError? local = null;
        RunError? rejected = null;
        try
        {
            var answer = await session.InitAsync(init, interrupt);
            output.Marked(
                Mark.Good,
                "payload",
                string.Create(CultureInfo.InvariantCulture, $"a builtin program padded to {Formats.Bytes(payload.Length)}, sent in {chunks} chunks of {Formats.Bytes(ChunkSize)}, CRC-32 0x{crc:x8}; Init accepted in {Formats.Milliseconds(answer.Elapsed)}"));
            output.Line($"     program: {Program}");

            var streaming = Stopwatch.StartNew();
            await foreach (var batch in session.ProcessAsync(Input(state), interrupt))
            {
                using (batch)
                {
                    state.AddRowsReceived(batch.Length);
                    check.Verify(batch);
                    if (columns.Count == 0)
                    {
                        columns = [.. batch.Schema.FieldsList.Select(f => f.Name)];
                    }

                    for (var row = 0; row < batch.Length && preview.Count < PreviewRows; row++)
                    {
                        preview.Add([.. Enumerable.Range(0, batch.ColumnCount).Select(c => ArrowCells.Format(batch.Column(c), row))]);
                    }
                }
            }

            var verdict = check.Finish();
            output.Marked(
                verdict is null ? Mark.Good : Mark.Bad,
                "data",
                $"{Formats.Count(Rows)} rows ({SampleData.Schema.FieldsList.Count} columns, with strings and nulls) sent in {Rows / BatchRows} batches; {Formats.Count(state.RowsReceived)} rows came back in {Formats.Milliseconds(streaming.Elapsed)}; {verdict ?? "every row as expected"}");
            if (verdict is not null)
            {
                local = new RunError { Kind = RunErrorKind.Output, Message = verdict };
            }
        }
        catch (WorkerOutputException ex)
        {
            // Rejected output fails the demo whatever terminator follows.
            rejected = RunOperation.InvalidOutput(ex);
        }
        catch (Exception ex) when (ex is WorkerException or OperationCanceledException)
        {
            // The outcome says what happened.
        }

        var outcome = await session.CloseAsync(force);
        var (kind, exitCode, error) = RunOperation.Classify(outcome, rejected, interrupt.IsCancellationRequested, timedOut: null);
        if (kind == RunOutcome.Finished && local is not null)
        {
            (kind, exitCode, error) = (RunOutcome.Failed, ExitCodes.WorkerError, local);
        }

        var d = outcome.Diagnostics;
        return new RunReport
        {
            Outcome = kind,
            ExitCode = exitCode,
            Error = error,
            Worker = session.Worker,
            Format = "builtin",
            Sent = new Traffic(d.BatchesSent, state.RowsSent, d.BytesSent),
            Received = new Traffic(d.BatchesReceived, state.RowsReceived, d.BytesReceived, state.BatchesRead),
            Metrics = outcome.Metrics,
            InitData = outcome.InitData,
            FinishData = outcome.FinishData,
            Duration = Stopwatch.GetElapsedTime(started),
            Preview = new OutputPreview(columns, preview, Complete: false, Title: $"What came back (the first {preview.Count} of {Formats.Count(state.RowsReceived)} rows)"),
        };
    }

    private static async IAsyncEnumerable<RecordBatch> Input(RunState state)
    {
        RecordBatch? previous = null;
        try
        {
            foreach (var batch in SampleData.CreateBatches(Rows, BatchRows))
            {
                previous?.Dispose();
                previous = batch;
                state.AddRowsSent(batch.Length);
                await Task.Yield();
                yield return batch;
            }
        }
        finally
        {
            previous?.Dispose();
        }
    }

    /// <summary>Recomputes the program's result from the row numbers and compares every row that came back.</summary>
    private sealed class ResultCheck
    {
        private long _nextRow;
        private long _rows;
        private string? _problem;

        public void Verify(RecordBatch batch)
        {
            var id = (Int64Array)batch.Column("id");
            var x = (Int32Array)batch.Column("x");
            var score = (DoubleArray)batch.Column("score");
            var name = (StringArray)batch.Column("name");
            for (var i = 0; i < batch.Length && _problem is null; i++)
            {
                var expected = NextExpectedRow();
                var row = id.GetValue(i);
                if (row != expected)
                {
                    _problem = $"row {_rows}: id {row}, expected {expected}";
                }
                else if (x.GetValue(i) != SampleData.X(expected)
                    || score.GetValue(i) != SampleData.Score(expected) + 0.5
                    || name.GetString(i) != SampleData.Name(expected)?.ToUpperInvariant())
                {
                    _problem = $"row {_rows} (id {expected}) differs from the expected x, score or name";
                }

                _rows++;
            }
        }

        public string? Finish()
        {
            if (_problem is not null)
            {
                return _problem;
            }

            var expected = 0L;
            for (long r = 0; r < Rows; r++)
            {
                if (SampleData.X(r) >= 50)
                {
                    expected++;
                }
            }

            return _rows == expected ? null : $"{_rows} rows came back, expected {expected}";
        }

        private long NextExpectedRow()
        {
            while (_nextRow < Rows && !(SampleData.X(_nextRow) >= 50))
            {
                _nextRow++;
            }

            return _nextRow++;
        }
    }
}
