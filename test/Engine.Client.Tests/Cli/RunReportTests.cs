extern alias cli;

using System.Text;
using System.Text.Json;
using cli::Engine.Client.Cli.Operations;
using cli::Engine.Client.Cli.Output;
using Engine.Client.Protocol;

namespace Engine.Client.Tests.Cli;

/// <summary>The JSON renderer of run reports, and how a session outcome maps to the CLI's outcome, error and exit code.</summary>
[TestFixture]
public sealed class RunReportTests
{
    private static readonly SessionDiagnostics Diagnostics = new() { Worker = "unix:///tmp/w.sock", SessionId = 7, Phase = SessionPhase.Processing };

    [Test]
    public void Every_field_is_written_in_order_with_its_type()
    {
        var metrics = new ExecutionMetrics { BytesIn = 10, BytesOut = 20, RowsIn = 3, BatchesIn = 1, WorkCpuNanos = 0 };
        var report = new RunReport
        {
            Outcome = RunOutcome.Failed,
            ExitCode = 1,
            Worker = "unix:///tmp/w.sock",
            Format = "builtin",
            Error = new RunError { Kind = RunErrorKind.User, Message = "boom \"quoted\" é", ErrorClass = "ValueError", Traceback = "line 1\nline 2", Origin = "finish" },
            Sent = new Traffic(1, 3, 10),
            Received = new Traffic(2, null, 20),
            Metrics = metrics,
            InitData = Encoding.UTF8.GetBytes("init"),
            FinishData = ReadOnlyMemory<byte>.Empty,
            Duration = TimeSpan.FromMilliseconds(1234.5678),
            OutputPath = "/tmp/out.arrow",
        };

        using var json = JsonDocument.Parse(RunReportJson.Write(report));
        var root = json.RootElement;

        Assert.Multiple(() =>
        {
            Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
            {
                "outcome", "exitCode", "worker", "format", "error", "sent", "received", "metrics", "initData", "finishData", "durationSeconds", "output",
            }));
            Assert.That(root.GetProperty("outcome").GetString(), Is.EqualTo("failed"));
            Assert.That(root.GetProperty("exitCode").GetInt32(), Is.EqualTo(1));
            Assert.That(root.GetProperty("worker").GetString(), Is.EqualTo("unix:///tmp/w.sock"));
            Assert.That(root.GetProperty("format").GetString(), Is.EqualTo("builtin"));
            var error = root.GetProperty("error");
            Assert.That(error.GetProperty("kind").GetString(), Is.EqualTo("user"));
            Assert.That(error.GetProperty("message").GetString(), Is.EqualTo("boom \"quoted\" é"));
            Assert.That(error.GetProperty("errorClass").GetString(), Is.EqualTo("ValueError"));
            Assert.That(error.GetProperty("traceback").GetString(), Is.EqualTo("line 1\nline 2"));
            Assert.That(error.GetProperty("origin").GetString(), Is.EqualTo("finish"));
            Assert.That(error.GetProperty("reason").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(root.GetProperty("sent").GetProperty("batches").GetInt64(), Is.EqualTo(1));
            Assert.That(root.GetProperty("sent").GetProperty("rows").GetInt64(), Is.EqualTo(3));
            Assert.That(root.GetProperty("sent").GetProperty("bytes").GetInt64(), Is.EqualTo(10));
            Assert.That(root.GetProperty("received").GetProperty("rows").ValueKind, Is.EqualTo(JsonValueKind.Null));
            var written = root.GetProperty("metrics");
            Assert.That(written.GetProperty("bytesIn").GetUInt64(), Is.EqualTo(10));
            Assert.That(written.GetProperty("rowsIn").GetUInt64(), Is.EqualTo(3));
            Assert.That(written.GetProperty("workCpuNanos").GetUInt64(), Is.EqualTo(0), "zero is a measured zero, not unknown");
            Assert.That(written.GetProperty("rowsOut").ValueKind, Is.EqualTo(JsonValueKind.Null), "unset is unknown");
            Assert.That(written.GetProperty("initWallNanos").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(written.EnumerateObject().Count(), Is.EqualTo(12));
            Assert.That(Encoding.UTF8.GetString(root.GetProperty("initData").GetBytesFromBase64()), Is.EqualTo("init"));
            Assert.That(root.GetProperty("finishData").GetString(), Is.Empty, "empty data is an empty string, not null");
            Assert.That(root.GetProperty("durationSeconds").GetDouble(), Is.EqualTo(1.234568).Within(1e-9));
            Assert.That(root.GetProperty("output").GetString(), Is.EqualTo("/tmp/out.arrow"));
        });
    }

    [Test]
    public void Absent_values_are_null()
    {
        var report = new RunReport { Outcome = RunOutcome.TransportFailed, ExitCode = 3, Format = "echo" };

        using var json = JsonDocument.Parse(RunReportJson.Write(report));
        var root = json.RootElement;

        Assert.Multiple(() =>
        {
            foreach (var name in new[] { "worker", "error", "metrics", "initData", "finishData", "output" })
            {
                Assert.That(root.GetProperty(name).ValueKind, Is.EqualTo(JsonValueKind.Null), name);
            }

            Assert.That(root.GetProperty("outcome").GetString(), Is.EqualTo("transport_failed"));
            Assert.That(root.GetProperty("sent").GetProperty("batches").GetInt64(), Is.EqualTo(0));
        });
    }

