using Engine.Client.Conformance;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// The conformance suite (CONFORMANCE.md section C) against the gRPC-core worker, every check,
/// driven by the worker's profile file (<c>test/workers/python/conformance-profile.json</c>): its
/// echo, an init that fails in its <c>hold-finish</c> UDF (a Python <c>ValueError</c>, so a
/// UserError), and the user error of its <c>raise</c> format.
/// </summary>
[TestFixture]
public sealed class PythonWorkerConformanceTests
{
    private PythonWorkerProcess _worker = null!;

    public static IEnumerable<string> RunningChecks => WorkerConformance.DefaultCheckIds;

    public static IEnumerable<string> StoppingChecks => WorkerConformance.Checks.Where(c => c.StopsWorker).Select(c => c.Id);

    public static string ProfilePath => Path.Combine(Specs.RepositoryRoot(), "test", "workers", "python", "conformance-profile.json");

    /// <summary>The Python worker's profile file, as the CLI's <c>--profile</c> reads it.</summary>
    public static WorkerConformanceOptions Options() => WorkerConformanceOptions.LoadProfile(ProfilePath);

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
    public async Task Every_check_of_the_profile_run_passes_and_none_is_not_applicable()
    {
        await using var conformance = WorkerConformance.Create(_worker.Address, options: Options());

        var results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));

        Assert.That(results.Where(r => r.Status != ConformanceStatus.Passed), Is.Empty, _worker.Describe());
    }

    [Test]
    public async Task Launched_from_a_specification_it_passes_every_process_check_and_every_protocol_check()
    {
        var specification = WorkerSpecification.FromProto(Specs.Direct([PythonWorkerProcess.Python, PythonWorkerProcess.Script], initializationTimeoutMs: 30_000));

        var process = await WorkerConformance.CheckProcessAsync(specification).WaitAsync(TimeSpan.FromSeconds(180));
        IReadOnlyList<ConformanceResult> protocol;
        await using (var conformance = await WorkerConformance.LaunchAsync(specification, Options()).WaitAsync(TimeSpan.FromSeconds(60)))
        {
            protocol = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));
        }

        Assert.That(process.Concat(protocol).Where(r => r.Status != ConformanceStatus.Passed), Is.Empty);
    }

    [Test]
    public async Task With_the_reference_workers_profile_only_the_checks_of_its_fault_format_fail_and_say_why()
    {
        // What a user sees running the suite with the wrong profile: the Python worker has no
        // `fault` format, so C8 and large-output cannot start their UDF; every other check passes.
        await using var conformance = WorkerConformance.Create(_worker.Address);

        var results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));

        var failed = results.Where(r => !r.Passed).ToList();
        Assert.That(failed.Select(r => r.Check.Id), Is.EqualTo(new[] { "C8", "large-output" }), string.Join(Environment.NewLine, failed));
        Assert.That(failed.Select(r => r.Message), Is.All.Contain("unknown payload format 'fault'"));
    }
}
