namespace Engine.Client;

/// <summary>A step of a worker specification's environment.</summary>
public enum WorkerEnvironmentStep
{
    /// <summary><c>environment_verification</c>: exit code 0 means the environment is ready.</summary>
    Verification,

    /// <summary><c>installation</c>: prepares the environment before any worker starts.</summary>
    Installation,

    /// <summary><c>environment_cleanup</c>: runs after all workers are gone.</summary>
    Cleanup,
}

/// <summary>
/// A worker environment step failed: it could not start, exited with a non-zero code, or ran past
/// its time limit and was killed. The message names the step, its command line, the exit code or
/// the limit, and the tail of its output. After a failed setup no worker is created, and the
/// setup is not retried: every later request gets this same exception.
/// </summary>
/// <remarks><see cref="WorkerException.Worker"/> is <c>worker environment</c>: no worker exists yet.</remarks>
public sealed class WorkerEnvironmentException : WorkerException
{
    internal WorkerEnvironmentException(WorkerEnvironmentStep step, string message, int? exitCode, bool timedOut, string outputTail, Exception? innerException)
        : base("worker environment", message, innerException)
    {
        Step = step;
        ExitCode = exitCode;
        TimedOut = timedOut;
        OutputTail = outputTail;
    }

    /// <summary>The step that failed.</summary>
    public WorkerEnvironmentStep Step { get; }

    /// <summary>The step's exit code, or <see langword="null"/> when it did not exit on its own (timed out, or never started).</summary>
    public int? ExitCode { get; }

    /// <summary>Whether the step ran past its time limit and was killed.</summary>
    public bool TimedOut { get; }

    /// <summary>The last lines the step wrote to stdout and stderr.</summary>
    public string OutputTail { get; }
}
