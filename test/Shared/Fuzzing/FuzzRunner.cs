using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using Engine.ReferenceWorker.Udfs.Faults;

namespace Engine.Client.Fuzzing;

/// <summary>One fuzzed session: what was planned, what was expected, what happened, and every difference.</summary>
/// <param name="Plan">The seed, expanded.</param>
/// <param name="Expected">The row of <see cref="FuzzExpectation.Table"/>.</param>
/// <param name="Outcome">The outcome; <see langword="null"/> when none came within the bound.</param>
/// <param name="Observed">What the caller saw, in one line.</param>
/// <param name="Problems">Every way the session differed from its documented outcome; empty when it passed.</param>
/// <param name="Elapsed">From opening the session to its outcome (or to the bound).</param>
/// <param name="SessionId">The session's id, as in logs and unobserved exception messages.</param>
internal sealed record FuzzResult(
    FuzzPlan Plan,
    FuzzExpectation Expected,
    SessionOutcome? Outcome,
    string Observed,
    IReadOnlyList<string> Problems,
    TimeSpan Elapsed,
    long SessionId)
{
    public bool Passed => Problems.Count == 0;

    /// <summary>The outcome kind and exception type, for counting (for example <c>TransportFailed/WorkerTransportException(ProtocolViolation)</c>).</summary>
    public string OutcomeKey => Outcome is null
        ? "no outcome in time"
        : Outcome.Exception is null ? Outcome.Kind.ToString() : $"{Outcome.Kind}/{FuzzRunner.Name(Outcome.Exception)}";

    /// <summary>The seed, the misbehaviour, what was expected and what happened.</summary>
    public string Describe() =>
        $"{Plan}{Environment.NewLine}    expected: {FuzzRunner.DescribeExpected(Expected, Plan)}{Environment.NewLine}    observed: {Observed}{Environment.NewLine}    problems: {string.Join("; ", Problems)}";
}

/// <summary>
/// Runs seeded sessions of the reference worker's <c>fuzz</c> format and checks each against its
/// documented outcome (<see cref="FuzzExpectation.Table"/>): an outcome within the bound, the
/// expected outcome kind and exceptions, no exception type outside the documented ones, the exact
/// output of well-behaved seeds, and a connection that still serves a normal session afterwards.
/// </summary>
internal static class FuzzRunner
{
    /// <summary>Rows in each input batch.</summary>
    public const int RowsPerBatch = 16;

    /// <summary>The engine's receive limit: the <see cref="FuzzMisbehaviour.Oversized"/> message exceeds it.</summary>
    public const int MaxReceiveMessageSize = 1024 * 1024;

    /// <summary>The session timeout a silent or slow misbehaviour runs into.</summary>
    public static readonly TimeSpan ShortTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Every other session timeout: a session that waits for one of these is a failure of the bound.</summary>
    public static readonly TimeSpan HugeTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Added to the expected timeout for the bound on each session: generous, the machine may be loaded.</summary>
    public static readonly TimeSpan Margin = TimeSpan.FromSeconds(15);

    /// <summary>The schema of the input, declared in Init as input and output schema.</summary>
    public static readonly Schema Schema = new(
        [new Field("id", Int64Type.Default, nullable: false), new Field("name", StringType.Default, nullable: true)],
        metadata: null);

    /// <summary>The options of the one client all sessions share.</summary>
    public static WorkerClientOptions ClientOptions() => new() { Connection = { MaxReceiveMessageSize = MaxReceiveMessageSize } };

    /// <summary>The bound on one session: its expected timeout, if any, plus <see cref="Margin"/>.</summary>
    public static TimeSpan Bound(FuzzExpectation expected) => (expected.Timeout == FuzzTimeout.None ? TimeSpan.Zero : ShortTimeout) + Margin;

    /// <summary>Runs <paramref name="seeds"/>, <paramref name="parallelism"/> at a time, each followed by a normal session on the same client.</summary>
    public static async Task<IReadOnlyList<FuzzResult>> RunAsync(WorkerClient client, IEnumerable<int> seeds, int parallelism, Action<FuzzResult>? progress = null)
    {
        var results = new ConcurrentBag<FuzzResult>();
        await Parallel.ForEachAsync(
            seeds,
            new ParallelOptions { MaxDegreeOfParallelism = parallelism },
            async (seed, _) =>
            {
                var result = await RunSeedAsync(client, seed).ConfigureAwait(false);
                results.Add(result);
                progress?.Invoke(result);
            }).ConfigureAwait(false);
        return [.. results.OrderBy(r => r.Plan.Seed)];
    }

