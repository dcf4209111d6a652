using System.Text.RegularExpressions;
using Engine.Client.Protocol;
using Engine.Client.Sessions;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.Sessions;

/// <summary>
/// The session's state machine alone, without gRPC: its transition table against the diagram of
/// docs/sessions.md, and its decisions through the rules of docs/protocol.md (1-9), as scripts.
/// </summary>
public sealed partial class SessionStateMachineTests
{
    /// <summary>
    /// Scripts of "action=expected" steps, one per protocol rule or case. Actions: <c>init</c>,
    /// <c>close-before-init</c>, <c>write-init</c>, <c>init-response</c>, <c>init-error</c>,
    /// <c>process</c>, <c>exhausted</c>, <c>write-finish</c>, <c>cancel</c>, <c>write-cancel</c>,
    /// <c>cancel-requested</c>, <c>data</c> (is a DataResponse in order), <c>error-response</c>,
    /// <c>worker-error:M</c>, <c>local-failure</c>, <c>prior</c>, <c>finish-response</c>
    /// (<c>:IN/SENT</c> with metrics, <c>-error</c> with a callback error), <c>cancel-response</c>,
    /// <c>output-done</c>, <c>settle:EVENT</c>, <c>half-close</c>, <c>abort</c>, <c>phase</c>.
    /// </summary>
    private static IEnumerable<TestCaseData> Rules()
    {
        const string Accepted = "init=True; write-init=True; init-response=Accepted; phase=Ready";
        const string Finished = Accepted + "; process=True; exhausted=True; write-finish=True; phase=Finishing";

        // Rule 1: Init first, exactly once; Cancel may come before Init or mid-chunking.
        yield return Rule("1 Init is sent exactly once", "init=True; init=False; phase=Initializing");
        yield return Rule("1 a Cancel before Init went out writes nothing and settles locally",
            "init=True; cancel=Requested; phase=Cancelling; write-init=False; write-cancel=SettleLocally; settle:CancelledLocally=True; phase=Ended");
        yield return Rule("1 a Cancel after Init went out is written",
            "init=True; write-init=True; cancel=Requested; write-cancel=Write; cancel-response=True; settle:CancelResponse=True");
        yield return Rule("1 a close before Init sends nothing and Init can no longer start",
            "close-before-init=True; init=False; phase=Cancelling; write-init=True; settle:CancelledLocally=True; phase=Ended");
        yield return Rule("1 a Cancel before InitAsync leaves Created for Cancelling",
            "cancel=Requested; phase=Cancelling; init=False; write-cancel=SettleLocally");

        // Rule 2: a Cancel may interrupt chunking (the writer stops at the next chunk).
        yield return Rule("2 a Cancel interrupts chunking",
            "init=True; write-init=True; cancel-requested=False; cancel=Requested; cancel-requested=True; write-cancel=Write");

        // Rule 3: no DataRequest or Finish before the InitResponse.
        yield return Rule("3 processing and Finish wait for the InitResponse",
            "init=True; write-init=True; process=False; exhausted=False; init-response=Accepted; process=True; exhausted=True; write-finish=True; phase=Finishing");

        // Rule 4: InitResponse precedes every DataResponse; zero inputs and zero outputs are legal.
        yield return Rule("4 a DataResponse before the InitResponse is out of order", "init=True; write-init=True; data=False; init-response=Accepted; data=True");
        yield return Rule("4 zero inputs and zero outputs finish",
            Finished + "; finish-response=HoldUntilOutputRead; output-done=Held; settle:FinishResponse=True; phase=Ended");

        // Rule 5: Cancel never precedes Finish; nothing follows Cancel.
        yield return Rule("5 after a Cancel no Finish is started",
            Accepted + "; process=True; cancel=Requested; exhausted=False; write-finish=False; write-cancel=Write");
        yield return Rule("5 Cancel may follow Finish", Finished + "; cancel=Requested; phase=Cancelling; write-cancel=Write");
        yield return Rule("5 a Cancel is requested once", Accepted + "; cancel=Requested; cancel=Ignored");

        // Rule 6: termination.
        yield return Rule("6 Finish is answered by FinishResponse", Finished + "; finish-response=HoldUntilOutputRead; output-done=Held; settle:FinishResponse=True");
        yield return Rule("6 a Cancel alone is answered by CancelResponse",
            Accepted + "; process=True; cancel=Requested; write-cancel=Write; cancel-response=True; settle:CancelResponse=True; phase=Ended");
        yield return Rule("6 Finish then Cancel accepts a CancelResponse",
            Finished + "; cancel=Requested; write-cancel=Write; cancel-response=True; settle:CancelResponse=True");
        yield return Rule("6 Finish then Cancel accepts a FinishResponse",
            Finished + "; cancel=Requested; output-done=None; write-cancel=Write; finish-response=SettleNow; settle:FinishResponse=True");
        yield return Rule("6 an InitResponse error is followed by Cancel",
            "init=True; write-init=True; init-error=Failed; phase=Initializing; cancel=Requested; phase=Cancelling; write-cancel=Write; cancel-response=True; settle:CancelResponse=True");
        yield return Rule("6 an ErrorResponse after Finish is followed by Cancel",
            Finished + "; error-response=Data; worker-error:boom=True; cancel=Requested; write-cancel=Write; cancel-response=True; settle:CancelResponse=True");
        yield return Rule("6 a Cancel while a FinishResponse is held settles it",
            Finished + "; finish-response=HoldUntilOutputRead; cancel=SettleHeldFinish; phase=Finishing; settle:FinishResponse=True");
        yield return Rule("6 the worker may cancel on its own", Accepted + "; process=True; cancel-response=True; settle:CancelResponse=True");

        // Rule 7: a prior init or data-phase error comes first; errors settle at once.
        yield return Rule("7 the first worker error is kept", Accepted + "; error-response=Data; worker-error:first=True; worker-error:second=True; prior=first");
        yield return Rule("7 an ErrorResponse before the InitResponse is an init error", "init=True; write-init=True; error-response=Init");
        yield return Rule("7 a FinishResponse after a worker error settles at once", Finished + "; worker-error:boom=True; finish-response=SettleNow");
        yield return Rule("7 a FinishResponse with a callback error settles at once", Finished + "; finish-response-error=SettleNow");
        yield return Rule("7 a FinishResponse after a failure of the engine settles at once", Finished + "; local-failure=True; finish-response=SettleNow");

        // Rule 8: out-of-order messages fail fast.
        yield return Rule("8 a FinishResponse before the InitResponse", "init=True; write-init=True; finish-response=BeforeInitResponse");
        yield return Rule("8 a FinishResponse before Finish was started", Accepted + "; process=True; exhausted=True; finish-response=BeforeFinish");
        yield return Rule("8 a CancelResponse before the InitResponse without a Cancel", "init=True; write-init=True; cancel-response=False");
        yield return Rule("8 a CancelResponse before the InitResponse to a Cancel requested but not written",
            "init=True; write-init=True; cancel=Requested; cancel-response=False; write-cancel=Write; cancel-response=True");
        yield return Rule("8 a second InitResponse", Accepted + "; init-response=Duplicate");
        yield return Rule("8 a second ErrorResponse", Accepted + "; error-response=Data; error-response=Duplicate");
        yield return Rule("8 a FinishResponse that reports fewer input batches than were sent", Finished + "; finish-response:1/2=InputUnaccounted");
        yield return Rule("8 a FinishResponse that accounts for every input batch", Finished + "; finish-response:2/2=HoldUntilOutputRead");

        // Rule 9: half-close only once the outcome is known.
        yield return Rule("9 no half-close before the outcome", Finished + "; half-close=False; finish-response=HoldUntilOutputRead; half-close=False; output-done=Held; settle:FinishResponse=True; half-close=True; half-close=False");
        yield return Rule("9 no half-close after a transport failure", Accepted + "; settle:TransportFailed=True; half-close=False");
        yield return Rule("9 no half-close after an abort", Finished + "; abort=True; abort=False; settle:CancelResponse=True; half-close=False");

        // The first terminal wins; a terminal event the table does not allow is refused.
        yield return Rule("the first terminal wins", Accepted + "; settle:TransportFailed=True; settle:CancelResponse=False; cancel=Ignored; phase=Ended");
        yield return Rule("a FinishResponse cannot settle before Finish", Accepted + "; settle:FinishResponse=False; phase=Ready");
    }

