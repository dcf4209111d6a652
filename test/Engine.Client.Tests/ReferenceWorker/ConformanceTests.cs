using Engine.Client.Conformance;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>docs/conformance.md section C against the reference worker over a Unix domain socket: one test per check.</summary>
[TestFixture]
public sealed class ConformanceTests
{
    private ReferenceWorkerProcess _worker = null!;
    private WorkerConformance _conformance = null!;

    public static IEnumerable<string> RunningChecks => WorkerConformance.DefaultCheckIds;

    [OneTimeSetUp]
    public async Task StartWorker()
    {
        _worker = await ReferenceWorkerProcess.StartAsync();
        _conformance = WorkerConformance.Create(_worker.Address);
    }

    [OneTimeTearDown]
    public async Task StopWorker()
    {
        _conformance.Dispose();
        await _worker.DisposeAsync();
    }

    [TestCaseSource(nameof(RunningChecks))]
    public async Task Check_passes_over_a_unix_socket(string id)
    {
        var result = await _conformance.RunCheckAsync(id).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Passed), $"{result} {_worker.Describe()}");
    }

    [Test]
    public void The_catalog_covers_every_line_of_section_C_and_the_named_extras()
    {
        var ids = WorkerConformance.Checks.Select(c => c.Id).ToList();

        Assert.Multiple(() =>
        {
            for (var i = 1; i <= 18; i++)
            {
                Assert.That(ids, Does.Contain("C" + i));
            }

            Assert.That(ids, Does.Contain("payload-size-mismatch"));
            Assert.That(ids, Does.Contain("payload-crc-mismatch"));
            Assert.That(ids, Does.Contain("data-format-unspecified"));
            Assert.That(ids, Does.Contain("shutdown-cancels-sessions"));
            Assert.That(ids, Is.Unique);
            Assert.That(WorkerConformance.Checks.Where(c => c.StopsWorker).Select(c => c.Id), Is.EquivalentTo(new[] { "C18", "shutdown-cancels-sessions" }));
        });
    }

    [Test]
    public async Task RunAsync_runs_every_check_that_leaves_the_worker_running()
    {
        var reported = new List<ConformanceResult>();
        var results = await _conformance.RunAsync(RunningChecks, new SynchronousProgress(reported)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Check.Id), Is.EqualTo(RunningChecks));
            Assert.That(results.Where(r => !r.Passed), Is.Empty, _worker.Describe());
            Assert.That(reported, Is.EqualTo(results));
        });

        var defaults = await _conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(defaults.Select(r => r.Check.Id), Is.EqualTo(RunningChecks));
    }

    [Test]
    public void An_unknown_check_id_is_rejected_with_the_known_ids()
    {
        var error = Assert.ThrowsAsync<ArgumentException>(() => _conformance.RunCheckAsync("C99"));

        Assert.That(error!.Message, Does.Contain("C99").And.Contain("C1").And.Contain("payload-crc-mismatch"));
    }

    [TestCase("C1", "finish-error", "FinishResponse carrying UserError 'fault: finish callback failed'")]
    [TestCase("C1", "error-after-init", "got ErrorResponse(UserError 'fault: error after init')")]
    [TestCase("C2", "data-before-init", "expected InitResponse without error, got DataResponse")]
    [TestCase("C6", "cancel-callback-error", "got ErrorResponse(UserError 'data-phase boom')")]
    [TestCase("C1", "end-before-init", "ended the call (status OK) without it")]
    [TestCase("C1", "status-error", "gRPC status Internal 'fault: status error'")]
    public async Task A_misbehaving_udf_fails_the_check_with_what_was_expected_and_what_arrived(string id, string fault, string expected)
    {
        // The fault format stands in for a broken worker: the check must notice and say how.
        using var conformance = new WorkerConformance(
            _worker.Channel.CreateCallInvoker(),
            new WorkerConformanceOptions { EchoFormat = "fault", EchoPayload = System.Text.Encoding.UTF8.GetBytes(fault), Timeout = TimeSpan.FromSeconds(5) });

        var result = await conformance.RunCheckAsync(id).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Failed));
        Assert.That(result.Message, Does.Contain(expected));
    }

    [Test]
    public async Task A_worker_that_never_answers_fails_the_check_within_the_timeout_instead_of_hanging()
    {
        using var conformance = new WorkerConformance(
            _worker.Channel.CreateCallInvoker(),
            new WorkerConformanceOptions { EchoFormat = "fault", EchoPayload = System.Text.Encoding.UTF8.GetBytes("silent"), Timeout = TimeSpan.FromMilliseconds(300) });

        var result = await conformance.RunCheckAsync("C1").WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.Failed));
        Assert.That(result.Message, Does.Contain("expected InitResponse without error, but nothing arrived within 0.3 s"));
    }

    [Test]
    public async Task C8_is_not_applicable_when_no_user_error_udf_is_configured()
    {
        using var conformance = new WorkerConformance(_worker.Channel.CreateCallInvoker(), new WorkerConformanceOptions { UserErrorFormat = null });

        var result = await conformance.RunCheckAsync("C8").WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.NotApplicable));
        Assert.That(result.ProfileKey, Is.EqualTo("userError"));
    }

    [Test]
    public async Task Keepalive_pings_is_not_applicable_without_the_workers_address()
    {
        using var conformance = new WorkerConformance(_worker.Channel.CreateCallInvoker());

        var result = await conformance.RunCheckAsync("keepalive-pings").WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Status, Is.EqualTo(ConformanceStatus.NotApplicable));
        Assert.That(result.ProfileKey, Is.Null);
        Assert.That(result.Message, Does.Contain("not the worker's address"));
    }

    private sealed class SynchronousProgress(List<ConformanceResult> target) : IProgress<ConformanceResult>
    {
        public void Report(ConformanceResult value) => target.Add(value);
    }
}
