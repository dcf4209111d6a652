using System.Runtime.Versioning;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Workers;

namespace Engine.Client.Tests.Workers;

/// <summary>Environment verification, installation and cleanup, with counters in files proving how often each ran.</summary>
[UnsupportedOSPlatform("windows")]
public class WorkerEnvironmentSetupTests : TempDirFixture
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>A step that appends a line to its counter file, then runs <paramref name="then"/>.</summary>
    private ProcessCallable Step(string name, string then)
    {
        var script = Dir.Script(name, $"echo run >> \"{Dir.File(name + ".count")}\"\n{then}");
        return Specs.Callable(script);
    }

    private WorkerEnvironmentSetup Setup(
        ProcessCallable? verification = null,
        ProcessCallable? installation = null,
        ProcessCallable? cleanup = null,
        WorkerEnvironmentOptions? options = null)
    {
        var proto = Specs.Direct(["worker"]);
        proto.Environment = new WorkerEnvironment();
        if (verification is not null)
        {
            proto.Environment.EnvironmentVerification = verification;
        }

        if (installation is not null)
        {
            proto.Environment.Installation = installation;
        }

        if (cleanup is not null)
        {
            proto.Environment.EnvironmentCleanup = cleanup;
        }

        return new WorkerEnvironmentSetup(WorkerSpecification.FromProto(proto), options);
    }

    private int Count(string step) => Dir.LineCount(step + ".count");

    /// <summary>Releases a step blocked reading the named pipe (opening it for writing waits for that reader).</summary>
    private static Task Open(string gate) => Task.Run(() => File.WriteAllText(gate, "go")).WaitAsync(Bound);

    [Test]
    public async Task D20_installation_is_skipped_when_verification_succeeds()
    {
        var setup = Setup(verification: Step("verify", "exit 0"), installation: Step("install", "exit 0"));

        var result = await setup.EnsureAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(Count("verify"), Is.EqualTo(1));
            Assert.That(Count("install"), Is.Zero);
            Assert.That(result, Is.EqualTo(new EnvironmentSetupResult(VerificationRan: true, Verified: true, Installed: false)));
        });
    }

    [Test]
    public async Task D21_installation_runs_when_verification_fails()
    {
        var setup = Setup(verification: Step("verify", "exit 1"), installation: Step("install", "exit 0"));

        var result = await setup.EnsureAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(Count("verify"), Is.EqualTo(1));
            Assert.That(Count("install"), Is.EqualTo(1));
            Assert.That(result, Is.EqualTo(new EnvironmentSetupResult(VerificationRan: true, Verified: false, Installed: true)));
        });
    }

    [Test]
    public async Task D21_installation_runs_when_verification_times_out_and_the_verification_is_killed()
    {
        var verify = Step("verify", $"echo $$ > \"{Dir.File("verify.pid")}\"\nsleep 600");
        var setup = Setup(verification: verify, installation: Step("install", "exit 0"), options: new WorkerEnvironmentOptions { VerificationTimeout = TimeSpan.FromMilliseconds(500) });

        await setup.EnsureAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(Count("install"), Is.EqualTo(1));
            Assert.That(Processes.IsAlive(Processes.ReadPid(Dir.File("verify.pid"))), Is.False);
        });
    }

    [Test]
    public async Task D22_installation_runs_when_there_is_no_verification()
    {
        var setup = Setup(installation: Step("install", "exit 0"));

        var result = await setup.EnsureAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(Count("install"), Is.EqualTo(1));
            Assert.That(result, Is.EqualTo(new EnvironmentSetupResult(VerificationRan: false, Verified: false, Installed: true)));
        });
    }

    [Test]
    public async Task A_spec_without_environment_steps_needs_no_setup()
    {
        var setup = new WorkerEnvironmentSetup(WorkerSpecification.FromProto(Specs.Direct(["worker"])));
        var result = await setup.EnsureAsync().WaitAsync(Bound);
        Assert.That(result, Is.EqualTo(new EnvironmentSetupResult(false, false, false)));
    }

    [Test]
    public void D23_a_failed_installation_reports_its_exit_code_and_output()
    {
        var install = Step("install", """
            echo "Collecting numpy==9.9"
            echo "ERROR: No matching distribution found for numpy==9.9" >&2
            exit 4
            """);
        var setup = Setup(installation: install);

        var ex = Assert.ThrowsAsync<WorkerEnvironmentException>(() => setup.EnsureAsync().WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Step, Is.EqualTo(WorkerEnvironmentStep.Installation));
            Assert.That(ex.ExitCode, Is.EqualTo(4));
            Assert.That(ex.TimedOut, Is.False);
            Assert.That(ex.Message, Does.StartWith("The environment installation failed with exit code 4"));
            Assert.That(ex.Message, Does.Contain("Collecting numpy==9.9").And.Contain("ERROR: No matching distribution found for numpy==9.9"));
            Assert.That(ex.OutputTail, Does.Contain("ERROR: No matching distribution"));
            Assert.That(ex.Message, Does.Contain(Dir.File("install")));
        });
    }

    [Test]
    public void D23_no_worker_is_launched_after_a_failed_installation()
    {
        // The order the pool follows: environment first, then the worker.
        var worker = Dir.Script("worker", $"touch \"{Dir.File("worker.ran")}\"; exit 1");
        var proto = Specs.Direct([worker]);
        proto.Environment = new WorkerEnvironment { Installation = Step("install", "exit 2") };
        var spec = WorkerSpecification.FromProto(proto);
        var setup = new WorkerEnvironmentSetup(spec);

        Assert.ThrowsAsync<WorkerEnvironmentException>(async () =>
        {
            await setup.EnsureAsync();
            await WorkerProcess.StartAsync(spec);
        });

        Assert.That(File.Exists(Dir.File("worker.ran")), Is.False);
    }

    [Test]
    public void D24_an_installation_past_its_timeout_is_killed_and_reported()
    {
        var install = Step("install", $"""
            echo $$ > "{Dir.File("install.pid")}"
            echo "downloading..."
            sleep 600
            """);
        var setup = Setup(installation: install, options: new WorkerEnvironmentOptions { InstallationTimeout = TimeSpan.FromMilliseconds(700) });

        var ex = Assert.ThrowsAsync<WorkerEnvironmentException>(() => setup.EnsureAsync().WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.TimedOut, Is.True);
            Assert.That(ex.ExitCode, Is.Null);
            Assert.That(ex.Message, Does.StartWith("The environment installation did not finish within its time limit of 0.7 s (WorkerEnvironmentOptions.InstallationTimeout) and was killed"));
            Assert.That(ex.Message, Does.Contain("downloading..."));
            Assert.That(Processes.IsAlive(Processes.ReadPid(Dir.File("install.pid"))), Is.False);
        });
    }

    [Test]
    public async Task D25_D26_setup_runs_once_under_concurrent_requests()
    {
        // The installation blocks on a named pipe until every request is waiting on it.
        var gate = Dir.Fifo("gate");
        var setup = Setup(verification: Step("verify", "exit 1"), installation: Step("install", $"cat \"{gate}\" > /dev/null"));

        var requests = new Task<EnvironmentSetupResult>[8];
        Parallel.For(0, requests.Length, i => requests[i] = setup.EnsureAsync());
        Assert.That(requests.All(r => !r.IsCompleted), Is.True, "every request waits for the one setup");
        await Open(gate);

        await Task.WhenAll(requests).WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(Count("verify"), Is.EqualTo(1));
            Assert.That(Count("install"), Is.EqualTo(1));
            Assert.That(setup.SetupAttempted, Is.True);
        });

        await setup.EnsureAsync().WaitAsync(Bound);
        Assert.That(Count("install"), Is.EqualTo(1), "a later request reuses the finished setup");
    }

    [Test]
    public void D27_D28_a_failed_setup_is_not_retried()
    {
        var setup = Setup(installation: Step("install", "echo broken >&2; exit 9"));

        var concurrent = Enumerable.Range(0, 4).Select(_ => Task.Run(() => setup.EnsureAsync())).ToArray();
        var first = Assert.ThrowsAsync<WorkerEnvironmentException>(() => concurrent[0].WaitAsync(Bound));
        foreach (var request in concurrent)
        {
            Assert.That(Assert.ThrowsAsync<WorkerEnvironmentException>(() => request.WaitAsync(Bound)), Is.SameAs(first));
        }

        var later = Assert.ThrowsAsync<WorkerEnvironmentException>(() => setup.EnsureAsync().WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(later, Is.SameAs(first));
            Assert.That(first!.ExitCode, Is.EqualTo(9));
            Assert.That(Count("install"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task D30_cleanup_runs_once_and_only_when_asked()
    {
        var setup = Setup(installation: Step("install", "exit 0"), cleanup: Step("cleanup", "exit 0"));
        await setup.EnsureAsync().WaitAsync(Bound);
        Assert.That(Count("cleanup"), Is.Zero, "setup alone never cleans up");

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => setup.CleanupAsync()))).WaitAsync(Bound);
        await setup.CleanupAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(Count("cleanup"), Is.EqualTo(1));
            Assert.That(Count("install"), Is.EqualTo(1));
        });
        Assert.Throws<InvalidOperationException>(() => setup.EnsureAsync());
    }

    [Test]
    public async Task D30_cleanup_does_not_run_when_setup_never_ran()
    {
        var setup = Setup(installation: Step("install", "exit 0"), cleanup: Step("cleanup", "exit 0"));

        await setup.CleanupAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(setup.SetupAttempted, Is.False);
            Assert.That(Count("cleanup"), Is.Zero);
            Assert.That(Count("install"), Is.Zero);
        });
    }

    [Test]
    public async Task D30_cleanup_runs_after_a_failed_setup()
    {
        var setup = Setup(installation: Step("install", "exit 3"), cleanup: Step("cleanup", "exit 0"));
        Assert.ThrowsAsync<WorkerEnvironmentException>(() => setup.EnsureAsync().WaitAsync(Bound));

        await setup.CleanupAsync().WaitAsync(Bound);

        Assert.That(Count("cleanup"), Is.EqualTo(1));
    }

    [Test]
    public async Task D30_cleanup_waits_for_a_setup_in_progress()
    {
        var gate = Dir.Fifo("gate");
        var setup = Setup(installation: Step("install", $"cat \"{gate}\" > /dev/null\necho done >> \"{Dir.File("install.done")}\""), cleanup: Step("cleanup", $"test -f \"{Dir.File("install.done")}\""));
        var ensure = setup.EnsureAsync();

        var cleanup = setup.CleanupAsync();
        Assert.That(cleanup.IsCompleted, Is.False);
        await Open(gate);

        // The cleanup step fails unless installation finished before it started.
        await cleanup.WaitAsync(Bound);
        await ensure.WaitAsync(Bound);
        Assert.That(Count("cleanup"), Is.EqualTo(1));
    }

    [Test]
    public void A_failed_cleanup_is_reported()
    {
        var setup = Setup(installation: Step("install", "exit 0"), cleanup: Step("cleanup", "echo 'rm: cannot remove' >&2; exit 1"));
        Assert.DoesNotThrowAsync(() => setup.EnsureAsync().WaitAsync(Bound));

        var ex = Assert.ThrowsAsync<WorkerEnvironmentException>(() => setup.CleanupAsync().WaitAsync(Bound));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Step, Is.EqualTo(WorkerEnvironmentStep.Cleanup));
            Assert.That(ex.Message, Does.StartWith("The environment cleanup failed with exit code 1").And.Contain("rm: cannot remove"));
        });
    }

    [Test]
    public void A_step_that_cannot_start_fails_the_setup_clearly()
    {
        var setup = Setup(installation: Specs.Callable("no-such-installer-91c2"));

        var ex = Assert.ThrowsAsync<WorkerEnvironmentException>(() => setup.EnsureAsync().WaitAsync(Bound));

        Assert.That(ex!.Message, Does.Contain("The environment installation cannot start: environment.installation.command[0] 'no-such-installer-91c2' was not found on PATH"));
    }

    [Test]
    public async Task Steps_get_their_arguments_and_environment_variables_and_closed_stdin()
    {
        var script = Dir.Script("install", $"""
            echo "$1|$2|$MODE" > "{Dir.File("seen")}"
            read line && echo "read: $line" >> "{Dir.File("seen")}"
            exit 0
            """);
        var install = Specs.Callable(script, "first");
        install.Arguments.Add("second");
        install.EnvironmentVariables["MODE"] = "offline";

        await Setup(installation: install).EnsureAsync().WaitAsync(Bound);

        Assert.That(File.ReadAllText(Dir.File("seen")), Is.EqualTo("first|second|offline\n"));
    }

    [Test]
    public void A_caller_cancelling_its_wait_does_not_cancel_the_shared_setup()
    {
        var gate = Dir.Fifo("gate");
        var setup = Setup(installation: Step("install", $"cat \"{gate}\" > /dev/null"));
        using var cts = new CancellationTokenSource();

        var impatient = setup.EnsureAsync(cts.Token);
        var patient = setup.EnsureAsync();
        cts.Cancel();

        Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => impatient.WaitAsync(Bound));
        Assert.DoesNotThrowAsync(() => Open(gate));
        Assert.DoesNotThrowAsync(() => patient.WaitAsync(Bound));
        Assert.That(Count("install"), Is.EqualTo(1));
    }
}
