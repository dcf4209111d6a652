using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Workers;

/// <summary>How one environment step ended.</summary>
internal sealed record EnvironmentStepResult(int? ExitCode, bool TimedOut, string OutputTail, TimeSpan Elapsed, string CommandLine)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    public string Describe() => TimedOut
        ? string.Create(CultureInfo.InvariantCulture, $"still running after {Elapsed.TotalSeconds:0.###} s, killed")
        : string.Create(CultureInfo.InvariantCulture, $"exit code {ExitCode}");
}

/// <summary>
/// Runs one environment step to completion under a time limit: stdin closed at once, stdout and
/// stderr captured into a bounded tail, the whole process tree killed at the limit, and the step
/// killed if the engine dies (<see cref="ChildProcesses"/>).
/// </summary>
internal static class EnvironmentStepRunner
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan KillWaitTimeout = TimeSpan.FromSeconds(5);

    /// <exception cref="WorkerEnvironmentException">The step cannot be started.</exception>
    public static async Task<EnvironmentStepResult> RunAsync(
        WorkerEnvironmentStep step,
        WorkerCommand command,
        string field,
        string? baseDirectory,
        TimeSpan timeout,
        WorkerEnvironmentOptions options,
        ILogger logger)
    {
        var name = StepName(step);
        var startInfo = command.CreateStartInfo(baseDirectory, field, out var executable, out var error)
            ?? throw new WorkerEnvironmentException(step, $"The environment {name} cannot start: {error}", null, false, string.Empty, null);
        string[] arguments = [executable, .. command.Command.Skip(1), .. command.Arguments];

        // A parent-death signal, so a killed engine does not leave a step running.
        ChildProcesses.Prepare(startInfo, arguments, processGroup: false);
        var commandLine = WorkerCommand.FormatCommandLine(arguments);
        var tail = new OutputTail(options.OutputTailLines, options.OutputTailChars);
        var time = options.TimeProvider;
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.Exited += (_, _) => exited.TrySetResult();
        var start = time.GetTimestamp();
        WorkerLog.StepStarted(logger, name, commandLine);
        try
        {
            ChildProcesses.Start(process);
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            throw new WorkerEnvironmentException(step, $"The environment {name} cannot start: running {commandLine} failed: {ex.Message}", null, false, string.Empty, ex);
        }

        if (process.HasExited)
        {
            exited.TrySetResult();
        }

        // Steps are not interactive: a prompt reads end-of-file and fails instead of hanging.
        process.StandardInput.Close();
        void OnLine(string line) => WorkerLog.StepOutput(logger, name, line);
        var output = Task.WhenAll(tail.PumpAsync(process.StandardOutput, OnLine), tail.PumpAsync(process.StandardError, OnLine));

        var timedOut = false;
        try
        {
            await exited.Task.WaitAsync(timeout, time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            timedOut = true;
            WorkerLog.StepTimedOut(logger, name, timeout.TotalMilliseconds);
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
            {
                // It exited meanwhile.
            }

            await Quietly(exited.Task.WaitAsync(KillWaitTimeout, time)).ConfigureAwait(false);
        }

        await Quietly(output.WaitAsync(DrainTimeout, time)).ConfigureAwait(false);
        var elapsed = time.GetElapsedTime(start);
        int? exitCode = !timedOut && exited.Task.IsCompleted ? process.ExitCode : null;
        if (exitCode is { } code)
        {
            WorkerLog.StepFinished(logger, name, code, elapsed.TotalMilliseconds);
        }

        return new EnvironmentStepResult(exitCode, timedOut, tail.Format(), elapsed, commandLine);
    }

    public static string StepName(WorkerEnvironmentStep step) => step switch
    {
        WorkerEnvironmentStep.Verification => "verification",
        WorkerEnvironmentStep.Installation => "installation",
        _ => "cleanup",
    };

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Bounded wait: go on with what is known.
        }
    }
}
