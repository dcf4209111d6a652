using Engine.Client.Protocol;

namespace Engine.Client.Cli.Operations;

/// <summary>How a run ended, as the CLI reports it (the <c>outcome</c> field).</summary>
internal enum RunOutcome
{
    /// <summary>The worker answered Finish without error. Exit 0.</summary>
    Finished,

    /// <summary>
    /// The session ended through a CancelResponse the CLI did not ask for (usually after a
    /// worker-reported error), or the CLI rejected the worker's output and cancelled it. Exit 1.
    /// </summary>
    Cancelled,

    /// <summary>The worker answered Finish with an error. Exit 1.</summary>
    Failed,

    /// <summary>The worker is unreachable, could not be started, broke the stream or the protocol, or a timeout expired. Exit 3.</summary>
    TransportFailed,

    /// <summary>Ctrl+C (SIGINT) or SIGTERM stopped the run; the session was cancelled first. Exit 130.</summary>
    Interrupted,
}

/// <summary>Who or what an error comes from (the <c>error.kind</c> field).</summary>
internal enum RunErrorKind
{
    /// <summary>User code raised it (<c>UserError</c>).</summary>
    User,

    /// <summary>The worker implementation failed (<c>WorkerError</c>).</summary>
    Worker,

    /// <summary>The worker saw a protocol violation (<c>ProtocolError</c>).</summary>
    Protocol,

    /// <summary>The conversation with the worker broke, timed out, or the worker could not be started.</summary>
    Transport,

    /// <summary>The input could not be read (exit 2).</summary>
    Input,

    /// <summary>The output could not be written (exit 2).</summary>
    Output,
}

/// <summary>An error of a run, with everything the worker or the transport said.</summary>
internal sealed record RunError
{
    public required RunErrorKind Kind { get; init; }

    public required string Message { get; init; }

    /// <summary>The user error's class, when the worker gave one.</summary>
    public string? ErrorClass { get; init; }

    /// <summary>The worker's traceback, when it gave one.</summary>
    public string? Traceback { get; init; }

    /// <summary>For worker-reported errors: <c>init</c>, <c>data</c>, <c>finish</c> or <c>cancel</c>.</summary>
    public string? Origin { get; init; }

    /// <summary>
    /// For transport errors: <c>rpc</c>, <c>unreachable</c>, <c>protocol_violation</c>,
    /// <c>timeout</c>, <c>send_failed</c>, <c>worker_lost</c> or <c>launch_failed</c>.
    /// </summary>
    public string? Reason { get; init; }
}

/// <summary>Batches, rows and bytes one way.</summary>
/// <param name="Batches">Data messages.</param>
/// <param name="Rows">Rows, or <see langword="null"/> when unknown (data not decoded as Arrow); for output, the rows of the <paramref name="BatchesRead"/> batches the tool read.</param>
/// <param name="Bytes">Data bytes, without gRPC framing.</param>
/// <param name="BatchesRead">For output: the batches the tool read, fewer than <paramref name="Batches"/> when it stopped reading (a closed output pipe); <see langword="null"/> when not counted.</param>
internal sealed record Traffic(long Batches, long? Rows, long Bytes, long? BatchesRead = null)
{
    public static readonly Traffic None = new(0, 0, 0);
}

/// <summary>The first output batches or rows, kept to show a small output as a table.</summary>
/// <param name="Columns">Column headers.</param>
/// <param name="Rows">Cells, as text.</param>
/// <param name="Complete">Whether these are all the rows (false: more came back than are shown).</param>
/// <param name="Title">The heading to show instead of the default one, or <see langword="null"/>.</param>
internal sealed record OutputPreview(IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows, bool Complete, string? Title = null);

/// <summary>Everything a run reports: in JSON with <c>--json</c>, as a summary otherwise.</summary>
internal sealed record RunReport
{
    public required RunOutcome Outcome { get; init; }

    /// <summary>The process exit code this report maps to.</summary>
    public required int ExitCode { get; init; }

    /// <summary>The worker's address, or <see langword="null"/> when none was reached (a launch failed).</summary>
    public string? Worker { get; init; }

    public required string Format { get; init; }

    public RunError? Error { get; init; }

    public Traffic Sent { get; init; } = Traffic.None;

    public Traffic Received { get; init; } = Traffic.None;

    /// <summary>The worker's per-execution metrics from its terminator, or <see langword="null"/> when it sent none.</summary>
    public ExecutionMetrics? Metrics { get; init; }

    public ReadOnlyMemory<byte>? InitData { get; init; }

    public ReadOnlyMemory<byte>? FinishData { get; init; }

    /// <summary>From the start of the run until its outcome was known (stopping a worker launched from a specification is not included).</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Where the output went (a file path, or <c>-</c> for stdout), or <see langword="null"/> when it was only summarized.</summary>
    public string? OutputPath { get; init; }

    /// <summary>The first output rows (or batches), for the summary; <see langword="null"/> when the output went to a file.</summary>
    public OutputPreview? Preview { get; init; }
}
