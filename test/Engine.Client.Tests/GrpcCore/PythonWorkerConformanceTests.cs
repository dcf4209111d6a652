using Engine.Client.Conformance;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// The conformance suite (CONFORMANCE.md section C) against the gRPC-core worker, every check,
/// driven by the worker's profile file (<c>test/workers/python/conformance-profile.json</c>): its
/// echo, an init that fails in its <c>hold-finish</c> UDF (a Python <c>ValueError</c>, so a
/// UserError), the user error of its <c>raise</c> format, and keepalive pings every second, which
/// it accepts when started as its profile says (<see cref="PermitPings"/>). It has no Arrow UDF, so
/// <c>arrow-output</c> is not applicable.
/// </summary>
[TestFixture]
public sealed class PythonWorkerConformanceTests
{
    /// <summary>
    /// The server setting its profile's <c>keepalive.pingDelayMs</c> (1000) needs: gRPC core accepts
    /// one ping per 5 minutes while it sends nothing unless told otherwise.
    /// </summary>
    public const string PermitPings = "grpc.http2.min_ping_interval_without_data_ms=500";

    private PythonWorkerProcess _worker = null!;

    /// <summary>Every check that leaves the worker running and that its profile covers (it has no Arrow UDF: no <c>arrowOutput</c>).</summary>
    public static IEnumerable<string> RunningChecks => WorkerConformance.DefaultCheckIds.Where(id => id != "arrow-output");

    public static IEnumerable<string> StoppingChecks => WorkerConformance.Checks.Where(c => c.StopsWorker).Select(c => c.Id);

    public static string ProfilePath => Path.Combine(Specs.RepositoryRoot(), "test", "workers", "python", "conformance-profile.json");

    /// <summary>The Python worker's profile file, as the CLI's <c>--profile</c> reads it.</summary>
    public static WorkerConformanceOptions Options() => WorkerConformanceOptions.LoadProfile(ProfilePath);

    [OneTimeSetUp]
    public async Task StartWorker() => _worker = await PythonWorkerProcess.StartAsync(tcp: false, PermitPings);

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
        await using var worker = await PythonWorkerProcess.StartAsync(tcp: false, PermitPings);
        await using var conformance = WorkerConformance.Create(worker.Address, options: Options());

        var result = await conformance.RunCheckAsync(id).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Passed), $"{result} {worker.Describe()}");
        Assert.That(await worker.WaitForExitAsync(TimeSpan.FromSeconds(20)), Is.Zero, worker.Describe());
    }

    [Test]
    public async Task Every_check_of_the_profile_run_passes_and_only_arrow_output_is_not_applicable()
    {
        await using var conformance = WorkerConformance.Create(_worker.Address, options: Options());

        var results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Multiple(() =>
        {
            Assert.That(results.Where(r => r.Status == ConformanceStatus.Failed), Is.Empty, _worker.Describe());
            Assert.That(results.Where(r => r.Status == ConformanceStatus.NotApplicable).Select(r => (r.Check.Id, r.ProfileKey)), Is.EqualTo(new[] { ("arrow-output", (string?)"arrowOutput") }));
        });
    }

    [Test]
    public async Task With_gRPC_cores_default_ping_policy_only_keepalive_pings_fails_and_says_why()
    {
        // The same worker with gRPC core's defaults (one ping per 5 minutes without data, 2
        // strikes): it closes the connection of the keepalive check, and only that check fails.
        await using var strict = await PythonWorkerProcess.StartAsync();
        await using var conformance = WorkerConformance.Create(strict.Address, options: Options());

        var results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));

        var failed = results.Where(r => r.Status == ConformanceStatus.Failed).ToList();
        Assert.That(failed.Select(r => r.Check.Id), Is.EqualTo(new[] { "keepalive-pings" }), string.Join(Environment.NewLine, failed));
        Assert.That(failed[0].Message, Does.Contain("keepalive pings every 1 s"), strict.Describe());
    }

    [Test]
    public async Task Launched_from_a_specification_it_passes_every_process_check_and_every_protocol_check()
    {
        var specification = WorkerSpecification.FromProto(Specs.Direct([PythonWorkerProcess.Python, PythonWorkerProcess.Script, "--option", PermitPings], initializationTimeoutMs: 30_000));

        var process = await WorkerConformance.CheckProcessAsync(specification).WaitAsync(TimeSpan.FromSeconds(180));
        IReadOnlyList<ConformanceResult> protocol;
        await using (var conformance = await WorkerConformance.LaunchAsync(specification, Options()).WaitAsync(TimeSpan.FromSeconds(60)))
        {
            protocol = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));
        }

        Assert.Multiple(() =>
        {
            // Every process check passes, the advisory ones too: it ignores unknown flags and
            // exits when its parent dies.
            Assert.That(process.Where(r => !r.Passed), Is.Empty, string.Join(Environment.NewLine, process));
            Assert.That(process.Select(r => r.Check.Id), Is.EqualTo(WorkerConformance.ProcessChecks.Select(c => c.Id)));
            Assert.That(protocol.Where(r => r.Status is ConformanceStatus.Failed or ConformanceStatus.Warning), Is.Empty);
            Assert.That(process.Concat(protocol).Where(r => r.Status == ConformanceStatus.NotApplicable).Select(r => r.Check.Id), Is.EqualTo(new[] { "arrow-output" }));
        });
    }

    [Test]
    public async Task With_the_reference_workers_profile_only_the_checks_of_its_fault_format_fail_and_say_why()
    {
        // What a user sees running the suite with the wrong profile: the Python worker has no
        // `fault` and `builtin` formats, so C8, large-output and arrow-output cannot start their
        // UDF; every other check passes.
        await using var conformance = WorkerConformance.Create(_worker.Address);

        var results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));

        var failed = results.Where(r => !r.Passed).ToList();
        Assert.That(failed.Select(r => r.Check.Id), Is.EqualTo(new[] { "C8", "large-output", "arrow-output" }), string.Join(Environment.NewLine, failed));
        Assert.That(failed.Select(r => r.Message), Is.All.Contain("unknown payload format '"));
    }
}
