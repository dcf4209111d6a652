using Engine.Client.Conformance;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.Conformance;

/// <summary>
/// The process contract checks of a worker launched from its specification: the reference worker
/// passes them; a launcher that refuses to start over a stale socket file fails only
/// <c>process-stale-socket</c>; one that ignores SIGTERM fails only <c>process-sigterm</c>; a worker
/// that never listens fails <c>process-ready</c> (and the other two, which need a ready worker).
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class ProcessConformanceTests
{
    private static readonly Dictionary<string, string> Environment = new() { ["DOTNET_gcServer"] = "0" };

    [Test]
    public async Task The_reference_worker_passes_every_process_check()
    {
        var results = await WorkerConformance.CheckProcessAsync(Spec([ReferenceWorkerProcess.ExecutablePath])).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.That(results.Select(r => r.Check.Id), Is.EqualTo(WorkerConformance.ProcessChecks.Select(c => c.Id)));
        Assert.That(results.Where(r => !r.Passed), Is.Empty);
    }

    [Test]
    public async Task A_worker_that_does_not_remove_a_stale_socket_fails_only_that_check()
    {
        // The launcher exits when something already exists at the socket path, as a worker that
        // binds without removing a stale file does.
        var spec = Spec(["/bin/sh", "-c", """for a in "$@"; do [ "$p" = --connection ] && s="$a"; p="$a"; done; [ -e "$s" ] && { echo "address in use: $s" >&2; exit 98; }; exec "$0" "$@" """, ReferenceWorkerProcess.ExecutablePath]);

        var results = await WorkerConformance.CheckProcessAsync(spec).WaitAsync(TimeSpan.FromSeconds(120));

        var failed = results.Where(r => !r.Passed).ToList();
        Assert.That(failed.Select(r => r.Check.Id), Is.EqualTo(new[] { "process-stale-socket" }), string.Join(System.Environment.NewLine, failed));
        Assert.That(failed[0].Message, Does.Contain("exit"));
        Assert.That(string.Join(" ", failed[0].Received), Does.Contain("address in use"));
    }

    [Test]
    public async Task A_worker_ignoring_sigterm_fails_only_that_check()
    {
        // The launcher ignores SIGTERM and keeps running; its worker answers on its behalf.
        var spec = Spec(["/bin/sh", "-c", """trap '' TERM; "$0" "$@" & wait; wait""", ReferenceWorkerProcess.ExecutablePath], gracefulTerminationTimeoutMs: 1000);

        var results = await WorkerConformance.CheckProcessAsync(spec).WaitAsync(TimeSpan.FromSeconds(120));

        var failed = results.Where(r => !r.Passed).ToList();
        Assert.That(failed.Select(r => r.Check.Id), Is.EqualTo(new[] { "process-sigterm" }), string.Join(System.Environment.NewLine, failed));
        Assert.That(failed[0].Message, Does.Contain("expected the worker to exit within its graceful termination timeout (1 s) of SIGTERM"));
        Assert.That(failed[0].Check.Rule, Is.EqualTo("docs/protocol.md#worker-specification"));
    }

    [Test]
    public async Task A_worker_that_never_listens_fails_the_readiness_check_naming_the_timeout()
    {
        var results = await WorkerConformance.CheckProcessAsync(Spec(["/bin/sh", "-c", "sleep 60"], initializationTimeoutMs: 500)).WaitAsync(TimeSpan.FromSeconds(120));

        var ready = results.Single(r => r.Check.Id == "process-ready");
        Assert.That(ready.Status, Is.EqualTo(ConformanceStatus.Failed));
        Assert.That(ready.Message, Does.Contain("within the initialization timeout (0.5 s)"));
    }

    [Test]
    public async Task A_stale_socket_is_not_applicable_over_tcp()
    {
        var results = await WorkerConformance.CheckProcessAsync(Spec([ReferenceWorkerProcess.ExecutablePath], tcp: true)).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.That(results.Single(r => r.Check.Id == "process-stale-socket").Status, Is.EqualTo(ConformanceStatus.NotApplicable));
        Assert.That(results.Where(r => r.Status == ConformanceStatus.Failed), Is.Empty);
    }

    [Test]
    public async Task The_protocol_checks_run_on_a_worker_launched_from_its_specification_which_is_stopped_afterwards()
    {
        var conformance = await WorkerConformance.LaunchAsync(Spec([ReferenceWorkerProcess.ExecutablePath])).WaitAsync(TimeSpan.FromSeconds(60));
        IReadOnlyList<ConformanceResult> results;
        await using (conformance)
        {
            results = await conformance.RunAsync().WaitAsync(TimeSpan.FromSeconds(120));
        }

        Assert.That(results.Where(r => !r.Passed), Is.Empty);
    }

    private static WorkerSpecification Spec(IEnumerable<string> command, int? initializationTimeoutMs = 30_000, int? gracefulTerminationTimeoutMs = null, bool tcp = false) =>
        WorkerSpecification.FromProto(Specs.Direct(command, initializationTimeoutMs, gracefulTerminationTimeoutMs, tcp, environment: Environment));
}
