using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>The first Ctrl+C, the run's own token (Ctrl+C or the deadline), and the second Ctrl+C.</summary>
internal readonly record struct RunTokens(CancellationToken Interrupt, CancellationToken Run, CancellationToken Force);

/// <summary>The run's <c>--timeout</c> expired while it was at <paramref name="Stage"/>.</summary>
internal sealed record RunTimeout(TimeSpan Timeout, string Stage);

/// <summary>
/// One run: connects to (or launches) the worker, opens a session, sends Init, streams the data,
/// closes the session and turns its outcome into a <see cref="RunReport"/>. Never throws for
/// worker, transport or data failures: they are the report.
/// </summary>
internal static class RunOperation
{
    /// <summary>Runs <paramref name="request"/>.</summary>
    /// <param name="request">What to run.</param>
    /// <param name="data">The input and output side, already open.</param>
    /// <param name="state">Updated as the run progresses (for progress lines).</param>
    /// <param name="clock">The run's clock and <c>--timeout</c> deadline, started before the data was opened.</param>
    /// <param name="interrupt">The first Ctrl+C: the session is cancelled cleanly (Cancel sent, its acknowledgement awaited briefly).</param>
    /// <param name="force">The second Ctrl+C: the wait for the acknowledgement is cut short.</param>
    public static async Task<RunReport> ExecuteAsync(
        RunRequest request,
        IRunData data,
        RunState state,
        RunClock clock,
        CancellationToken interrupt,
        CancellationToken force)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(interrupt, clock.Deadline);
        var token = linked.Token;
        var source = request.OpenSource();
        try
        {
            WorkerSession session;
            try
            {
                state.Stage = request.Launches ? "starting a worker" : "connecting";
                session = await source.OpenSessionAsync(request.BuildSessionOptions(), token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return WithoutSession(request, request.Worker?.ToString(), clock, interrupt.IsCancellationRequested
                    ? (RunOutcome.Interrupted, ExitCodes.Interrupted, null)
                    : (RunOutcome.TransportFailed, ExitCodes.Transport, TimedOut(clock.Expired)));
            }
            catch (Exception ex) when (ex is WorkerLaunchException or WorkerEnvironmentException or WorkerUnreachableException)
            {
                return WithoutSession(request, request.Worker?.ToString(), clock, (RunOutcome.TransportFailed, ExitCodes.Transport, new RunError
                {
                    Kind = RunErrorKind.Transport,
                    Reason = ex is WorkerUnreachableException ? "unreachable" : "launch_failed",
                    Message = ex.Message,
                }));
            }

            return await RunSessionAsync(request, data, state, session, clock, new RunTokens(interrupt, token, force));
        }
        finally
        {
            state.Stage = "stopping";
            await source.DisposeAsync();
        }
    }

    /// <summary>
    /// The report of a run stopped while engine-client waited for the input's schema on stdin:
    /// interrupted (exit 130), or its <c>--timeout</c> expired (exit 3). Nothing was sent.
    /// </summary>
    public static RunReport StoppedBeforeInput(RunRequest request, RunClock clock, bool interrupted) => WithoutSession(request, null, clock, interrupted
        ? (RunOutcome.Interrupted, ExitCodes.Interrupted, null)
        : (RunOutcome.TransportFailed, ExitCodes.Transport, new RunError
        {
            Kind = RunErrorKind.Input,
            Reason = "timeout",
            Message = $"The run did not complete within --timeout {Durations.Format(clock.Timeout ?? TimeSpan.Zero)}: no Arrow schema arrived on stdin; nothing was sent.",
        }));

