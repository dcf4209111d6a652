using System.Text.Json;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary>Ctrl+C (SIGINT) in the middle of a run: the session is cancelled cleanly, then engine-client exits 130.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliInterruptTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Ctrl_C_while_the_input_blocks_cancels_the_session_cleanly_and_exits_130()
    {
        // A worker of its own: its counters tell when the stream is mid-run and how it ended.
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        await using var cli = CliProcess.Start(["run", "--worker", worker.Address, "--format", "echo", "--input", "-", "--json", "--no-progress"], redirectStdin: true);

        // The sample stream without its end-of-stream marker: the CLI sends every batch, then waits for more.
        var stream = await File.ReadAllBytesAsync(CliTestFiles.SampleStream);
        Assert.That(stream[^8..], Is.EqualTo(new byte[] { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 }));
        await cli.StandardInput.WriteAsync(stream.AsMemory(0, stream.Length - 8));
        await cli.StandardInput.FlushAsync();
        var batches = CliTestFiles.SampleRows / CliTestFiles.SampleBatchRows;
        await worker.WaitForMetricAsync("batches_in", n => n >= batches, Bound);

        cli.Signal(CliProcess.SigInt);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.That(result.ExitCode, Is.EqualTo(130), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("interrupted"));
            Assert.That(json.RootElement.GetProperty("exitCode").GetInt32(), Is.EqualTo(130));
            Assert.That(json.RootElement.GetProperty("sent").GetProperty("batches").GetInt64(), Is.EqualTo(batches));

            // Clean: the worker answered the Cancel within the grace (its CancelResponse carried the
            // metrics); an unacknowledged Cancel would have left them null.
            Assert.That(json.RootElement.GetProperty("metrics").ValueKind, Is.EqualTo(JsonValueKind.Object));
            Assert.That(result.Stderr, Does.Contain("interrupted; cancelling the session"));
        });
        await worker.WaitForMetricAsync("sessions_cancelled", n => n == 1, Bound);
        cli.StandardInput.Close();
    }

    [Test]
    public async Task Ctrl_C_during_a_slow_UDF_cancels_the_session_and_exits_130()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        await using var cli = CliProcess.Start(["run", "--worker", worker.Address, "--format", "fault", "--payload", "slow:60000", "--input", CliTestFiles.SampleFile, "--json", "--no-progress"]);
        await worker.WaitForMetricAsync("batches_in", n => n >= 1, Bound);

        cli.Signal(CliProcess.SigInt);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.That(result.ExitCode, Is.EqualTo(130), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("interrupted"));

            // The worker's terminator (with its metrics) arrived within the Cancel grace: the 60 s
            // delay was interrupted; otherwise the call would have been aborted, metrics null.
            Assert.That(json.RootElement.GetProperty("metrics").ValueKind, Is.EqualTo(JsonValueKind.Object));
        });
        await worker.WaitForMetricAsync("active_sessions", n => n == 0, Bound);
    }
}