    [Test]
    public void Outcome_names() => Assert.That(
        Enum.GetValues<RunOutcome>().Select(RunReportJson.OutcomeName),
        Is.EqualTo(new[] { "finished", "cancelled", "failed", "transport_failed", "interrupted" }));

    [Test]
    public void A_finished_session_exits_0_without_error()
    {
        var (outcome, exitCode, error) = RunOperation.Classify(Outcome(SessionOutcomeKind.Finished), null, interrupted: false, timedOut: null);

        Assert.That((outcome, exitCode, error), Is.EqualTo((RunOutcome.Finished, 0, (RunError?)null)));
    }

    [Test]
    public void A_failed_session_exits_1_with_the_worker_error()
    {
        var failure = SessionError.From(new ExecutionError { User = new UserError { Message = "bad", ErrorClass = "E", Traceback = "tb" } }, SessionErrorOrigin.Finish);

        var (outcome, exitCode, error) = RunOperation.Classify(Outcome(SessionOutcomeKind.Failed, failure), null, interrupted: false, timedOut: null);

        Assert.That((outcome, exitCode), Is.EqualTo((RunOutcome.Failed, 1)));
        Assert.That(error, Is.EqualTo(new RunError { Kind = RunErrorKind.User, Message = "bad", ErrorClass = "E", Traceback = "tb", Origin = "finish" }));
    }

    [Test]
    public void A_cancelled_session_after_a_worker_error_exits_1()
    {
        var failure = SessionError.From(new ExecutionError { Worker = new WorkerError { Message = "down" } }, SessionErrorOrigin.Data);

        var (outcome, exitCode, error) = RunOperation.Classify(Outcome(SessionOutcomeKind.Cancelled, failure), null, interrupted: false, timedOut: null);

        Assert.That((outcome, exitCode, error?.Kind, error?.Origin), Is.EqualTo((RunOutcome.Cancelled, 1, RunErrorKind.Worker, "data")));
    }

    [Test]
    public void A_transport_failure_exits_3_with_its_reason()
    {
        var exception = new WorkerTransportException("unix:///tmp/w.sock", TransportFailureReason.ProtocolViolation, "a DataResponse before the InitResponse", Diagnostics, null);

        var (outcome, exitCode, error) = RunOperation.Classify(Outcome(SessionOutcomeKind.TransportFailed, exception: exception), null, interrupted: false, timedOut: null);

        Assert.That((outcome, exitCode, error?.Kind, error?.Reason), Is.EqualTo((RunOutcome.TransportFailed, 3, RunErrorKind.Transport, "protocol_violation")));
        Assert.That(error!.Message, Does.Contain("a DataResponse before the InitResponse"));
    }

    [TestCase(SessionOutcomeKind.Cancelled)]
    [TestCase(SessionOutcomeKind.Interrupted)]
    [TestCase(SessionOutcomeKind.Finished)]
    public void An_interrupted_run_exits_130_whichever_terminator_the_worker_chose(SessionOutcomeKind kind)
    {
        var (outcome, exitCode, error) = RunOperation.Classify(Outcome(kind), null, interrupted: true, timedOut: null);

        Assert.That((outcome, exitCode, error), Is.EqualTo((RunOutcome.Interrupted, 130, (RunError?)null)));
    }

    [Test]
    public void An_interrupted_run_keeps_the_error_the_worker_reported()
    {
        var failure = SessionError.From(new ExecutionError { User = new UserError { Message = "bad" } }, SessionErrorOrigin.Data);

        var (outcome, exitCode, error) = RunOperation.Classify(Outcome(SessionOutcomeKind.Cancelled, failure), null, interrupted: true, timedOut: null);

        Assert.That((outcome, exitCode, error?.Message), Is.EqualTo((RunOutcome.Interrupted, 130, "bad")));
    }

    [Test]
    public void An_expired_timeout_exits_3_as_a_transport_timeout_naming_the_stage()
    {
        var (outcome, exitCode, error) = RunOperation.Classify(
            Outcome(SessionOutcomeKind.Cancelled), null, interrupted: false, timedOut: new RunTimeout(TimeSpan.FromSeconds(2), "waiting for InitResponse"));

        Assert.That((outcome, exitCode, error?.Kind, error?.Reason), Is.EqualTo((RunOutcome.TransportFailed, 3, RunErrorKind.Transport, "timeout")));
        Assert.That(error!.Message, Does.Contain("--timeout 2 s").And.Contain("waiting for InitResponse"));
    }

    [Test]
    public void A_local_input_failure_exits_2_whatever_the_session_did()
    {
        var local = new RunError { Kind = RunErrorKind.Input, Message = "--input could not be read" };

        var (outcome, exitCode, error) = RunOperation.Classify(Outcome(SessionOutcomeKind.Cancelled), local, interrupted: false, timedOut: null);

        Assert.That((outcome, exitCode, error), Is.EqualTo((RunOutcome.Cancelled, 2, local)));
    }

    private static SessionOutcome Outcome(SessionOutcomeKind kind, SessionError? error = null, Exception? exception = null) =>
        new(kind, error, null, exception, null, null, null, null, Diagnostics);
}
