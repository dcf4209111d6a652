using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Client.Conformance;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.Conformance;

/// <summary>
/// The process contract checks of a worker launched from its specification: the reference worker
/// passes them; a launcher that refuses to start over a stale socket file fails only
/// <c>process-stale-socket</c>; one that ignores SIGTERM fails only <c>process-sigterm</c>; a worker
/// that never listens fails <c>process-ready</c> (and the other two, which need a ready worker).
/// The advisory checks: a reference worker that rejects unknown flags, or that does not watch its
/// parent, only warns on <c>process-unknown-flags</c> or <c>process-parent-death</c> (fails it
/// when strict), and a worker that outlives its parent is killed by the kit.
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

        var failed = results.Where(r => r.Status == ConformanceStatus.Failed).ToList();
        Assert.That(failed.Select(r => r.Check.Id), Is.EqualTo(new[] { "process-sigterm" }), string.Join(System.Environment.NewLine, results));
        Assert.That(failed[0].Message, Does.Contain("expected the worker to exit within its graceful termination timeout (1 s) of SIGTERM"));
        Assert.That(failed[0].Check.Rule, Is.EqualTo("docs/protocol.md#worker-specification"));

        // The launcher is a wrapper that forks its worker: it also outlives its own parent, which
        // the advisory check reports, as a warning.
        Assert.That(results.Where(r => r.Status == ConformanceStatus.Warning).Select(r => r.Check.Id), Is.EqualTo(new[] { "process-parent-death" }), string.Join(System.Environment.NewLine, results));
    }

    [Test]
    public async Task A_worker_that_rejects_unknown_flags_gets_a_warning_on_that_check_only_and_fails_it_when_strict()
    {
        var spec = Spec([ReferenceWorkerProcess.ExecutablePath, "--fault", "reject-unknown-flags"]);

        var results = await WorkerConformance.CheckProcessAsync(spec).WaitAsync(TimeSpan.FromSeconds(120));
        var strict = await WorkerConformance.CheckProcessAsync(spec, processOptions: null, progress: null, new WorkerConformanceOptions { Strict = true }).WaitAsync(TimeSpan.FromSeconds(120));

        var warned = results.Where(r => !r.Passed).ToList();
        Assert.That(warned.Select(r => (r.Check.Id, r.Status)), Is.EqualTo(new[] { ("process-unknown-flags", ConformanceStatus.Warning) }), string.Join(System.Environment.NewLine, results));
        Assert.Multiple(() =>
        {
            Assert.That(warned[0].Check.Advisory, Is.True);
            Assert.That(warned[0].Check.Rule, Is.EqualTo("docs/protocol.md#worker-process-recommendations"));
            Assert.That(warned[0].Message, Does.StartWith("expected a heartbeat answer despite the unknown flags within the initialization timeout (30 s), but "));
            Assert.That(warned[0].Message, Does.Contain("exit"));
            Assert.That(string.Join(" ", warned[0].Sent), Does.EndWith("--id <id> --connection <address> --engine-client-conformance-unknown-flag value --engine-client-conformance-unknown-option=value"));
            Assert.That(string.Join(" ", warned[0].Received), Does.Contain("process exit: ").And.Contain("unknown argument '--engine-client-conformance-unknown-flag'"));
            Assert.That(strict.Where(r => !r.Passed).Select(r => (r.Check.Id, r.Status)), Is.EqualTo(new[] { ("process-unknown-flags", ConformanceStatus.Failed) }), string.Join(System.Environment.NewLine, strict));
        });
    }

    [Test]
    public async Task A_worker_that_outlives_its_parent_gets_a_warning_on_that_check_only_and_is_killed_by_the_kit()
    {
        var spec = Spec([ReferenceWorkerProcess.ExecutablePath, "--fault", "ignore-parent-death"], gracefulTerminationTimeoutMs: 1000);

        var results = await WorkerConformance.CheckProcessAsync(spec).WaitAsync(TimeSpan.FromSeconds(120));

        var warned = results.Where(r => !r.Passed).ToList();
        Assert.That(warned.Select(r => (r.Check.Id, r.Status)), Is.EqualTo(new[] { ("process-parent-death", ConformanceStatus.Warning) }), string.Join(System.Environment.NewLine, results));
        Assert.Multiple(() =>
        {
            Assert.That(warned[0].Check.Advisory, Is.True);
            Assert.That(warned[0].Message, Does.StartWith("expected the worker to exit within its graceful termination timeout plus 1 s (2 s) of its parent's death, but it was still running after "));
            Assert.That(warned[0].Message, Does.EndWith("the kit killed it (SIGKILL)"));
            Assert.That(warned[0].Sent[0], Does.StartWith("SIGKILL to the worker's parent (pid "));
        });

        // Nothing left behind: the worker the kit killed is gone, or a zombie of a PID 1 that does not reap.
        var pid = int.Parse(Regex.Match(warned[0].Sent[0], @"the worker is pid (\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.That(ProcessState(pid), Is.Null.Or.EqualTo('Z'), $"worker pid {pid}");
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

    /// <summary>The state letter of <c>/proc/&lt;pid&gt;/stat</c>, or null when the pid is gone.</summary>
    private static char? ProcessState(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0];
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static WorkerSpecification Spec(IEnumerable<string> command, int? initializationTimeoutMs = 30_000, int? gracefulTerminationTimeoutMs = null, bool tcp = false) =>
        WorkerSpecification.FromProto(Specs.Direct(command, initializationTimeoutMs, gracefulTerminationTimeoutMs, tcp, environment: Environment));
}
