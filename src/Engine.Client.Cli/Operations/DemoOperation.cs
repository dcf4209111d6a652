using System.Diagnostics;
using System.Globalization;
using System.IO.Hashing;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// The demo: the reference worker launched through a <see cref="WorkerPool"/> over a specification
/// built in code, a payload large enough to be chunked, data streamed through an echo UDF, the
/// outcome and metrics, a heartbeat, and a clean shutdown.
/// </summary>
internal static class DemoOperation
{
    private const int PayloadSize = 3 * 1024 * 1024;
    private const int ChunkSize = 512 * 1024;
    private const int BatchCount = 64;
    private const int BatchSize = 64 * 1024;

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

        var worker = workers[0];
        output.Marked(Mark.Good, "worker up", $"{worker.Id}, pid {worker.ProcessId}, at {worker.Address} ({Formats.Milliseconds(clock.Elapsed)})");
        output.Line();

        var report = await RunSessionAsync(pool, output, interrupt, force);
        output.Line();
        RunReportText.Write(report, output);
        if (report.ExitCode != ExitCodes.Success)
        {
            await error.WriteLineAsync($"engine-client demo: the session ended {RunReportJson.OutcomeName(report.Outcome)}: {report.Error?.Message}");
            return report.ExitCode;
        }

        output.Line();
        await using var client = WorkerClient.Create(worker.Address);
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

    private static async Task<RunReport> RunSessionAsync(WorkerPool pool, Renderer output, CancellationToken interrupt, CancellationToken force)
    {
        var started = Stopwatch.GetTimestamp();
        var payload = Pattern(PayloadSize, seed: 7);
        var crc = Crc32.HashToUInt32(payload);
        var chunks = (PayloadSize + ChunkSize - 1) / ChunkSize;
        await using var session = await pool.OpenSessionAsync(cancellationToken: interrupt);
        var init = new SessionInit(payload, "echo") { Name = "demo echo", Chunking = PayloadChunking.Always };
        var preview = new List<IReadOnlyList<string>>();
        var identical = 0;
        try
        {
            var answer = await session.InitAsync(init, interrupt);
            output.Marked(
                Mark.Good,
                "payload",
                string.Create(CultureInfo.InvariantCulture, $"{Formats.Bytes(PayloadSize)} sent in {chunks} chunks of {Formats.Bytes(ChunkSize)}, CRC-32 0x{crc:x8}; Init accepted in {Formats.Milliseconds(answer.Elapsed)}"));

            var batches = Enumerable.Range(0, BatchCount).Select(i => Pattern(BatchSize, seed: i)).ToArray();
            var index = 0;
            var streaming = Stopwatch.StartNew();
            await foreach (var batch in session.ProcessAsync(Input(batches), interrupt))
            {
                if (batch.Span.SequenceEqual(batches[index]))
                {
                    identical++;
                }

                if (preview.Count < 5)
                {
                    preview.Add([(index + 1).ToString(CultureInfo.InvariantCulture), Formats.Bytes(batch.Length), BytePreview.Describe(batch.Span[..16])]);
                }

                index++;
            }

            output.Marked(
                identical == BatchCount ? Mark.Good : Mark.Bad,
                "echo",
                $"{BatchCount} batches of {Formats.Bytes(BatchSize)} streamed through in {Formats.Milliseconds(streaming.Elapsed)}; {identical} of {BatchCount} came back identical");
        }
        catch (Exception ex) when (ex is WorkerException or OperationCanceledException)
        {
            // The outcome says what happened.
        }

        var outcome = await session.CloseAsync(force);
        var (kind, exitCode, error) = RunOperation.Classify(outcome, null, interrupt.IsCancellationRequested, timedOut: null);
        if (kind == RunOutcome.Finished && identical != BatchCount)
        {
            (kind, exitCode, error) = (RunOutcome.Failed, ExitCodes.WorkerError, new RunError { Kind = RunErrorKind.Output, Message = $"{BatchCount - identical} batches came back changed." });
        }

        var d = outcome.Diagnostics;
        return new RunReport
        {
            Outcome = kind,
            ExitCode = exitCode,
            Error = error,
            Worker = session.Worker,
            Format = "echo",
            Sent = new Traffic(d.BatchesSent, null, d.BytesSent),
            Received = new Traffic(d.BatchesReceived, null, d.BytesReceived),
            Metrics = outcome.Metrics,
            InitData = outcome.InitData,
            FinishData = outcome.FinishData,
            Duration = Stopwatch.GetElapsedTime(started),
            Preview = new OutputPreview(["batch", "size", "first 16 bytes"], preview, Complete: false, Title: $"What came back (the first {preview.Count} of {d.BatchesReceived} batches)"),
        };
    }

    private static byte[] Pattern(int size, int seed)
    {
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)((i * 31) + (seed * 17));
        }

        return bytes;
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Input(byte[][] batches)
    {
        foreach (var batch in batches)
        {
            await Task.Yield();
            yield return batch;
        }
    }
}
