using System.Runtime.CompilerServices;
using System.Text;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Google.Protobuf;
using static Engine.Client.Tests.Infrastructure.Inputs;
using static Engine.Client.Tests.Infrastructure.ScriptedStream;

namespace Engine.Client.Tests.Sessions;

/// <summary>
/// docs/conformance.md section A: a session against scripted workers. Every scenario runs twice: with the
/// worker answering re-entrantly on the engine's writing thread (in-process), and across threads
/// over a real Unix domain socket. "Fast" scenarios set every protocol timeout to minutes and bound
/// the test's own awaits to seconds, so a regression hangs into a failure instead of passing slowly.
/// </summary>
[TestFixture(HostKind.InProcess)]
[TestFixture(HostKind.UnixSocket)]
public sealed class SessionScenarioTests(HostKind kind) : ScriptedWorkerFixture(kind)
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(300);

    private WorkerClient _client = null!;

    [SetUp]
    public void CreateClient()
    {
        _client = Host.CreateClient();
    }

    [TearDown]
    public void DisposeClient() => _client.Dispose();

    private WorkerSession Open(SessionOptions? options = null) => _client.OpenSession(options ?? TaskTimeouts.HugeTimeouts(), lease: null);

    private static SessionInit Init(string payload = "udf") => new(Encoding.UTF8.GetBytes(payload), "test");

    private static ReadOnlyMemory<byte> B(string text) => Encoding.UTF8.GetBytes(text);

    private static string S(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>Yields the items, then blocks until the session stops its input.</summary>
    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> ItemsThenBlock(string[] items, [EnumeratorCancellation] CancellationToken ct = default)
    {
        foreach (var item in items)
        {
            yield return B(item);
        }

        await Task.Delay(Timeout.Infinite, ct);
        yield return B("never");
    }

    private static async Task<T> ExpectAsync<T>(Func<Task> action)
        where T : Exception
    {
        try
        {
            await action().DefaultTimeout();
        }
        catch (T expected)
        {
            return expected;
        }
        catch (Exception other)
        {
            Assert.Fail($"Expected {typeof(T).Name}, got {other.GetType().Name}: {other}");
        }

        Assert.Fail($"Expected {typeof(T).Name}, but nothing was thrown.");
        return null!;
    }

    private static async Task ReadAllAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> output)
    {
        await foreach (var _ in output)
        {
        }
    }

    private static async Task AssertTransportFailure(WorkerSession session, TransportFailureReason reason)
    {
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
            Assert.That(outcome.WorkerReusable, Is.False);
            Assert.That(outcome.Exception, Is.TypeOf<WorkerTransportException>());
            Assert.That(((WorkerTransportException)outcome.Exception!).Reason, Is.EqualTo(reason));
        });
    }

    // ---- A1, A13, A17: an ErrorResponse instead of the InitResponse ----

    [Test]
    public async Task A01_ErrorResponse_instead_of_InitResponse_fails_init_fast_sends_Cancel_and_closes_Cancelled()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.Error(Responses.Worker("no init for you")));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();

        var error = await ExpectAsync<WorkerExecutionException>(() => session.InitAsync(Init()));
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.Error.Message, Is.EqualTo("no init for you"));
            Assert.That(error.Kind, Is.EqualTo(SessionErrorKind.Worker));
            Assert.That(error.Error.Origin, Is.EqualTo(SessionErrorOrigin.Init));
            Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Error?.Message, Is.EqualTo("no init for you"));
            Assert.That(outcome.WorkerReusable, Is.True);
        });
    }

    [Test]
    public async Task A13_ErrorResponse_instead_of_InitResponse_answered_from_another_thread()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await Task.Run(() => stream.WriteAsync(Responses.Error(Responses.Worker("other thread"))));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();

        var error = await ExpectAsync<WorkerExecutionException>(() => session.InitAsync(Init()));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Error.Message, Is.EqualTo("other thread"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That((await Host.NextCallAsync()).Wire, Is.EqualTo("Init, Cancel"));
    }

    [Test]
    public async Task A17_a_pre_init_error_closes_as_Cancelled_the_protocol_terminator_not_a_failure_of_its_own()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitError(Responses.User("bad udf", "ValueError")));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();

        await ExpectAsync<WorkerExecutionException>(() => session.InitAsync(Init()));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Error?.ErrorClass, Is.EqualTo("ValueError"));
            Assert.That(outcome.WorkerReusable, Is.True);
        });
    }

    // ---- A2, A14, A20: InitResponse carrying an error ----

    [Test]
    public async Task A02_InitResponse_error_fails_init_fast_with_class_message_and_traceback_then_Cancel_and_Cancelled()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitError(Responses.User("cannot load", "ImportError", "Traceback: line 1")));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();

        var error = await ExpectAsync<WorkerExecutionException>(() => session.InitAsync(Init()));
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.Kind, Is.EqualTo(SessionErrorKind.User));
            Assert.That(error.Error.Message, Is.EqualTo("cannot load"));
            Assert.That(error.ErrorClass, Is.EqualTo("ImportError"));
            Assert.That(error.Traceback, Is.EqualTo("Traceback: line 1"));
            Assert.That(error.Message, Does.Contain("cannot load").And.Contain("ImportError").And.Contain("phase Initializing"));
            Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        });
    }

    [Test]
    public async Task A14_InitResponse_error_answered_from_another_thread()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await Task.Run(() => stream.WriteAsync(Responses.InitError(Responses.User("elsewhere", "E"))));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();

        var error = await ExpectAsync<WorkerExecutionException>(() => session.InitAsync(Init()));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Error.Message, Is.EqualTo("elsewhere"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task A20_cross_thread_InitResponse_error_keeps_its_class_Cancel_reaches_the_worker_and_close_is_Cancelled()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await Task.Run(() => stream.WriteAsync(Responses.InitError(Responses.User("x", "StructuredClass", "tb"))));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();

        var initTask = Task.Run(() => session.InitAsync(Init()));
        var error = await ExpectAsync<WorkerExecutionException>(() => initTask);
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.ErrorClass, Is.EqualTo("StructuredClass"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Error?.ErrorClass, Is.EqualTo("StructuredClass"));
        });
    }

    // ---- A3, A19, A6, A7, A8, A9: out-of-order messages before the InitResponse ----

    /// <summary>A worker that reads Init, sends <paramref name="answers"/>, then holds the stream (or ends it).</summary>
    private static WorkerScript Answers(bool endStream, params UdfResponse[] answers) => async stream =>
    {
        await Scripts.ReadInitAsync(stream);
        foreach (var answer in answers)
        {
            await stream.WriteAsync(answer);
        }

        if (!endStream)
        {
            await stream.IgnoreEverythingAsync();
        }
    };

    private static IEnumerable<TestCaseData> OutOfOrderBeforeInit()
    {
        yield return new TestCaseData(Answers(false, Responses.Data("early"), Responses.InitOk()), "DataResponse arrived before the InitResponse")
            .SetName("A03_DataResponse_then_a_valid_InitResponse_fails_init_fast_and_closes_as_transport_failure");
        yield return new TestCaseData(Answers(false, Responses.Data("early")), "DataResponse arrived before the InitResponse")
            .SetName("A19_DataResponse_before_InitResponse_fails_init_fast");
        yield return new TestCaseData(Answers(false, Responses.Finish()), "FinishResponse arrived before the InitResponse")
            .SetName("A06_FinishResponse_before_InitResponse_fails_init_fast");
        yield return new TestCaseData(Answers(false, Responses.Cancel()), "CancelResponse arrived before the InitResponse although no Cancel was sent")
            .SetName("A07_CancelResponse_before_InitResponse_without_a_Cancel_fails_init_fast");
        yield return new TestCaseData(Answers(true), "ended the response stream without a terminator")
            .SetName("A08_worker_ending_its_response_stream_before_InitResponse_fails_init_fast");
        yield return new TestCaseData(Answers(false, Responses.EmptyEnvelope()), "UdfResponse with no branch of its oneof set")
            .SetName("A09_an_envelope_with_no_branch_before_InitResponse_fails_init_fast_with_a_clear_message");
        yield return new TestCaseData(Answers(false, new UdfResponse { Control = new UdfControlResponse() }), "UdfControlResponse with no branch")
            .SetName("A09_a_control_envelope_with_no_branch_fails_init_fast");
    }

    [TestCaseSource(nameof(OutOfOrderBeforeInit))]
    public async Task Out_of_order_answers_before_InitResponse(WorkerScript script, string message)
    {
        Host.Use(script);
        var session = Open();

        var error = await ExpectAsync<WorkerTransportException>(() => session.InitAsync(Init()));

        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.ProtocolViolation));
        Assert.That(error.Message, Does.Contain(message));
        await AssertTransportFailure(session, TransportFailureReason.ProtocolViolation);
    }

    // ---- A4, A15, A28, A29: worker-reported errors in the data phase ----

    [Test]
    public async Task A04_InitResponse_immediately_followed_by_ErrorResponse_fails_with_the_workers_message_and_Cancel_goes_out()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.WriteAsync(Responses.Error(Responses.User("right after init")));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();

        WorkerExecutionException? error = null;
        try
        {
            await session.InitAsync(Init()).DefaultTimeout();
            await ReadAllAsync(session.ProcessAsync(Items("a"))).DefaultTimeout();
        }
        catch (WorkerExecutionException e)
        {
            error = e;
        }

        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.Multiple(() =>
        {
            Assert.That(error?.Error.Message, Is.EqualTo("right after init"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(call.Received.Count(IsCancel), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A15_data_phase_ErrorResponse_fails_reading_with_the_structured_error_sends_Cancel_and_closes_Cancelled()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsData);
            await stream.WriteAsync(Responses.Error(Responses.User("boom in UDF", "UdfError", "Traceback (most recent call last)")));
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();

        var error = await ExpectAsync<WorkerExecutionException>(() => ReadAllAsync(session.ProcessAsync(ItemsThenBlock(["a"]))));
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.Error.Message, Is.EqualTo("boom in UDF"));
            Assert.That(error.ErrorClass, Is.EqualTo("UdfError"));
            Assert.That(error.Traceback, Is.EqualTo("Traceback (most recent call last)"));
            Assert.That(error.Error.Origin, Is.EqualTo(SessionErrorOrigin.Data));
            Assert.That(error.Message, Does.Contain("boom in UDF").And.Contain("phase Processing"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Error?.ErrorClass, Is.EqualTo("UdfError"));
            Assert.That(outcome.WorkerReusable, Is.True);
        });
    }

    [Test]
    public async Task A28_FinishResponse_carrying_a_finish_callback_error_fails_reading_with_it_structured()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsFinish);
            await stream.WriteAsync(Responses.Finish(Responses.User("finish went wrong", "FinishCallbackError")));
        });
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();

        var error = await ExpectAsync<WorkerExecutionException>(() => ReadAllAsync(session.ProcessAsync(Items("a"))));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.ErrorClass, Is.EqualTo("FinishCallbackError"));
            Assert.That(error.Error.Origin, Is.EqualTo(SessionErrorOrigin.Finish));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Failed));
            Assert.That(outcome.WorkerReusable, Is.True);
        });
    }

    [Test]
    public async Task A29_data_phase_error_is_surfaced_and_the_cancel_callback_error_is_attached_not_lost()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsData);
            await stream.WriteAsync(Responses.Error(Responses.User("data-phase boom")));
            await Scripts.AnswerCancelAsync(stream, Responses.Worker("cancel callback failed"));
        });
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();

        var error = await ExpectAsync<WorkerExecutionException>(() => ReadAllAsync(session.ProcessAsync(ItemsThenBlock(["a"]))));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.Error.Message, Is.EqualTo("data-phase boom"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Error?.Message, Is.EqualTo("data-phase boom"));
            Assert.That(outcome.CallbackError?.Message, Is.EqualTo("cancel callback failed"));
            Assert.That(outcome.CallbackError?.Origin, Is.EqualTo(SessionErrorOrigin.Cancel));
            Assert.That(((WorkerExecutionException)outcome.Exception!).CallbackError?.Message, Is.EqualTo("cancel callback failed"));
        });
    }

    // ---- A5: a FinishResponse that would truncate input ----

    [Test]
    public async Task A05_FinishResponse_after_the_first_of_two_DataRequests_fails_reading_and_never_truncates_silently()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsData);
            await stream.WriteAsync(Responses.Finish());
            await stream.IgnoreEverythingAsync();
        });
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();

        // The second item is only produced if the session keeps asking; it stops instead.
        var error = await ExpectAsync<WorkerTransportException>(() => ReadAllAsync(session.ProcessAsync(ItemsThenBlock(["a"]))));
        var call = await Host.NextCallAsync();

        Assert.That(error.Message, Does.Contain("stream failed").Or.Contain("before the engine sent Finish"));
        Assert.That(error.Message, Does.Contain("silently dropped"));
        Assert.That(call.Received.Count(IsData), Is.EqualTo(1));
        Assert.That(call.Received.Any(IsFinish), Is.False);
        await AssertTransportFailure(session, TransportFailureReason.ProtocolViolation);
    }

    // ---- A10, A16: the normal path ----

    [Test]
    public async Task A16_multi_batch_echo_keeps_order_finishes_and_keeps_the_worker_reusable_and_a_second_close_changes_nothing()
    {
        Host.Use(Scripts.Echo);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();

        var output = await session.ProcessAsync(Items("a", "b", "c")).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();
        var again = await session.CloseAsync().DefaultTimeout();
        var call = await Host.NextCallAsync();

        Assert.Multiple(() =>
        {
            Assert.That(output.Select(S), Is.EqualTo(new[] { "a", "b", "c" }));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            Assert.That(outcome.WorkerReusable, Is.True);
            Assert.That(outcome.Metrics?.BatchesIn, Is.EqualTo(3UL));
            Assert.That(outcome.Diagnostics.BatchesSent, Is.EqualTo(3));
            Assert.That(outcome.Diagnostics.BatchesReceived, Is.EqualTo(3));
            Assert.That(again, Is.SameAs(outcome));
            Assert.That(call.Wire, Is.EqualTo("Init, Data, Data, Data, Finish"));
        });
        await call.HalfClosed.DefaultTimeout();
    }

    [Test]
    public async Task A10_after_natural_exhaustion_asking_for_more_returns_no_more_immediately_any_number_of_times()
    {
        Host.Use(Scripts.Echo);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();
        var enumerator = session.ProcessAsync(Items("a")).GetAsyncEnumerator();

        Assert.That(await enumerator.MoveNextAsync().DefaultTimeout(), Is.True);
        Assert.That(await enumerator.MoveNextAsync().DefaultTimeout(), Is.False);
        for (var i = 0; i < 5; i++)
        {
            var next = enumerator.MoveNextAsync();
            Assert.That(next.IsCompleted, Is.True, "asking again after the end must not wait");
            Assert.That(await next, Is.False);
        }

        await enumerator.DisposeAsync();
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    // ---- A11, A12: close from another task while reading ----

    private static WorkerScript EchoIgnoringFinish => async stream =>
    {
        await Scripts.ReadInitAsync(stream);
        await stream.WriteAsync(Responses.InitOk());
        await Scripts.EchoLoopAsync(stream, answerFinish: false);
    };

    [Test]
    public async Task A11_close_from_another_task_while_reading_ends_the_reader_promptly_with_a_cancellation_error()
    {
        Host.Use(EchoIgnoringFinish);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();
        var enumerator = session.ProcessAsync(Items("a")).GetAsyncEnumerator();
        Assert.That(await enumerator.MoveNextAsync().DefaultTimeout(), Is.True);
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Any(IsFinish)).DefaultTimeout();

        var pending = enumerator.MoveNextAsync().AsTask();
        var close = Task.Run(() => session.CloseAsync());

        Assert.That(async () => await pending.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        Assert.That((await close.DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(call.Wire, Is.EqualTo("Init, Data, Finish, Cancel"));
    }

    [Test]
    public async Task A12_close_with_huge_timeouts_returns_promptly_on_the_CancelResponse()
    {
        Host.Use(EchoIgnoringFinish);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();
        var reading = ReadAllAsync(session.ProcessAsync(Items("a", "b")));
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Any(IsFinish)).DefaultTimeout();

        var outcome = await Task.Run(() => session.CloseAsync()).DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.WorkerReusable, Is.True);
        Assert.That(async () => await reading.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
    }

    // ---- A18, A27, A30: a worker that ignores the end of the session ----

    [Test]
    public async Task A18_worker_ignoring_Cancel_with_a_short_terminal_timeout_closes_as_timed_out_transport_failure_and_unusable()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.IgnoreEverythingAsync();
        });
        var session = Open(TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short));
        await session.InitAsync(Init()).DefaultTimeout();

        var outcome = await session.CloseAsync().DefaultTimeout();
        var call = await Host.NextCallAsync();

        Assert.Multiple(() =>
        {
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
            Assert.That(((WorkerTransportException)outcome.Exception!).Reason, Is.EqualTo(TransportFailureReason.Timeout));
            Assert.That(outcome.Exception!.Message, Does.Contain("did not acknowledge Cancel"));
            Assert.That(outcome.WorkerReusable, Is.False);
            Assert.That(call.Received.Count(IsCancel), Is.EqualTo(1));
        });
        await call.Aborted.DefaultTimeout();
    }

    [Test]
    public async Task A27_close_with_a_short_terminal_timeout_while_init_is_blocked_settles_a_transport_failure_that_wakes_init()
    {
        Host.Use(stream => stream.IgnoreEverythingAsync());
        var session = Open(TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short));
        var init = session.InitAsync(Init());
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Any(IsInit)).DefaultTimeout();

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        var error = await ExpectAsync<WorkerTransportException>(() => init);
        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.Timeout));
    }

    [Test]
    public async Task A30_worker_echoing_then_ignoring_Finish_and_Cancel_fails_reading_with_a_timeout_within_seconds()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await Scripts.EchoLoopAsync(stream, answerFinish: false, answerCancel: false);
            await stream.IgnoreEverythingAsync();
        });
        var session = Open(new SessionOptions { InitResponseTimeout = TaskTimeouts.Huge, IdleTimeout = Short, CancelAcknowledgementTimeout = Short });
        await session.InitAsync(Init()).DefaultTimeout();

        var received = new List<string>();
        var error = await ExpectAsync<WorkerTransportException>(async () =>
        {
            await foreach (var item in session.ProcessAsync(Items("a", "b")))
            {
                received.Add(S(item));
            }
        });

        Assert.That(received, Is.EqualTo(new[] { "a", "b" }));
        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.Timeout));
        Assert.That(error.Message, Does.Contain("timed out"));
        await AssertTransportFailure(session, TransportFailureReason.Timeout);
    }

    // ---- A21-A24: the engine's own side fails ----

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> ThrowingInput()
    {
        yield return B("a");
        await Task.Yield();
        throw new InvalidDataException("the engine's source broke");
    }

    [Test]
    public async Task A21_the_input_source_throwing_surfaces_that_exception_and_the_worker_receives_Cancel()
    {
        Host.Use(Scripts.Echo);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();

        var error = await ExpectAsync<InvalidDataException>(() => ReadAllAsync(session.ProcessAsync(ThrowingInput())));
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Is.EqualTo("the engine's source broke"));
        Assert.That(call.Received.Any(IsFinish), Is.False);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.Exception, Is.SameAs(error));
        Assert.That(outcome.CancelReason, Does.Contain("the engine's source broke"));
    }

    [Test]
    public async Task A22_an_invalid_input_item_gives_a_clear_argument_error_and_the_wire_shows_exactly_Init_then_Cancel()
    {
        Host.Use(Scripts.Echo);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();

        var error = await ExpectAsync<ArgumentException>(() => ReadAllAsync(session.ProcessAsync(AsyncEnumerable(ReadOnlyMemory<byte>.Empty))));
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.Contain("Input item 0 is empty"));
        Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task A23_a_throwing_finish_callback_surfaces_its_exception_and_the_worker_receives_Cancel()
    {
        Host.Use(Scripts.Echo);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();
        var options = new ProcessOptions { BuildFinish = _ => throw new InvalidOperationException("finish callback broke") };

        var error = await ExpectAsync<InvalidOperationException>(() => ReadAllAsync(session.ProcessAsync(Items("a"), options)));
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Is.EqualTo("finish callback broke"));
        Assert.That(call.Received.Any(IsFinish), Is.False);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task A24_a_finish_callback_returning_nothing_gives_a_clear_error_Init_then_Cancel_and_Cancelled()
    {
        Host.Use(Scripts.Echo);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();
        var options = new ProcessOptions { BuildFinish = _ => ValueTask.FromResult<Finish?>(null) };

        var error = await ExpectAsync<InvalidOperationException>(() => ReadAllAsync(session.ProcessAsync(AsyncEnumerable<ReadOnlyMemory<byte>>(), options)));
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.Contain("returned null"));
        Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task A24_a_finish_callback_returning_a_Finish_sends_it()
    {
        Host.Use(Scripts.Echo);
        var session = Open();
        await session.InitAsync(Init()).DefaultTimeout();
        var called = 0;
        var options = new ProcessOptions { BuildFinish = _ => { called++; return ValueTask.FromResult<Finish?>(new Finish()); } };

        var output = await session.ProcessAsync(Items("a"), options).ToListAsync();

        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(called, Is.EqualTo(1));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    private static async IAsyncEnumerable<T> AsyncEnumerable<T>(params T[] items)
    {
        foreach (var item in items)
        {
            await Task.Yield();
            yield return item;
        }
    }

    // ---- A25, A26: races and failures at the start of the stream ----

    [Test]
    public async Task A25_close_racing_the_opening_of_the_stream_never_sends_Cancel_before_Init_and_closes_Cancelled([Range(1, 20)] int round)
    {
        Host.Use(async stream =>
        {
            try
            {
                await stream.ReadUntilAsync(IsCancel);
                await stream.WriteAsync(Responses.Cancel());
            }
            catch (StreamAbortedException)
            {
            }
        });
        var session = Open();
        using var start = new Barrier(2);

        var init = Task.Run(() =>
        {
            start.SignalAndWait();
            return session.InitAsync(Init());
        });
        var close = Task.Run(() =>
        {
            start.SignalAndWait();
            return session.CloseAsync();
        });

        var outcome = await close.DefaultTimeout();
        Assert.That(async () => await init.DefaultTimeout(), Throws.Exception);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        if (Host.Registry.TryGetCall(out var call))
        {
            Assert.That(call!.Wire, Is.EqualTo("Init, Cancel").Or.EqualTo(string.Empty).Or.EqualTo("Init"));
            var wire = call.Received.ToList();
            if (wire.Exists(IsCancel))
            {
                Assert.That(wire.FindIndex(IsInit), Is.InRange(0, wire.FindIndex(IsCancel) - 1), "Cancel only after Init");
            }
        }
    }

    [Test]
    public async Task A25_a_cancel_requested_after_the_stream_opened_but_before_Init_went_out_sends_nothing_and_closes_Cancelled()
    {
        Host.Use(stream => stream.IgnoreEverythingAsync());
        WorkerSession? session = null;
        using var client = Host.CreateClient(wrap: inner => new CallProbe(inner) { OnCall = () => session!.Cancel("before Init") });
        session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        Assert.That(async () => await session.InitAsync(Init()).DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.WorkerReusable, Is.True);
        if (Host.Registry.TryGetCall(out var call))
        {
            await call!.Aborted.DefaultTimeout();
            Assert.That(call.Wire, Is.Empty, "no Cancel before Init; nothing at all");
        }
    }

    [Test]
    public async Task A26_the_first_send_failing_fails_init_with_that_cause_aborts_the_call_exactly_once_and_never_half_closes_after()
    {
        Host.Use(stream => stream.IgnoreEverythingAsync());
        CallProbe? probe = null;
        using var client = Host.CreateClient(wrap: inner => probe = new CallProbe(inner) { FailWrite = 1 });
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        var error = await ExpectAsync<WorkerTransportException>(() => session.InitAsync(Init()));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.InnerException, Is.SameAs(probe!.InjectedFailure));
            Assert.That(error.Reason, Is.AnyOf(TransportFailureReason.SendFailed, TransportFailureReason.Rpc));
            Assert.That(error.Message, Does.Contain("injected: connection lost"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
            Assert.That(probe.Disposes, Is.EqualTo(1));
            Assert.That(probe.CompletesAfterDispose, Is.Zero);
            Assert.That(probe.Completes, Is.Zero);
        });
    }

    // ---- A31-A33: the caller cancels ----

    [Test]
    public async Task A31_caller_cancelling_during_init_with_an_answering_worker_throws_OperationCanceled_and_closes_Cancelled_reusable()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await Scripts.AnswerCancelAsync(stream);
        });
        var session = Open();
        using var cts = new CancellationTokenSource();
        var init = session.InitAsync(Init(), cts.Token);
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Any(IsInit)).DefaultTimeout();

        await cts.CancelAsync();

        Assert.That(async () => await init.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.WorkerReusable, Is.True);
        Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
    }

    [Test]
    public async Task A32_caller_cancelling_during_init_with_a_worker_ignoring_Cancel_returns_promptly_and_closes_Interrupted_unusable()
    {
        Host.Use(stream => stream.IgnoreEverythingAsync());
        var session = Open(TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short));
        using var cts = new CancellationTokenSource();
        var init = session.InitAsync(Init(), cts.Token);
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Any(IsInit)).DefaultTimeout();

        await cts.CancelAsync();

        Assert.That(async () => await init.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Interrupted));
        Assert.That(outcome.WorkerReusable, Is.False);
        await call.Aborted.DefaultTimeout();
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> BlockedInput(TaskCompletionSource started, [EnumeratorCancellation] CancellationToken ct = default)
    {
        started.TrySetResult();
        await Task.Delay(Timeout.Infinite, ct);
        yield return B("never");
    }

    [TestCase(true, SessionOutcomeKind.Cancelled)]
    [TestCase(false, SessionOutcomeKind.Interrupted)]
    public async Task A33_caller_cancelling_while_the_input_source_is_blocked_unwinds_promptly_and_sends_Cancel(bool workerAnswers, SessionOutcomeKind expected)
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            if (workerAnswers)
            {
                await Scripts.AnswerCancelAsync(stream);
            }
            else
            {
                await stream.IgnoreEverythingAsync();
            }
        });
        var session = Open(TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = workerAnswers ? TaskTimeouts.Huge : Short));
        await session.InitAsync(Init()).DefaultTimeout();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();

        var reading = ReadAllAsync(session.ProcessAsync(BlockedInput(started), cts.Token));
        await started.Task.DefaultTimeout();
        await cts.CancelAsync();

        Assert.That(async () => await reading.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(expected));
        Assert.That(outcome.WorkerReusable, Is.EqualTo(workerAnswers));
    }
}
