using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Workers;

/// <summary>
/// Prepares a worker specification's environment once, before the first worker starts, and
/// cleans it up once, when explicitly asked (the pool does so when it closes).
/// </summary>
/// <remarks>
/// <para>
/// Setup: when <c>environment_verification</c> is given it runs first, and exit code 0 means the
/// environment is ready, so installation is skipped. Otherwise (non-zero exit, time limit reached,
/// or no verification) <c>installation</c> runs, when given; a non-zero exit or its time limit
/// fails the setup. A specification without either step needs no setup.
/// </para>
/// <para>
/// Setup runs once however many callers ask at the same time; they all await the same run. A
/// failed setup is not retried: every later caller gets the same
/// <see cref="WorkerEnvironmentException"/>. A caller's cancellation token only stops its own
/// wait; the shared setup goes on.
/// </para>
/// <para>
/// Cleanup runs <c>environment_cleanup</c> once, and only if setup was attempted (successfully or
/// not: a failed installation may leave partial state behind); if setup never ran, nothing was
/// prepared and there is nothing to clean. It waits for a setup in progress to finish first.
/// After cleanup was requested, setup is refused.
/// </para>
/// </remarks>
internal sealed class WorkerEnvironmentSetup
{
    private readonly WorkerSpecification _specification;
    private readonly WorkerEnvironmentOptions _options;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private Task<EnvironmentSetupResult>? _setup;
    private Task? _cleanup;

    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public WorkerEnvironmentSetup(WorkerSpecification specification, WorkerEnvironmentOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(specification);
        _specification = specification.Validate();
        _options = (options ?? new WorkerEnvironmentOptions()).Clone();
        _options.Validate();
        _logger = _options.LoggerFactory.CreateLogger<WorkerEnvironmentSetup>();
    }

    /// <summary>Whether setup has been started (by any caller).</summary>
    public bool SetupAttempted
    {
        get
        {
            lock (_gate)
            {
                return _setup is not null;
            }
        }
    }

    /// <summary>Runs the setup on the first call; every call awaits that one run.</summary>
    /// <param name="cancellationToken">Stops this caller's wait; the setup itself goes on.</param>
    /// <exception cref="WorkerEnvironmentException">The setup failed (now or on an earlier call).</exception>
    /// <exception cref="InvalidOperationException">Cleanup was already requested.</exception>
    public Task<EnvironmentSetupResult> EnsureAsync(CancellationToken cancellationToken = default)
    {
        Task<EnvironmentSetupResult> setup;
        lock (_gate)
        {
            if (_cleanup is not null)
            {
                throw new InvalidOperationException("The worker environment has been cleaned up; no worker can be prepared with it any more.");
            }

            setup = _setup ??= Task.Run(RunSetupAsync, CancellationToken.None);
        }

        return setup.WaitAsync(cancellationToken);
    }

    /// <summary>Runs the cleanup step once (only if setup was attempted); every call awaits that one run.</summary>
    /// <param name="cancellationToken">Stops this caller's wait; the cleanup itself goes on.</param>
    /// <exception cref="WorkerEnvironmentException">The cleanup step failed.</exception>
    public Task CleanupAsync(CancellationToken cancellationToken = default)
    {
        Task cleanup;
        lock (_gate)
        {
            var setup = _setup;
            cleanup = _cleanup ??= setup is null ? Task.CompletedTask : Task.Run(() => RunCleanupAsync(setup), CancellationToken.None);
        }

        return cleanup.WaitAsync(cancellationToken);
    }

    private async Task<EnvironmentSetupResult> RunSetupAsync()
    {
        var verification = _specification.EnvironmentVerification;
        var installation = _specification.Installation;
        if (verification is not null)
        {
            var result = await RunStepAsync(WorkerEnvironmentStep.Verification, verification, "environment.environmentVerification", _options.VerificationTimeout).ConfigureAwait(false);
            if (result.Succeeded)
            {
                WorkerLog.InstallationSkipped(_logger);
                return new EnvironmentSetupResult(VerificationRan: true, Verified: true, Installed: false);
            }

            WorkerLog.VerificationFailed(_logger, result.Describe());
        }

        if (installation is null)
        {
            return new EnvironmentSetupResult(VerificationRan: verification is not null, Verified: false, Installed: false);
        }

        var install = await RunStepAsync(WorkerEnvironmentStep.Installation, installation, "environment.installation", _options.InstallationTimeout).ConfigureAwait(false);
        if (!install.Succeeded)
        {
            throw StepFailed(WorkerEnvironmentStep.Installation, install, _options.InstallationTimeout, "no worker can be started until it succeeds; fix the installation and create a new pool");
        }

        return new EnvironmentSetupResult(VerificationRan: verification is not null, Verified: false, Installed: true);
    }

    private async Task RunCleanupAsync(Task setup)
    {
        try
        {
            await setup.ConfigureAwait(false);
        }
        catch (WorkerEnvironmentException)
        {
            // A failed setup may have left partial state: clean up all the same.
        }

        if (_specification.EnvironmentCleanup is not { } cleanup)
        {
            return;
        }

        var result = await RunStepAsync(WorkerEnvironmentStep.Cleanup, cleanup, "environment.environmentCleanup", _options.CleanupTimeout).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw StepFailed(WorkerEnvironmentStep.Cleanup, result, _options.CleanupTimeout, "what it should have removed may remain");
        }
    }

    private Task<EnvironmentStepResult> RunStepAsync(WorkerEnvironmentStep step, WorkerCommand command, string field, TimeSpan timeout) =>
        EnvironmentStepRunner.RunAsync(step, command, field, _specification.BaseDirectory, timeout, _options, _logger);

    private static WorkerEnvironmentException StepFailed(WorkerEnvironmentStep step, EnvironmentStepResult result, TimeSpan limit, string consequence)
    {
        var name = EnvironmentStepRunner.StepName(step);
        var what = result.TimedOut
            ? string.Create(CultureInfo.InvariantCulture, $"did not finish within its time limit of {limit.TotalSeconds:0.###} s ({nameof(WorkerEnvironmentOptions)}.{step}Timeout) and was killed")
            : $"failed with {result.Describe()}";
        var message = $"The environment {name} {what}; {consequence}. Command: {result.CommandLine}\nOutput (last lines of stdout and stderr):\n  {result.OutputTail.Replace("\n", "\n  ", StringComparison.Ordinal)}";
        return new WorkerEnvironmentException(step, message, result.ExitCode, result.TimedOut, result.OutputTail, null);
    }
}

/// <summary>What an environment setup did.</summary>
/// <param name="VerificationRan">Whether the verification step ran.</param>
/// <param name="Verified">Whether verification succeeded (installation skipped).</param>
/// <param name="Installed">Whether installation ran and succeeded.</param>
internal sealed record EnvironmentSetupResult(bool VerificationRan, bool Verified, bool Installed);
