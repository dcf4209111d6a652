using System.Text;
using Engine.Client.Conformance;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// The conformance suite (CONFORMANCE.md section C) against the gRPC-core worker, every check.
/// The suite's defaults name the reference worker's formats; the mapping below names the Python
/// worker's: <c>echo</c> is the same, and the user error comes from its <c>raise</c> format, a
/// Python <c>ValueError</c> (C8 still requires the message exactly as produced, and the class).
/// </summary>
[TestFixture]
public sealed class PythonWorkerConformanceTests
{
    private PythonWorkerProcess _worker = null!;

    public static IEnumerable<string> RunningChecks => WorkerConformance.DefaultCheckIds;

    public static IEnumerable<string> StoppingChecks => WorkerConformance.Checks.Where(c => c.StopsWorker).Select(c => c.Id);

    /// <summary>The Python worker's formats in the suite's terms.</summary>
    public static WorkerConformanceOptions Options() => new()
    {
        EchoFormat = "echo",
        UserErrorFormat = "raise",
        UserErrorPayload = Encoding.UTF8.GetBytes("boom in UDF"),
        ExpectedUserErrorMessage = "boom in UDF",
        ExpectedUserErrorClass = "ValueError",
    };

    [OneTimeSetUp]
    public async Task StartWorker() => _worker = await PythonWorkerProcess.StartAsync();

    [OneTimeTearDown]
    public async Task StopWorker() => await _worker.DisposeAsync();

    [TestCaseSource(nameof(RunningChecks))]
    public async Task Check_passes(string id)
    {
        await using var conformance = WorkerConformance.Create(_worker.Address, options: Options());

        var result = await conformance.RunCheckAsync(id).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Passed), $"{result} {_worker.Describe()}");
    }

    [TestCaseSource(nameof(StoppingChecks))]
    public async Task Check_that_stops_the_worker_passes_and_the_worker_exits(string id)
    {
        await using var worker = await PythonWorkerProcess.StartAsync();
        await using var conformance = WorkerConformance.Create(worker.Address, options: Options());

        var result = await conformance.RunCheckAsync(id).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Passed), $"{result} {worker.Describe()}");
        Assert.That(await worker.WaitForExitAsync(TimeSpan.FromSeconds(20)), Is.Zero, worker.Describe());
    }

    [Test]
    public async Task With_the_reference_workers_defaults_only_the_user_error_check_fails_and_says_why()
    {
        // What a user sees running the suite unmapped (as `engine-client conformance` does): the
        // Python worker has no `fault` format, so C8 cannot start its UDF; every other check passes.
        await using var conformance = WorkerConformance.Create(_worker.Address);

        var results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));

        var failed = results.Where(r => !r.Passed).ToList();
        Assert.That(failed.Select(r => r.Check.Id), Is.EqualTo(new[] { "C8" }), string.Join(Environment.NewLine, failed));
        Assert.That(failed[0].Message, Does.Contain("unknown payload format 'fault'"));
    }
}