    [TestCaseSource(nameof(Rules))]
    public void The_machine_follows_the_protocol_rules(string script)
    {
        var machine = new SessionStateMachine();
        var step = 0;
        foreach (var part in script.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var (action, expected) = (part[..part.IndexOf('=', StringComparison.Ordinal)], part[(part.IndexOf('=', StringComparison.Ordinal) + 1)..]);
            Assert.That(Apply(machine, action), Is.EqualTo(expected), $"step {step} ({action}) of: {script}");
            step++;
        }
    }

    [Test]
    public void Every_phase_and_event_moves_exactly_as_the_table_says()
    {
        foreach (var from in Enum.GetValues<SessionPhase>())
        {
            foreach (var @event in Enum.GetValues<SessionEvent>())
            {
                var machine = MachineIn(from);
                var moved = SessionStateMachine.IsTerminal(@event)
                    ? machine.TrySettle(@event, Outcome(SessionOutcomeKind.Cancelled))
                    : machine.Fire(@event);
                var row = SessionStateMachine.Transitions.SingleOrDefault(t => t.From == from && t.Event == @event);
                Assert.Multiple(() =>
                {
                    Assert.That(moved, Is.EqualTo(row != default), $"{from} --{@event}-->");
                    Assert.That(machine.Phase, Is.EqualTo(row == default ? from : row.To), $"{from} --{@event}-->");
                });
            }
        }
    }