    /// <summary>Runs one seed, then a normal echo session on the same client.</summary>
    public static async Task<FuzzResult> RunSeedAsync(WorkerClient client, int seed)
    {
        var plan = FuzzPlan.FromSeed(seed);
        var expected = FuzzExpectation.For(plan.Misbehaviour);
        var bound = Bound(expected);
        var session = await client.OpenSessionAsync(OptionsFor(expected));
        var seen = new Observation();
        var started = Stopwatch.GetTimestamp();
        var run = DriveAsync(session, plan, expected, seen);
        var inTime = true;
        try
        {
            await run.WaitAsync(bound).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            inTime = false;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var problems = new List<string>();
        if (!inTime)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"no outcome within {bound.TotalSeconds:0.#} s (phase {session.Phase})"));
            using var abort = new CancellationTokenSource();
            await abort.CancelAsync().ConfigureAwait(false);
            _ = session.CloseAsync(abort.Token);
        }
        else
        {
            Check(plan, expected, seen, problems);
        }

        if (await CheckConnectionAsync(client).ConfigureAwait(false) is { } broken)
        {
            problems.Add(broken);
        }

        return new FuzzResult(plan, expected, seen.Outcome, seen.Describe(), problems, elapsed, session.Id);
    }

    /// <summary>A normal echo session on <paramref name="client"/>; <see langword="null"/> when it finished with its input echoed.</summary>
    public static async Task<string?> CheckConnectionAsync(WorkerClient client)
    {
        var session = await client.OpenSessionAsync(new SessionOptions { InitResponseTimeout = HugeTimeout, IdleTimeout = HugeTimeout, CancelAcknowledgementTimeout = HugeTimeout });
        try
        {
            var work = EchoAsync(session);
            var echoed = await work.WaitAsync(Margin).ConfigureAwait(false);
            var outcome = await session.CloseAsync().WaitAsync(Margin).ConfigureAwait(false);
            if (outcome.Kind != SessionOutcomeKind.Finished || echoed != "0,1,2")
            {
                return $"the connection no longer serves a normal session: echo gave [{echoed}], {outcome}";
            }

            return null;
        }
        catch (Exception ex)
        {
            using var abort = new CancellationTokenSource();
            await abort.CancelAsync().ConfigureAwait(false);
            _ = session.CloseAsync(abort.Token);
            return $"the connection no longer serves a normal session: {Name(ex)}: {ex.Message}";
        }
    }

    /// <summary>The expected outcome in one line.</summary>
    public static string DescribeExpected(FuzzExpectation expected, FuzzPlan plan)
    {
        var text = new StringBuilder(string.Join(" or ", expected.Kinds));
        if (expected.OutcomeException is { } type)
        {
            text.Append(" with ").Append(type.Name);
            if (expected.Reason is { } reason)
            {
                text.Append(" (").Append(reason);
                if (ExpectedStatus(expected, plan) is { } status)
                {
                    text.Append(", status ").Append(status);
                }

                text.Append(')');
            }
        }

        text.Append("; caller: ").Append(expected.Stage == FuzzStage.None ? "no exception" : $"{expected.ExpectedCallerException?.Name} from {(expected.Stage == FuzzStage.Init ? "InitAsync" : "the output")}");
        if (expected.ErrorKind is { } kind)
        {
            text.Append("; worker error ").Append(kind).Append(" (").Append(expected.ErrorOrigin).Append(')');
        }

        return text.Append(" [").Append(expected.Documented).Append(']').ToString();
    }

    internal static string Name(Exception exception) => exception switch
    {
        WorkerTransportException transport => $"{nameof(WorkerTransportException)}({transport.Reason}{(transport.StatusCode is { } code ? ", " + code : "")})",
        WorkerExecutionException execution => $"{nameof(WorkerExecutionException)}({execution.Kind}, {execution.Error.Origin})",
        _ => exception.GetType().Name,
    };

    private static SessionOptions OptionsFor(FuzzExpectation expected) => new()
    {
        InitResponseTimeout = expected.Timeout == FuzzTimeout.InitResponse ? ShortTimeout : HugeTimeout,
        IdleTimeout = expected.Timeout == FuzzTimeout.Idle ? ShortTimeout : HugeTimeout,
        CancelAcknowledgementTimeout = expected.Timeout == FuzzTimeout.CancelAcknowledgement ? ShortTimeout : HugeTimeout,
    };

    private static async Task DriveAsync(WorkerSession session, FuzzPlan plan, FuzzExpectation expected, Observation seen)
    {
        var payload = Encoding.UTF8.GetBytes(plan.Seed.ToString(CultureInfo.InvariantCulture));
        var init = SessionInit.ForArrow(payload, FuzzPlan.Format, Schema, Schema);
        using var cancelInit = new CancellationTokenSource();
        var initializing = session.InitAsync(init, cancelInit.Token);
        switch (expected.Action)
        {
            case FuzzEngineAction.CancelInitToken:
                cancelInit.CancelAfter(plan.DelayMs);
                break;
            case FuzzEngineAction.CloseDuringInit:
                _ = session.CloseAsync();
                break;
        }

        try
        {
            await initializing.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            seen.Init = ex;
        }

        if (seen.Init is null)
        {
            try
            {
                await foreach (var batch in session.ProcessAsync(InputAsync(plan.InputBatches, expected.Action == FuzzEngineAction.HoldFinish)).ConfigureAwait(false))
                {
                    using (batch)
                    {
                        seen.Output.Add(InputIndexOf(batch));
                    }
                }
            }
            catch (Exception ex)
            {
                seen.Process = ex;
            }
        }

        seen.Outcome = await session.CloseAsync().ConfigureAwait(false);
    }

    private static async IAsyncEnumerable<RecordBatch> InputAsync(int batches, bool holdFinish, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var index = 0; index < batches; index++)
        {
            await Task.Yield();
            using var batch = Batch(index);
            yield return batch;
        }

        if (holdFinish)
        {
            // Finish goes out only once the session ended (its input token is then cancelled).
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
    }

    private static RecordBatch Batch(int index)
    {
        var ids = new Int64Array.Builder();
        var names = new StringArray.Builder();
        for (var row = 0; row < RowsPerBatch; row++)
        {
            var id = ((long)index * RowsPerBatch) + row;
            ids.Append(id);
            names.Append("row " + id.ToString(CultureInfo.InvariantCulture));
        }

        return new RecordBatch(Schema, [ids.Build(), names.Build()], RowsPerBatch);
    }

    /// <summary>The input batch an output batch echoes, or -1 when it is not an exact copy of one.</summary>
    private static int InputIndexOf(RecordBatch batch)
    {
        if (batch.Length != RowsPerBatch || batch.ColumnCount != 2 || batch.Column(0) is not Int64Array ids || batch.Column(1) is not StringArray names)
        {
            return -1;
        }

        var first = ids.GetValue(0) ?? -1;
        if (first < 0 || first % RowsPerBatch != 0)
        {
            return -1;
        }

        for (var row = 0; row < RowsPerBatch; row++)
        {
            if (ids.GetValue(row) != first + row || names.GetString(row) != "row " + (first + row).ToString(CultureInfo.InvariantCulture))
            {
                return -1;
            }
        }

        return (int)(first / RowsPerBatch);
    }

    private static void Check(FuzzPlan plan, FuzzExpectation expected, Observation seen, List<string> problems)
    {
        var outcome = seen.Outcome!;
        if (!expected.Kinds.Contains(outcome.Kind))
        {
            problems.Add($"outcome {outcome.Kind}, expected {string.Join(" or ", expected.Kinds)}");
        }

        if (!IsType(outcome.Exception, expected.OutcomeException))
        {
            problems.Add($"outcome exception {(outcome.Exception is null ? "none" : Name(outcome.Exception))}, expected {expected.OutcomeException?.Name ?? "none"}");
        }

        CheckDetails("outcome exception", outcome.Exception, expected, plan, problems);

        // Where and how the caller first saw the failure.
        var stage = seen.Init is not null ? FuzzStage.Init : seen.Process is not null ? FuzzStage.Process : FuzzStage.None;
        var first = seen.Init ?? seen.Process;
        if (stage != expected.Stage)
        {
            problems.Add($"the caller saw {(first is null ? "no exception" : Name(first))} {StageText(stage)}, expected {StageText(expected.Stage)}");
        }

        if (!IsType(first, expected.ExpectedCallerException))
        {
            problems.Add($"the caller's exception is {(first is null ? "none" : Name(first))}, expected {expected.ExpectedCallerException?.Name ?? "none"}");
        }
        else if (!ReferenceEquals(first, outcome.Exception))
        {
            CheckDetails("caller exception", first, expected, plan, problems);
        }

        foreach (var exception in new[] { seen.Init, seen.Process })
        {
            // The documented ones: sessions.md "Errors" and "Cancellation", arrow.md "Errors".
            if (exception is not null and not WorkerTransportException and not WorkerExecutionException and not WorkerOutputException and not OperationCanceledException)
            {
                problems.Add($"undocumented exception type {exception.GetType().FullName}: {exception.Message}");
            }
        }

        if (expected.Output is { } output)
        {
            var want = output(plan.InputBatches).ToArray();
            if (!seen.Output.SequenceEqual(want))
            {
                problems.Add($"output batches [{string.Join(",", seen.Output)}], expected [{string.Join(",", want)}] (input batch of each; -1 = not a copy of an input batch)");
            }

            var finishData = outcome.FinishData is { } data ? Encoding.UTF8.GetString(data.Span) : null;
            var wantData = string.Create(CultureInfo.InvariantCulture, $"fuzz {plan.Seed}: {plan.InputBatches} batches");
            if (outcome.Kind == SessionOutcomeKind.Finished && finishData != wantData)
            {
                problems.Add($"FinishResponse.data '{finishData}', expected '{wantData}'");
            }
        }
    }

    /// <summary>Reason and status of a transport exception, kind and origin of an execution exception.</summary>
    private static void CheckDetails(string what, Exception? exception, FuzzExpectation expected, FuzzPlan plan, List<string> problems)
    {
        switch (exception)
        {
            case WorkerTransportException transport when expected.Reason is { } reason:
                if (transport.Reason != reason)
                {
                    problems.Add($"{what} reason {transport.Reason}, expected {reason} ({transport.Message})");
                }

                if (ExpectedStatus(expected, plan) is { } status && transport.StatusCode != status)
                {
                    problems.Add($"{what} status {transport.StatusCode?.ToString() ?? "none"}, expected {status}");
                }

                break;
            case WorkerExecutionException execution when expected.ErrorKind is { } kind:
                if (execution.Kind != kind || execution.Error.Origin != expected.ErrorOrigin)
                {
                    problems.Add($"{what}: worker error {execution.Kind} ({execution.Error.Origin}), expected {kind} ({expected.ErrorOrigin}): {execution.Error.Message}");
                }

                break;
        }
    }

    private static Grpc.Core.StatusCode? ExpectedStatus(FuzzExpectation expected, FuzzPlan plan) =>
        expected.StatusFromPlan ? plan.Status : expected.Status;

    private static bool IsType(Exception? exception, Type? expected) => expected is null
        ? exception is null
        : exception is not null && (expected == typeof(OperationCanceledException) ? exception is OperationCanceledException : exception.GetType() == expected);

    private static string StageText(FuzzStage stage) => stage switch
    {
        FuzzStage.Init => "from InitAsync",
        FuzzStage.Process => "from the output",
        _ => "anywhere",
    };

    private static async Task<string> EchoAsync(WorkerSession session)
    {
        await session.InitAsync(new SessionInit("connection check"u8.ToArray(), "echo")).ConfigureAwait(false);
        var echoed = new List<byte>();
        await foreach (var item in session.ProcessAsync(Items()).ConfigureAwait(false))
        {
            echoed.Add(item.Length == 8 ? item.Span[0] : byte.MaxValue);
        }

        return string.Join(",", echoed);

        static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items()
        {
            for (byte i = 0; i < 3; i++)
            {
                await Task.Yield();
                yield return new byte[] { i, 1, 2, 3, 4, 5, 6, 7 };
            }
        }
    }

    /// <summary>What the caller saw of one session.</summary>
    private sealed class Observation
    {
        public Exception? Init { get; set; }

        public Exception? Process { get; set; }

        public List<int> Output { get; } = [];

        public SessionOutcome? Outcome { get; set; }

        public string Describe()
        {
            var text = new StringBuilder();
            text.Append("init ").Append(Init is null ? "ok" : $"threw {Name(Init)}: {Init.Message}");
            if (Init is null)
            {
                text.Append("; output [").Append(string.Join(",", Output)).Append(']');
                text.Append(Process is null ? " complete" : $" then threw {Name(Process)}: {Process.Message}");
            }

            text.Append("; outcome ").Append(Outcome is null ? "none" : Outcome.Exception is null ? Outcome.Kind.ToString() : $"{Outcome.Kind} with {Name(Outcome.Exception)}");
            return text.ToString();
        }
    }
}
