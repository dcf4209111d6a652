using System.Text;
using System.Text.Json;
using Engine.Client.Tests.GrpcCore;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client</c> as a real process against the gRPC-core worker (Python grpcio), with <c>--keepalive</c>.</summary>
[TestFixture]
public sealed class CliGrpcCoreTests
{
    private PythonWorkerProcess _worker = null!;

    [OneTimeSetUp]
    public async Task StartWorker() => _worker = await PythonWorkerProcess.StartAsync();

    [OneTimeTearDown]
    public async Task StopWorker() => await _worker.DisposeAsync();

    [TestCase("off")]
    [TestCase("10m")]
    public async Task Run_echoes_an_Arrow_file_through_the_worker_and_exits_0(string keepAlive)
    {
        var result = await CliProcess.RunAsync(
            "run", "--worker", _worker.Address, "--format", "echo", "--input", CliTestFiles.SampleFile, "--keepalive", keepAlive, "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.Zero, $"{result} {_worker.Describe()}");
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.That(root.GetProperty("outcome").GetString(), Is.EqualTo("finished"));
        Assert.That(root.GetProperty("received").GetProperty("rows").GetInt64(), Is.EqualTo(CliTestFiles.SampleRows));
        Assert.That(Encoding.UTF8.GetString(root.GetProperty("finishData").GetBytesFromBase64()), Is.EqualTo($"echoed {CliTestFiles.SampleRows / CliTestFiles.SampleBatchRows} batches"));
    }

    [Test]
    public async Task Run_reports_a_Python_exception_as_a_user_error_and_exits_1()
    {
        var result = await CliProcess.RunAsync(
            "run", "--worker", _worker.Address, "--format", "raise", "--payload", "no thanks", "--input", CliTestFiles.SampleFile, "--json", "--no-progress");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var error = json.RootElement.GetProperty("error");
        Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("cancelled"));
        Assert.That(error.GetProperty("kind").GetString(), Is.EqualTo("user"));
        Assert.That(error.GetProperty("message").GetString(), Is.EqualTo("no thanks"));
        Assert.That(error.GetProperty("errorClass").GetString(), Is.EqualTo("ValueError"));
        Assert.That(error.GetProperty("traceback").GetString(), Does.StartWith("Traceback (most recent call last):"));
    }

    [Test]
    public async Task Run_with_a_keepalive_the_worker_does_not_allow_fails_its_quiet_session_with_exit_3_and_says_why()
    {
        // The worker's ping enforcement scaled to 5 s (gRPC core's default is 5 minutes, 2 strikes).
        await using var strict = await PythonWorkerProcess.StartAsync(
            tcp: false, "grpc.http2.min_ping_interval_without_data_ms=5000", "grpc.http2.max_ping_strikes=2");
        await using var cli = CliProcess.Start(
            ["run", "--worker", strict.Address, "--format", "sink", "--input", "-", "--keepalive", "1s", "--json", "--no-progress"], redirectStdin: true);

        // The sample stream without its end-of-stream marker: every batch goes out, then the input
        // stays open and the session quiet until the worker closes the connection.
        var stream = await File.ReadAllBytesAsync(CliTestFiles.SampleStream);
        await cli.StandardInput.WriteAsync(stream.AsMemory(0, stream.Length - 8));
        await cli.StandardInput.FlushAsync();
        var result = await cli.WaitForExitAsync(TimeSpan.FromSeconds(90));

        Assert.That(result.ExitCode, Is.EqualTo(3), $"{result} {strict.Describe()}");
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("transport_failed"));
        Assert.That(json.RootElement.GetProperty("error").GetProperty("message").GetString(), Does.Contain("too many keepalive pings"));
    }

    [Test]
    public async Task Heartbeat_with_a_keepalive_shows_the_workers_metrics()
    {
        var result = await CliProcess.RunAsync("heartbeat", "--worker", _worker.Address, "--keepalive", "6m", "--json");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("metrics").GetProperty("worker_id").GetString(), Is.EqualTo(_worker.Id));
    }
}