    [Test]
    public void The_table_has_one_row_per_phase_and_event_and_every_phase_can_end()
    {
        var rows = SessionStateMachine.Transitions;
        Assert.That(rows.Select(r => (r.From, r.Event)).Distinct().Count(), Is.EqualTo(rows.Length));
        foreach (var phase in Enum.GetValues<SessionPhase>().Where(p => p != SessionPhase.Ended))
        {
            Assert.That(rows.Any(r => r.From == phase && r.To == SessionPhase.Ended), Is.True, $"{phase} has no way to end");
        }

        Assert.That(rows.Where(r => r.To == SessionPhase.Ended).All(r => SessionStateMachine.IsTerminal(r.Event)), Is.True);
        Assert.That(rows.Where(r => r.To != SessionPhase.Ended).Any(r => SessionStateMachine.IsTerminal(r.Event)), Is.False);
    }

    [Test]
    public void The_diagram_in_docs_sessions_md_is_the_table()
    {
        var text = File.ReadAllText(Path.Combine(Specs.RepositoryRoot(), "docs", "sessions.md"));
        var start = text.IndexOf("```mermaid", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), "docs/sessions.md has no mermaid diagram");
        var end = text.IndexOf("```", start + 3, StringComparison.Ordinal);
        var drawn = new List<SessionTransition>();
        foreach (var line in text[start..end].Split('\n'))
        {
            var match = Edge().Match(line);
            if (!match.Success)
            {
                continue;
            }

            Assert.Multiple(() =>
            {
                Assert.That(Enum.TryParse<SessionPhase>(match.Groups["from"].Value, out _), Is.True, line);
                Assert.That(Enum.TryParse<SessionPhase>(match.Groups["to"].Value, out _), Is.True, line);
                Assert.That(Enum.TryParse<SessionEvent>(match.Groups["event"].Value, out _), Is.True, $"the label does not start with an event name: {line}");
            });
            drawn.Add(new SessionTransition(
                Enum.Parse<SessionPhase>(match.Groups["from"].Value),
                Enum.Parse<SessionEvent>(match.Groups["event"].Value),
                Enum.Parse<SessionPhase>(match.Groups["to"].Value)));
        }

