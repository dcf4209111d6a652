using System.Runtime.CompilerServices;
using System.Text;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using static Engine.Client.Tests.Infrastructure.Inputs;

namespace Engine.Client.Tests.Sessions;

/// <summary>
/// The session against a real reference worker process: docs/conformance.md section A reproduced through
/// the worker's <c>fault</c> payload format, over a Unix domain socket and over TCP. Protocol
/// timeouts are minutes unless a scenario needs a short one; every await is bounded.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class ReferenceWorkerSessionTests(bool tcp)
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(500);

    private ReferenceWorkerProcess _worker = null!;
    private WorkerClient _client = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = tcp });
        _client = _worker.CreateClient();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _client.Dispose();
        await _worker.DisposeAsync();
    }

    private WorkerSession Open(Action<SessionOptions>? adjust = null) => _client.OpenSession(TaskTimeouts.HugeTimeouts(adjust), lease: null);

    private static SessionInit Fault(string fault) => new(Encoding.UTF8.GetBytes(fault), "fault");

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items(int count, int size = 32)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            var item = new byte[size];
            item[0] = (byte)i;
            yield return item;
        }
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> OneThenWait([EnumeratorCancellation] CancellationToken ct = default)
    {
        yield return new byte[8];
        await Task.Delay(Timeout.Infinite, ct);
    }

    private static async Task ReadAll(IAsyncEnumerable<ReadOnlyMemory<byte>> output)
    {
        await foreach (var _ in output)
        {
        }
    }

    [Test]
    public async Task Echo_with_a_chunked_payload_round_trips_in_order_and_finishes_with_metrics()
    {
        var payload = new byte[6 * 1024 * 1024];
        Random.Shared.NextBytes(payload);
        var session = Open(o => o.PayloadChunkSize = 512 * 1024);

        var init = await session.InitAsync(new SessionInit(payload, "echo") { Parameters = "p"u8.ToArray(), Chunking = PayloadChunking.Always }).DefaultTimeout();
        var output = await session.ProcessAsync(Items(50)).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(init.Data?.ToArray(), Is.EqualTo("p"u8.ToArray()));
            Assert.That(output.Select(o => o.Span[0]), Is.EqualTo(Enumerable.Range(0, 50).Select(i => (byte)i)));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            Assert.That(outcome.Metrics?.BatchesIn, Is.EqualTo(50UL));
            Assert.That(outcome.Metrics?.BatchesOut, Is.EqualTo(50UL));
            Assert.That(outcome.Metrics?.BytesIn, Is.EqualTo(50UL * 32));
            Assert.That(Encoding.UTF8.GetString(outcome.FinishData!.Value.Span), Is.EqualTo("echoed 50 batches"));
        });
    }

    [Test]
    public async Task A01_error_instead_of_init()
    {
        var session = Open();
        var error = await Expect<WorkerExecutionException>(() => session.InitAsync(Fault("error-instead-of-init")));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Kind, Is.EqualTo(SessionErrorKind.Worker));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.WorkerReusable, Is.True);
    }

    [Test]
    public async Task A02_init_error_keeps_class_message_and_traceback()
    {
        var session = Open();
        var error = await Expect<WorkerExecutionException>(() => session.InitAsync(Fault("init-error")));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.ErrorClass, Is.EqualTo("InitError"));
        Assert.That(error.Error.Message, Is.EqualTo("fault: init failed"));
        Assert.That(error.Traceback, Does.Contain("Traceback"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [TestCase("data-before-init", "DataResponse arrived before the InitResponse")]
    [TestCase("finish-before-init", "FinishResponse arrived before the InitResponse")]
    [TestCase("cancel-before-init", "CancelResponse arrived before the InitResponse")]
    [TestCase("end-before-init", "without a terminator")]
    [TestCase("empty-envelope", "no branch of its oneof set")]
    public async Task A03_A06_to_A09_out_of_order_answers_fail_init_fast_as_protocol_violations(string fault, string message)
    {
        var session = Open();
        var error = await Expect<WorkerTransportException>(() => session.InitAsync(Fault(fault)));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.ProtocolViolation));
        Assert.That(error.Message, Does.Contain(message));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task A04_error_right_after_init()
    {
        var session = Open();
        WorkerExecutionException? error = null;
        try
        {
            await session.InitAsync(Fault("error-after-init")).DefaultTimeout();
            await ReadAll(session.ProcessAsync(Items(1))).DefaultTimeout();
        }
        catch (WorkerExecutionException e)
        {
            error = e;
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(error?.Error.Message, Is.EqualTo("fault: error after init"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task A05_an_early_FinishResponse_never_truncates_input_silently()
    {
        var session = Open();
        await session.InitAsync(Fault("finish-early")).DefaultTimeout();

        var error = await Expect<WorkerTransportException>(() => ReadAll(session.ProcessAsync(OneThenWait())));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.Contain("before the engine sent Finish"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Diagnostics.BatchesSent, Is.EqualTo(1));
    }

    [Test]
    public async Task A15_a_user_error_in_the_data_phase()
    {
        var session = Open();
        await session.InitAsync(Fault("user-error")).DefaultTimeout();

        var error = await Expect<WorkerExecutionException>(() => ReadAll(session.ProcessAsync(OneThenWait())));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Error.Message, Is.EqualTo("boom in UDF"));
        Assert.That(error.ErrorClass, Is.EqualTo("UdfError"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.WorkerReusable, Is.True);
    }

    [Test]
    public async Task A18_a_worker_ignoring_Cancel_times_out_as_a_transport_failure()
    {
        var session = Open(o => o.CancelAcknowledgementTimeout = Short);
        await session.InitAsync(Fault("ignore-cancel")).DefaultTimeout();

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(((WorkerTransportException)outcome.Exception!).Reason, Is.EqualTo(TransportFailureReason.Timeout));
        Assert.That(outcome.WorkerReusable, Is.False);
    }

    [Test]
    public async Task A27_close_wakes_an_init_blocked_on_a_silent_worker()
    {
        var session = Open(o => o.CancelAcknowledgementTimeout = Short);
        var init = session.InitAsync(Fault("silent"));

        var outcome = await session.CloseAsync().DefaultTimeout();

        // Close may win before Init goes out (nothing sent: Cancelled); otherwise the silent worker
        // never acknowledges (TransportFailed). Either way Init wakes and fails at once.
        if (outcome.Kind == SessionOutcomeKind.Cancelled)
        {
            await Expect<OperationCanceledException>(() => init);
            Assert.That(outcome.Diagnostics.CancelSent, Is.False);
        }
        else
        {
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
            await Expect<WorkerTransportException>(() => init);
        }
    }

    [Test]
    public async Task A28_a_finish_callback_error()
    {
        var session = Open();
        await session.InitAsync(Fault("finish-error")).DefaultTimeout();

        var error = await Expect<WorkerExecutionException>(() => ReadAll(session.ProcessAsync(Items(2))));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.ErrorClass, Is.EqualTo("FinishCallbackError"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Failed));
    }

    [Test]
    public async Task A29_a_cancel_callback_error_is_attached_to_the_data_phase_error()
    {
        var session = Open();
        await session.InitAsync(Fault("cancel-callback-error")).DefaultTimeout();

        await Expect<WorkerExecutionException>(() => ReadAll(session.ProcessAsync(OneThenWait())));
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Error?.Message, Is.EqualTo("data-phase boom"));
        Assert.That(outcome.CallbackError?.Message, Is.EqualTo("fault: cancel callback failed"));
    }

    [Test]
    public async Task A30_a_worker_ignoring_Finish_and_Cancel_fails_reading_with_a_timeout()
    {
        var session = Open(o =>
        {
            o.IdleTimeout = Short;
            o.CancelAcknowledgementTimeout = Short;
        });
        await session.InitAsync(Fault("ignore-finish-and-cancel")).DefaultTimeout();

        var error = await Expect<WorkerTransportException>(() => ReadAll(session.ProcessAsync(Items(2))));

        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.Timeout));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task A33_the_caller_cancelling_a_blocked_input_is_acknowledged()
    {
        var session = Open();
        await session.InitAsync(new SessionInit("x"u8.ToArray(), "echo")).DefaultTimeout();
        using var cts = new CancellationTokenSource();
        var reading = ReadAll(session.ProcessAsync(OneThenWait(), cts.Token));

        await cts.CancelAsync();

        Assert.That(async () => await reading.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.Metrics, Is.Not.Null, "the CancelResponse carries partial totals");
    }

    [Test]
    public async Task A_gRPC_status_error_from_the_worker_is_a_transport_failure()
    {
        var session = Open();
        await session.InitAsync(Fault("status-error")).DefaultTimeout();

        var error = await Expect<WorkerTransportException>(() => ReadAll(session.ProcessAsync(OneThenWait())));

        Assert.That(error.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Internal));
        Assert.That(error.Message, Does.Contain("fault: status error"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task A_5_MiB_output_batch_round_trips_above_the_gRPC_default()
    {
        var session = Open();
        await session.InitAsync(Fault("big-output:5242880")).DefaultTimeout();

        var output = await session.ProcessAsync(Items(1)).ToListAsync();

        Assert.That(output.Single().Length, Is.EqualTo(5 * 1024 * 1024));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task Concurrent_sessions_on_one_worker_are_independent()
    {
        var sessions = Enumerable.Range(0, 8).Select(_ => Open()).ToArray();
        var outcomes = await Task.WhenAll(sessions.Select(async (s, i) =>
        {
            await s.InitAsync(i % 2 == 0 ? new SessionInit("e"u8.ToArray(), "echo") : Fault("user-error"));
            try
            {
                await ReadAll(s.ProcessAsync(Items(20)));
            }
            catch (WorkerExecutionException)
            {
            }

            return await s.CloseAsync();
        })).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(outcomes.Select(o => o.Kind), Is.EqualTo(Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? SessionOutcomeKind.Finished : SessionOutcomeKind.Cancelled)));
        var heartbeat = await _client.HeartbeatAsync().DefaultTimeout();
        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(_worker.Id));
    }
}

/// <summary>A worker process that crashes mid-session: the session fails as a transport failure.</summary>
public sealed class ReferenceWorkerCrashTests
{
    [Test]
    public async Task A_worker_process_exiting_mid_session_fails_the_session_promptly()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit("exit:3"u8.ToArray(), "fault")).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => session.ProcessAsync(Items()).ToListAsync());

        Assert.That(error!.Reason, Is.AnyOf(TransportFailureReason.Rpc, TransportFailureReason.SendFailed));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(await worker.WaitForExitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(3));
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items()
    {
        yield return new byte[8];
        await Task.Yield();
        yield return new byte[8];
    }
}
