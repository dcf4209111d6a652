using Microsoft.Extensions.Logging;

namespace Engine.Client.Workers;

/// <summary>
/// Worker process and environment log messages. Event ids 300-379 (300-339 processes, 340-379
/// environment); never reuse one.
/// </summary>
internal static partial class WorkerLog
{
    [LoggerMessage(300, LogLevel.Debug, "Worker {WorkerId} started as pid {ProcessId} at {Address}: {CommandLine}.")]
    public static partial void Started(ILogger logger, string workerId, int processId, string address, string commandLine);

    [LoggerMessage(301, LogLevel.Information, "Worker {WorkerId} (pid {ProcessId}) ready at {Address} after {ElapsedMs} ms ({Attempts} readiness attempts).")]
    public static partial void Ready(ILogger logger, string workerId, int processId, string address, double elapsedMs, int attempts);

    [LoggerMessage(302, LogLevel.Warning, "Worker {WorkerId} failed to launch ({Failure}).")]
    public static partial void LaunchFailed(ILogger logger, string workerId, WorkerLaunchFailure failure);

    [LoggerMessage(303, LogLevel.Debug, "Worker {WorkerId} (pid {ProcessId}): stopping.")]
    public static partial void Stopping(ILogger logger, string workerId, int processId);

    [LoggerMessage(304, LogLevel.Debug, "Worker {WorkerId}: the Manage shutdown before SIGTERM failed: {Reason}.")]
    public static partial void ShutdownRequestFailed(ILogger logger, string workerId, string reason);

    [LoggerMessage(305, LogLevel.Warning, "Worker {WorkerId} (pid {ProcessId}) was still running {GraceMs} ms after SIGTERM; sending SIGKILL.")]
    public static partial void Killing(ILogger logger, string workerId, int processId, double graceMs);

    [LoggerMessage(306, LogLevel.Warning, "Worker {WorkerId} (pid {ProcessId}) did not disappear {WaitMs} ms after SIGKILL (exited: {Exited}; processes holding its output: {OutputOpen}); giving up on it.")]
    public static partial void KillIneffective(ILogger logger, string workerId, int processId, double waitMs, bool exited, bool outputOpen);

    [LoggerMessage(307, LogLevel.Debug, "Worker {WorkerId} (pid {ProcessId}) exited: {Exit}.")]
    public static partial void Exited(ILogger logger, string workerId, int processId, WorkerProcessExit exit);

    [LoggerMessage(308, LogLevel.Warning, "Worker {WorkerId}: removing its socket directory {Directory} failed.")]
    public static partial void DirectoryNotRemoved(ILogger logger, Exception exception, string workerId, string directory);

    [LoggerMessage(309, LogLevel.Trace, "Worker {WorkerId} output: {Line}")]
    public static partial void Output(ILogger logger, string workerId, string line);

    [LoggerMessage(310, LogLevel.Warning, "Worker {WorkerId}: stopping failed unexpectedly.")]
    public static partial void StopFailed(ILogger logger, Exception exception, string workerId);

    [LoggerMessage(340, LogLevel.Information, "Environment {Step} started: {CommandLine}.")]
    public static partial void StepStarted(ILogger logger, string step, string commandLine);

    [LoggerMessage(341, LogLevel.Information, "Environment {Step} finished with exit code {ExitCode} after {ElapsedMs} ms.")]
    public static partial void StepFinished(ILogger logger, string step, int exitCode, double elapsedMs);

    [LoggerMessage(342, LogLevel.Warning, "Environment {Step} did not finish within {TimeoutMs} ms; it was killed.")]
    public static partial void StepTimedOut(ILogger logger, string step, double timeoutMs);

    [LoggerMessage(343, LogLevel.Information, "Environment verification succeeded; installation skipped.")]
    public static partial void InstallationSkipped(ILogger logger);

    [LoggerMessage(344, LogLevel.Information, "Environment verification did not succeed ({Result}); running installation.")]
    public static partial void VerificationFailed(ILogger logger, string result);

    [LoggerMessage(345, LogLevel.Trace, "Environment {Step} output: {Line}")]
    public static partial void StepOutput(ILogger logger, string step, string line);
}
