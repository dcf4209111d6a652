namespace Engine.Client.Cli;

/// <summary>The process exit codes of every command (docs/cli.md, "Exit codes").</summary>
internal static class ExitCodes
{
    /// <summary>Success: the session finished, the worker answered, the specification is valid, every check passed.</summary>
    public const int Success = 0;

    /// <summary>The worker reported an error (the session failed or was cancelled), the engine rejected its output, or a conformance check failed.</summary>
    public const int WorkerError = 1;

    /// <summary>
    /// Bad usage, bad input or an output failure: a bad argument, an unreadable file, an invalid
    /// specification; an output file or stdout that cannot be written (a closed pipe, a full disk,
    /// a closed descriptor) when nothing else failed first.
    /// </summary>
    public const int Usage = 2;

    /// <summary>Transport failure: the worker is unreachable, broke the stream or the protocol, did not start, or a timeout expired.</summary>
    public const int Transport = 3;

    /// <summary><c>load</c>: a threshold (<c>--threshold</c>) failed.</summary>
    public const int ThresholdFailed = 4;

    /// <summary>Interrupted by Ctrl+C (SIGINT) or SIGTERM; the session was cancelled first.</summary>
    public const int Interrupted = 130;

    /// <summary>An unexpected internal error (a bug in engine-client); the message names the exception.</summary>
    public const int Internal = 70;
}