    private static async Task<RunReport> RunSessionAsync(
        RunRequest request,
        IRunData data,
        RunState state,
        WorkerSession session,
        RunClock clock,
        RunTokens tokens)
    {
        var (interrupt, token, force) = tokens;
        state.Session = session;
        RunError? local = null;
        var processed = false;
        RunError? rejected = null;
        try
        {
            var init = request.BuildInit();
            data.Configure(init);
            state.Stage = "waiting for InitResponse";
            data.Initialized(await session.InitAsync(init, token));
            state.Stage = "streaming";
            await data.ProcessAsync(session, state, token);
            processed = true;
        }
        catch (InputReadException ex)
        {
            local = new RunError { Kind = RunErrorKind.Input, Message = ex.Message };
            session.Cancel("the engine's input could not be read");
        }
        catch (OutputWriteException ex)
        {
            local = new RunError { Kind = RunErrorKind.Output, Message = ex.Message };
            session.Cancel("the engine's output could not be written");
        }
        catch (WorkerOutputException ex)
        {
            // The engine rejected the worker's output (not Arrow, empty, another schema): whatever
            // terminator follows, the output is not the worker's complete, valid answer.
            rejected = InvalidOutput(ex);
        }
        catch (ArgumentException ex)
        {
            // The Init does not fit the worker's message limit, or a batch is too large: nothing of it was sent.
            local = new RunError { Kind = RunErrorKind.Input, Message = ex.Message };
            session.Cancel("the engine's input is invalid");
        }
        catch (Exception ex) when (ex is WorkerException or OperationCanceledException or InvalidOperationException)
        {
            // The session's outcome says what happened.
        }

        state.Stage = "closing the session";
        SessionOutcome outcome;
        try
        {
            outcome = await session.CloseAsync(force);
        }
        finally
        {
            await session.DisposeAsync();
        }

        var duration = clock.Elapsed;
        var (kind, exitCode, error) = Classify(
            outcome,
            local ?? rejected,
            interrupted: interrupt.IsCancellationRequested,
            timedOut: processed ? null : clock.Expired);
        var diagnostics = outcome.Diagnostics;
        return new RunReport
        {
            Outcome = kind,
            ExitCode = exitCode,
            Worker = session.Worker,
            Format = request.Format,
            Error = error,
            // Every run decodes Arrow, so rows are always counted: 0 when the run stopped before streaming.
            Sent = new Traffic(diagnostics.BatchesSent, state.RowsSent, diagnostics.BytesSent),
            Received = new Traffic(diagnostics.BatchesReceived, state.RowsReceived, diagnostics.BytesReceived, state.BatchesRead),
            Metrics = outcome.Metrics,
            InitData = outcome.InitData,
            FinishData = outcome.FinishData,
            Duration = duration,
            OutputPath = data.OutputPath,
            Preview = data.OutputPath is null ? data.Preview : null,
        };
    }

    /// <summary>
    /// Maps a session outcome to the CLI's outcome, exit code and error: a local input or output
    /// failure first (exit 2), then an interrupt (130), then output the engine rejected (exit 1,
    /// whatever terminator followed), then an expired <c>--timeout</c> (3), then a finished
    /// session (0), and the session's own outcome. The timeout comes before the terminator: a run
    /// its deadline stopped did not deliver all output, whichever terminator the worker chose.
    /// </summary>
    /// <param name="outcome">The session's outcome.</param>
    /// <param name="local">
    /// An input or output failure of the CLI itself (<see cref="RunErrorKind.Input"/>,
    /// <see cref="RunErrorKind.Output"/>), worker output the engine rejected (reason
    /// <c>invalid_output</c>), or <see langword="null"/>.
    /// </param>
    /// <param name="interrupted">Whether Ctrl+C or SIGTERM arrived before the outcome was known.</param>
    /// <param name="timedOut">The <c>--timeout</c> that stopped the run before all output was delivered, or <see langword="null"/>.</param>
    internal static (RunOutcome Outcome, int ExitCode, RunError? Error) Classify(
        SessionOutcome outcome,
        RunError? local,
        bool interrupted,
        RunTimeout? timedOut)
    {
        var outcomeKind = Map(outcome.Kind);
        if (local is { Kind: RunErrorKind.Input or RunErrorKind.Output })
        {
            return (outcomeKind == RunOutcome.Finished ? RunOutcome.Cancelled : outcomeKind, ExitCodes.Usage, local);
        }

        // Interrupted before the outcome was known: the session was cancelled, whichever terminator
        // the worker chose (after Finish it may still answer FinishResponse).
        if (interrupted)
        {
            return (RunOutcome.Interrupted, ExitCodes.Interrupted, WorkerError(outcome));
        }

        // Output the engine rejected: the session was cancelled by the engine, even when the
        // worker's FinishResponse crossed the Cancel.
        if (local is not null)
        {
            return (RunOutcome.Cancelled, ExitCodes.WorkerError, local);
        }

        if (timedOut is { } expired)
        {
            return (RunOutcome.TransportFailed, ExitCodes.Transport, TimedOut(expired));
        }

        if (outcome.Kind == SessionOutcomeKind.Finished)
        {
            return (RunOutcome.Finished, ExitCodes.Success, null);
        }

        return outcome.Kind switch
        {
            SessionOutcomeKind.Failed => (RunOutcome.Failed, ExitCodes.WorkerError, ErrorOf(outcome)),
            SessionOutcomeKind.Cancelled => (RunOutcome.Cancelled, ExitCodes.WorkerError, ErrorOf(outcome)),
            SessionOutcomeKind.Interrupted => (RunOutcome.Interrupted, ExitCodes.Interrupted, ErrorOf(outcome)),
            _ => (RunOutcome.TransportFailed, ExitCodes.Transport, ErrorOf(outcome)),
        };
    }

