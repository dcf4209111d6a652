namespace Engine.Client;

/// <summary>Why a worker could not be launched.</summary>
public enum WorkerLaunchFailure
{
    /// <summary>The executable cannot be found or started.</summary>
    StartFailed,

    /// <summary>The worker's endpoint cannot be prepared (socket path too long, socket directory not creatable).</summary>
    EndpointUnavailable,

    /// <summary>The process exited before it was ready; <see cref="WorkerLaunchException.Exit"/> says how.</summary>
    ExitedBeforeReady,

    /// <summary>The process stayed alive but did not answer a heartbeat within its initialization timeout; it was stopped.</summary>
    ReadinessTimeout,
}

/// <summary>
/// A worker process could not be launched or did not become ready. The message names the worker,
/// its command line, what happened (exit code, or the timeout that expired) and the tail of the
/// worker's output. Whatever was started has been stopped and its socket directory removed.
/// </summary>
public sealed class WorkerLaunchException : WorkerException
{
    internal WorkerLaunchException(string worker, WorkerLaunchFailure failure, string message, WorkerProcessExit? exit, string outputTail, Exception? innerException)
        : base(worker, message, innerException)
    {
        Failure = failure;
        Exit = exit;
        OutputTail = outputTail;
    }

    /// <summary>What went wrong.</summary>
    public WorkerLaunchFailure Failure { get; }

    /// <summary>How the process ended, when it exited before it was ready.</summary>
    public WorkerProcessExit? Exit { get; }

    /// <summary>The last lines the worker wrote to stdout and stderr (empty when it never started).</summary>
    public string OutputTail { get; }
}
