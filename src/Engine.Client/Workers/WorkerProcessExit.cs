using System.Globalization;

namespace Engine.Client;

/// <summary>
/// How a worker process ended.
/// </summary>
/// <remarks>
/// .NET reports a child killed by a signal as exit code 128 + the signal number (SIGKILL: 137,
/// SIGTERM: 143, SIGABRT: 134), the shell convention; it does not expose the raw wait status. So a
/// process that called <c>exit(137)</c> looks the same as one killed by SIGKILL, and
/// <see cref="Signal"/> is the likely signal, derived from the code: 128 + n for n in 1..64.
/// </remarks>
public sealed class WorkerProcessExit
{
    internal WorkerProcessExit(int exitCode, bool stopRequested)
    {
        ExitCode = exitCode;
        StopRequested = stopRequested;
        Signal = exitCode is > 128 and <= 128 + 64 ? exitCode - 128 : null;
    }

    /// <summary>The exit code as .NET reports it (128 + n when killed by signal n).</summary>
    public int ExitCode { get; }

    /// <summary>The signal that likely ended the process (derived from <see cref="ExitCode"/>), or <see langword="null"/>.</summary>
    public int? Signal { get; }

    /// <summary>Whether the engine had asked the worker to stop before it exited; <see langword="false"/> means it ended on its own (crash, exit, killed by someone else).</summary>
    public bool StopRequested { get; }

    /// <summary>"exit code 3", or "exit code 137 (killed by signal 9, SIGKILL)".</summary>
    public override string ToString() => Signal is { } signal
        ? string.Create(CultureInfo.InvariantCulture, $"exit code {ExitCode} (killed by signal {signal}{SignalName(signal)})")
        : string.Create(CultureInfo.InvariantCulture, $"exit code {ExitCode}");

    private static string SignalName(int signal) => signal switch
    {
        1 => ", SIGHUP",
        2 => ", SIGINT",
        3 => ", SIGQUIT",
        4 => ", SIGILL",
        6 => ", SIGABRT",
        7 => ", SIGBUS",
        8 => ", SIGFPE",
        9 => ", SIGKILL",
        11 => ", SIGSEGV",
        13 => ", SIGPIPE",
        14 => ", SIGALRM",
        15 => ", SIGTERM",
        _ => string.Empty,
    };
}