    /// <summary>The error a session outcome carries: the worker's, else the transport failure.</summary>
    internal static RunError? ErrorOf(SessionOutcome outcome) => WorkerError(outcome) ?? outcome.Exception switch
    {
        WorkerTransportException transport => TransportError(transport),
        WorkerOutputException output => InvalidOutput(output),
        _ => null,
    };

    /// <summary>The error of output the engine rejected: <c>protocol</c>, reason <c>invalid_output</c>, origin <c>data</c>.</summary>
    internal static RunError InvalidOutput(WorkerOutputException exception) => new()
    {
        Kind = RunErrorKind.Protocol,
        Reason = "invalid_output",
        Origin = "data",
        Message = exception.Message,
    };

    internal static RunError TransportError(WorkerTransportException exception) => new()
    {
        Kind = RunErrorKind.Transport,
        Message = exception.Message,
        Reason = exception.Reason switch
        {
            TransportFailureReason.Rpc => "rpc",
            TransportFailureReason.Unreachable => "unreachable",
            TransportFailureReason.ProtocolViolation => "protocol_violation",
            TransportFailureReason.Timeout => "timeout",
            TransportFailureReason.SendFailed => "send_failed",
            _ => "worker_lost",
        },
    };

    private static RunError? WorkerError(SessionOutcome outcome) => outcome.Error is { } error
        ? new RunError
        {
            Kind = error.Kind switch
            {
                SessionErrorKind.User => RunErrorKind.User,
                SessionErrorKind.Worker => RunErrorKind.Worker,
                _ => RunErrorKind.Protocol,
            },
            Message = error.Message,
            ErrorClass = error.ErrorClass,
            Traceback = error.Traceback,
            Origin = error.Origin switch
            {
                SessionErrorOrigin.Init => "init",
                SessionErrorOrigin.Data => "data",
                SessionErrorOrigin.Finish => "finish",
                _ => "cancel",
            },
        }
        : null;

    private static RunOutcome Map(SessionOutcomeKind kind) => kind switch
    {
        SessionOutcomeKind.Finished => RunOutcome.Finished,
        SessionOutcomeKind.Failed => RunOutcome.Failed,
        SessionOutcomeKind.Cancelled => RunOutcome.Cancelled,
        SessionOutcomeKind.Interrupted => RunOutcome.Interrupted,
        _ => RunOutcome.TransportFailed,
    };

    private static RunError TimedOut(RunTimeout? expired) => new()
    {
        Kind = RunErrorKind.Transport,
        Reason = "timeout",
        Message = $"The run did not complete within --timeout {Durations.Format(expired?.Timeout ?? TimeSpan.Zero)} (it was {expired?.Stage ?? "starting"}); the session was cancelled.",
    };

    private static RunReport WithoutSession(RunRequest request, string? worker, RunClock clock, (RunOutcome Outcome, int ExitCode, RunError? Error) result) => new()
    {
        Outcome = result.Outcome,
        ExitCode = result.ExitCode,
        Error = result.Error,
        Worker = worker,
        Format = request.Format,
        Duration = clock.Elapsed,
    };
}