        Assert.That(drawn, Is.EquivalentTo(SessionStateMachine.Transitions));
    }

    [GeneratedRegex(@"^\s*(?<from>\w+)\s*-->\s*(?<to>\w+)\s*:\s*(?<event>\w+)")]
    private static partial Regex Edge();

    private static TestCaseData Rule(string name, string script) => new TestCaseData(script).SetName($"Rule {name}");

    private static SessionStateMachine MachineIn(SessionPhase phase)
    {
        var machine = new SessionStateMachine();
        SessionEvent[] path = phase switch
        {
            SessionPhase.Created => [],
            SessionPhase.Initializing => [SessionEvent.InitCalled],
            SessionPhase.Ready => [SessionEvent.InitCalled, SessionEvent.InitAccepted],
            SessionPhase.Processing => [SessionEvent.InitCalled, SessionEvent.InitAccepted, SessionEvent.ProcessCalled],
            SessionPhase.Finishing => [SessionEvent.InitCalled, SessionEvent.InitAccepted, SessionEvent.ProcessCalled, SessionEvent.InputExhausted],
            SessionPhase.Cancelling => [SessionEvent.InitCalled, SessionEvent.CancelRequested],
            _ => [],
        };
        foreach (var step in path)
        {
            Assert.That(machine.Fire(step), Is.True);
        }

        if (phase == SessionPhase.Ended)
        {
            Assert.That(machine.TrySettle(SessionEvent.TransportFailed, Outcome(SessionOutcomeKind.TransportFailed)), Is.True);
        }

        Assert.That(machine.Phase, Is.EqualTo(phase));
        return machine;
    }

    private static string Apply(SessionStateMachine machine, string action)
    {
        var argument = action.Contains(':', StringComparison.Ordinal) ? action[(action.IndexOf(':', StringComparison.Ordinal) + 1)..] : null;
        var verb = argument is null ? action : action[..action.IndexOf(':', StringComparison.Ordinal)];
        switch (verb)
        {
            case "init": return machine.Fire(SessionEvent.InitCalled).ToString();
            case "close-before-init": return machine.TryCloseBeforeInit().ToString();
            case "write-init": return machine.TryBeginInitWrite().ToString();
            case "init-response": return machine.OnInitResponse(failed: false, data: new byte[] { 1 }).ToString();
            case "init-error": return machine.OnInitResponse(failed: true, data: null).ToString();
            case "process": return machine.Fire(SessionEvent.ProcessCalled).ToString();
            case "exhausted": return machine.Fire(SessionEvent.InputExhausted).ToString();
            case "write-finish": return machine.TryBeginFinishWrite().ToString();
            case "cancel": return machine.RequestCancel("a test", byCaller: true).ToString();
            case "cancel-requested": return machine.IsCancelRequested.ToString();
            case "write-cancel": return machine.DecideCancelWrite().ToString();
            case "data": return machine.InitResponded.ToString();
            case "error-response": return machine.TryAcceptErrorResponse(out var origin) ? origin.ToString() : "Duplicate";
            case "worker-error":
                machine.RecordWorkerError(UserError(argument!, SessionErrorOrigin.Data));
                return "True";
            case "local-failure": return machine.RecordLocalFailure(new InvalidOperationException("the engine failed")).ToString();
            case "prior": return machine.Facts.PriorError?.Message ?? "none";
            case "finish-response":
                var counts = argument?.Split('/').Select(ulong.Parse).ToArray();
                return machine.OnFinishResponse(counts?[0], (long)(counts?[1] ?? 0), new SessionTerminator(null, null, null)).ToString();
            case "finish-response-error":
                var callbackError = UserError("finish failed", SessionErrorOrigin.Finish);
                return machine.OnFinishResponse(null, 0, new SessionTerminator(callbackError, null, null)).ToString();
            case "cancel-response": return machine.AcceptsCancelResponse().ToString();
            case "output-done": return machine.OnOutputDone() is null ? "None" : "Held";
            case "settle":
                var @event = Enum.Parse<SessionEvent>(argument!);
                return machine.TrySettle(@event, Outcome(KindOf(@event))).ToString();
            case "half-close": return machine.TryHalfClose().ToString();
            case "abort": return machine.TryAbort().ToString();
            case "phase": return machine.Phase.ToString();
            default: throw new ArgumentException($"unknown action '{action}'");
        }
    }

    private static SessionError UserError(string message, SessionErrorOrigin origin) =>
        SessionError.From(new ExecutionError { User = new UserError { Message = message } }, origin);

    private static SessionOutcomeKind KindOf(SessionEvent @event) => @event switch
    {
        SessionEvent.FinishResponse => SessionOutcomeKind.Finished,
        SessionEvent.Interrupted => SessionOutcomeKind.Interrupted,
        SessionEvent.TransportFailed => SessionOutcomeKind.TransportFailed,
        _ => SessionOutcomeKind.Cancelled,
    };

    private static SessionOutcome Outcome(SessionOutcomeKind kind) =>
        new(kind, null, null, null, null, null, null, null, new SessionDiagnostics { Worker = "w", SessionId = 1, Phase = SessionPhase.Processing });
}
