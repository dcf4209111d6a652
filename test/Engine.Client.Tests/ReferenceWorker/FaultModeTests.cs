using Engine.Client.Conformance;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Grpc.Core;
using static Engine.Client.Tests.ReferenceWorker.WireScript;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>
/// Each fault of the <c>fault</c> format produces exactly its wire sequence (docs/conformance.md
/// section A reproduced by a real process), seen with the raw client.
/// </summary>
[TestFixture]
public sealed class FaultModeTests : ReferenceWorkerFixture
{
    /// <summary>How long a "never answers" fault is watched for an answer that must not come.</summary>
    private static readonly TimeSpan SilenceWindow = TimeSpan.FromMilliseconds(400);


    [Test]
    public async Task Error_instead_of_init_sends_a_WorkerError_then_answers_Cancel()
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault("error-instead-of-init"));

        var error = await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.Worker);
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(error.Worker.Message, Is.EqualTo("fault: error instead of init"));
        Assert.That(stream.Transcript, Is.EqualTo("ErrorResponse(WorkerError 'fault: error instead of init'), CancelResponse"));
    }

    [Test]
    public async Task Init_error_puts_a_structured_UserError_in_InitResponse_then_answers_Cancel()
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault("init-error"));

        var error = await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.User);
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.Multiple(() =>
        {
            Assert.That(error.User.Message, Is.EqualTo("fault: init failed"));
            Assert.That(error.User.ErrorClass, Is.EqualTo("InitError"));
            Assert.That(error.User.Traceback, Is.EqualTo("Traceback: fault init"));
        });
    }

    [Test]
    public async Task Data_before_init_sends_a_DataResponse_then_InitResponse_then_echoes()
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault("data-before-init"));

        await stream.ExpectDataAsync("before InitResponse");
        await stream.ExpectInitAsync();
        await stream.SendAsync(Data("x"), "DataRequest");
        var echoed = await stream.ExpectDataAsync("echoing x");
        await stream.SendFinishAsync();
        await stream.ExpectFinishAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(echoed.ToStringUtf8(), Is.EqualTo("x"));
    }

    [Test]
    public async Task Error_after_init_sends_InitResponse_then_ErrorResponse_then_answers_Cancel()
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault("error-after-init"));

        await stream.ExpectInitAsync();
        var error = await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.User);
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(error.User.Message, Is.EqualTo("fault: error after init"));
    }

    [Test]
    public async Task Finish_early_answers_the_first_batch_with_FinishResponse_and_ends_the_call()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("finish-early"));

        await stream.SendAsync(Data("first"), "DataRequest");
        await stream.ExpectFinishAsync();

        // Ends on its own: no half-close from the engine is needed.
        Assert.That(await stream.ReadAsync("the end of the call"), Is.Null);
        Assert.That(stream.Transcript, Is.EqualTo("InitResponse, FinishResponse"));
    }

    [TestCase("finish-before-init", "FinishResponse")]
    [TestCase("cancel-before-init", "CancelResponse")]
    public async Task A_terminator_instead_of_InitResponse_is_all_that_is_sent(string fault, string terminator)
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault(fault));

        await stream.ExpectAsync(terminator);
        await stream.ExpectCleanEndAsync();

        Assert.That(stream.Transcript, Is.EqualTo(terminator));
    }

    [Test]
    public async Task End_before_init_ends_the_call_with_status_OK_and_sends_nothing()
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault("end-before-init"));

        Assert.That(await stream.ReadAsync("the end of the call"), Is.Null);
        Assert.That(stream.Transcript, Is.EqualTo("nothing"));
    }

    [Test]
    public async Task Empty_envelope_sends_a_response_with_no_branch_then_answers_Cancel()
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault("empty-envelope"));

        var envelope = await stream.ExpectAsync("an empty envelope");
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(envelope.ResponseCase, Is.EqualTo(UdfResponse.ResponseOneofCase.None));
    }

    [Test]
    public async Task User_error_answers_the_first_batch_with_the_structured_UserError_then_answers_Cancel()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("user-error"));

        await stream.SendAsync(Data("a"), "DataRequest");
        var error = await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.User);
        await stream.SendAsync(Data("ignored after the error"), "DataRequest");
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.Multiple(() =>
        {
            Assert.That(error.User.Message, Is.EqualTo("boom in UDF"));
            Assert.That(error.User.ErrorClass, Is.EqualTo("UdfError"));
            Assert.That(error.User.Traceback, Is.EqualTo("Traceback (most recent call last): ..."));
            Assert.That(stream.Transcript, Is.EqualTo("InitResponse, ErrorResponse(UserError 'boom in UDF' class 'UdfError'), CancelResponse"));
        });
    }

    [Test]
    public async Task Finish_error_echoes_then_puts_the_finish_callback_error_in_FinishResponse()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("finish-error"));

        await stream.SendAsync(Data("a"), "DataRequest");
        await stream.ExpectDataAsync("echoing a");
        await stream.SendFinishAsync();
        var finish = await stream.ExpectAsync("FinishResponse with an error");
        await stream.ExpectCleanEndAsync();

        var error = finish.Control.Finish.Error;
        Assert.Multiple(() =>
        {
            Assert.That(error.User.Message, Is.EqualTo("fault: finish callback failed"));
            Assert.That(error.User.ErrorClass, Is.EqualTo("FinishCallbackError"));
            Assert.That(finish.Control.Finish.Metrics.BatchesIn, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Cancel_callback_error_reports_the_data_phase_error_then_puts_its_own_in_CancelResponse()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("cancel-callback-error"));

        await stream.SendAsync(Data("a"), "DataRequest");
        var error = await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.User);
        await stream.SendCancelAsync();
        var cancel = await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.Multiple(() =>
        {
            Assert.That(error.User.Message, Is.EqualTo("data-phase boom"));
            Assert.That(cancel.Error.Worker.Message, Is.EqualTo("fault: cancel callback failed"));
        });
    }

    [Test]
    public async Task Ignore_cancel_answers_Finish_normally()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("ignore-cancel"));

        await stream.SendAsync(Data("a"), "DataRequest");
        await stream.ExpectDataAsync("echoing a");
        await stream.SendFinishAsync();
        await stream.ExpectFinishAsync();
        await stream.ExpectCleanEndAsync();
    }

    [TestCase("ignore-cancel", false)]
    [TestCase("ignore-finish-and-cancel", false)]
    [TestCase("ignore-finish-and-cancel", true)]
    public async Task Ignoring_faults_echo_but_never_answer_and_keep_the_call_open(string fault, bool sendFinish)
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault(fault));
        await stream.SendAsync(Data("a"), "DataRequest");
        await stream.ExpectDataAsync("echoing a");

        if (sendFinish)
        {
            await stream.SendFinishAsync();
        }

        await stream.SendCancelAsync();
        await stream.HalfCloseAsync();

        // Neither a terminator nor the end of the call within the window: the engine has to
        // break the call (disposing the stream does).
        var read = stream.ReadAsync("no answer");
        Assert.ThrowsAsync<TimeoutException>(() => read.WaitAsync(SilenceWindow), stream.Transcript);
    }

    [Test]
    public async Task Silent_sends_nothing_while_the_worker_keeps_answering_heartbeats()
    {
        using var silent = ConformanceStream.Open(Worker.Channel.CreateCallInvoker(), SilenceWindow, CancellationToken.None);
        await silent.SendInitAsync(Fault("silent"));
        await silent.SendAsync(Data("a"), "DataRequest");
        await silent.SendCancelAsync();

        var failure = Assert.ThrowsAsync<ConformanceFailure>(() => silent.ReadAsync("anything"));
        var heartbeat = await Worker.CreateClient().HeartbeatAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(failure!.Message, Does.Contain("nothing arrived"));
        Assert.That(int.Parse(heartbeat.Metrics["active_sessions"], System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public async Task Status_error_fails_the_call_with_INTERNAL_after_the_first_batch()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("status-error"));
        await stream.SendAsync(Data("a"), "DataRequest");

        var failure = Assert.ThrowsAsync<ConformanceFailure>(() => stream.ReadAsync("the status"));

        Assert.That(failure!.Message, Does.Contain("gRPC status Internal 'fault: status error'"));
        Assert.That(stream.Transcript, Is.EqualTo("InitResponse"));
    }

    [Test]
    public async Task Slow_echoes_every_batch_in_order()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("slow:20"));

        foreach (var text in new[] { "a", "b", "c" })
        {
            await stream.SendAsync(Data(text), "DataRequest");
        }

        await stream.SendFinishAsync();
        var outputs = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            outputs.Add((await stream.ExpectDataAsync("an echo")).ToStringUtf8());
        }

        await stream.ExpectFinishAsync();
        await stream.ExpectCleanEndAsync();
        Assert.That(outputs, Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public async Task A_cancel_interrupts_a_slow_batch_at_once()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("slow:600000"));
        await stream.SendAsync(Data("a"), "DataRequest");
        await stream.SendAsync(Data("b"), "DataRequest");

        // The batch would take ten minutes; the Cancel must not wait for it (10 s bound per read).
        await stream.SendCancelAsync();
        var cancel = await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(cancel.Metrics.BatchesOut, Is.Zero);
    }

    [Test]
    public async Task Big_output_answers_each_batch_with_that_many_deterministic_bytes()
    {
        using var stream = Open(Worker);
        await StartAsync(stream, Fault("big-output:1000"));
        await stream.SendAsync(Data("a"), "DataRequest");
        await stream.SendAsync(Data("b"), "DataRequest");

        var first = await stream.ExpectDataAsync("1000 bytes");
        var second = await stream.ExpectDataAsync("1000 bytes");
        await stream.SendFinishAsync();
        await stream.ExpectFinishAsync();
        await stream.ExpectCleanEndAsync();

        Assert.Multiple(() =>
        {
            Assert.That(first.Length, Is.EqualTo(1000));
            Assert.That(second.ToByteArray(), Is.EqualTo(first.ToByteArray()));
            Assert.That(first[0], Is.EqualTo(0));
            Assert.That(first[252], Is.EqualTo(1), "a ramp of 0..250");
        });
    }

    [TestCase("no-such-fault", "unknown fault 'no-such-fault'; known faults: error-instead-of-init")]
    [TestCase("exit", "fault 'exit' needs an argument: exit:<code>")]
    [TestCase("slow:abc", "fault 'slow' needs an argument")]
    [TestCase("silent:1", "fault 'silent' takes no argument")]
    public async Task A_bad_fault_payload_fails_init_with_a_WorkerError_naming_the_problem(string payload, string message)
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Fault(payload));

        var error = await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.Worker);
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(error.Worker.Message, Does.StartWith(message));
    }

    [Test]
    public async Task Exit_ends_the_whole_process_at_once_with_the_code()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var bystander = Open(worker);
        await StartAsync(bystander, Echo());
        using var stream = Open(worker);
        await StartAsync(stream, Fault("exit:3"));

        await stream.SendAsync(Data("a"), "DataRequest");

        Assert.That(await worker.WaitForExitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(3), worker.Describe());
        var failure = Assert.ThrowsAsync<ConformanceFailure>(() => stream.ReadAsync("anything"));
        Assert.That(failure!.Message, Does.Contain("the call failed"));

        // A crash, not a stop: the other live stream gets no orderly cancel, its call just breaks,
        // and the socket file stays behind (the next worker removes it).
        var broken = Assert.ThrowsAsync<ConformanceFailure>(() => bystander.ReadAsync("anything"));
        Assert.That(broken!.Message, Does.Contain("the call failed"));
        Assert.That(bystander.Transcript, Is.EqualTo("InitResponse"));
        Assert.That(File.Exists(worker.SocketPath), Is.True);
    }
}
