using System.Runtime.CompilerServices;
using System.Text;
using Engine.Client.Tests.Infrastructure;
using Grpc.Core;
using static Engine.Client.Tests.Infrastructure.Inputs;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// The session scenarios against a worker on gRPC core (Python grpcio, default server settings:
/// 4 MiB inbound messages), over a Unix domain socket and over TCP. Protocol timeouts are minutes;
/// every await is bounded.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class PythonWorkerSessionTests(bool tcp)
{
    private PythonWorkerProcess _worker = null!;
    private WorkerClient _client = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _worker = await PythonWorkerProcess.StartAsync(tcp);
        _client = _worker.CreateClient();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _client.Dispose();
        await _worker.DisposeAsync();
    }

    private WorkerSession Open(Action<SessionOptions>? adjust = null) => _client.OpenSession(TaskTimeouts.HugeTimeouts(adjust), lease: null);

    private static SessionInit Udf(string format, string payload = "") => new(Encoding.UTF8.GetBytes(payload), format);

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> OneThenWait([EnumeratorCancellation] CancellationToken ct = default)
    {
        yield return "first"u8.ToArray();
        await Task.Delay(Timeout.Infinite, ct);
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    [Test]
    public async Task Echo_keeps_the_order_of_several_batches_finishes_with_metrics_and_the_worker_stays_reusable()
    {
        for (var round = 0; round < 2; round++)
        {
            var session = Open();
            await session.InitAsync(Udf("echo")).DefaultTimeout();
            var output = await session.ProcessAsync(Items("a", "b", "c")).ToListAsync();
            var outcome = await session.CloseAsync().DefaultTimeout();

            Assert.Multiple(() =>
            {
                Assert.That(output.Select(Text), Is.EqualTo(new[] { "a", "b", "c" }));
                Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), _worker.Describe());
                Assert.That(Text(outcome.FinishData!.Value), Is.EqualTo("echoed 3 batches"));
                Assert.That(outcome.Metrics?.BatchesIn, Is.EqualTo(3UL));
                Assert.That(outcome.Metrics?.BytesOut, Is.EqualTo(3UL));
                Assert.That(outcome.WorkerReusable, Is.True);
            });
        }
    }

    [Test]
    public async Task A_sink_consumes_every_batch_and_produces_nothing()
    {
        var session = Open();
        await session.InitAsync(Udf("sink")).DefaultTimeout();

        var output = await session.ProcessAsync(Items("a", "b", "c", "d")).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(output, Is.Empty);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(Text(outcome.FinishData!.Value), Is.EqualTo("consumed 4 batches"));
        Assert.That(outcome.Metrics?.BatchesOut, Is.Zero);
    }

    [Test]
    public async Task A_Python_exception_arrives_as_a_structured_user_error_and_the_session_ends_cancelled()
    {
        var session = Open();
        await session.InitAsync(Udf("raise", "boom in UDF")).DefaultTimeout();

        var error = await Expect<WorkerExecutionException>(() => session.ProcessAsync(OneThenWait()).ToListAsync());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.Kind, Is.EqualTo(SessionErrorKind.User));
            Assert.That(error.Error.Message, Is.EqualTo("boom in UDF"));
            Assert.That(error.ErrorClass, Is.EqualTo("ValueError"));
            Assert.That(error.Traceback, Does.StartWith("Traceback (most recent call last):").And.Contain("ValueError: boom in UDF"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Error?.Message, Is.EqualTo("boom in UDF"));
            Assert.That(outcome.Diagnostics.CancelSent, Is.True);
            Assert.That(outcome.WorkerReusable, Is.True);
        });
    }

    [Test]
    public async Task Cancel_in_the_middle_of_a_session_is_acknowledged_with_partial_metrics()
    {
        var session = Open();
        await session.InitAsync(Udf("echo")).DefaultTimeout();
        await using var output = session.ProcessAsync(OneThenWait()).GetAsyncEnumerator();
        Assert.That(await output.MoveNextAsync().AsTask().DefaultTimeout(), Is.True);

        session.Cancel("the test cancels");

        Assert.That(async () => await output.MoveNextAsync().AsTask().DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.Metrics?.BatchesIn, Is.EqualTo(1UL), "the CancelResponse carries partial totals");
    }

    [Test]
    public async Task Finish_then_Cancel_is_answered_by_CancelResponse_while_the_FinishResponse_is_not_sent()
    {
        var session = Open();
        await session.InitAsync(Udf("hold-finish", "300")).DefaultTimeout();
        var reading = session.ProcessAsync(Items("a", "b")).ToListAsync();

        // The worker counts the streams holding their FinishResponse: then Finish is on its side.
        await _worker.WaitForMetricAsync("holding_finish", n => n >= 1, TaskTimeouts.Default);
        session.Cancel("cancel after finish");

        Assert.That(async () => await reading, Throws.InstanceOf<OperationCanceledException>());
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.Diagnostics.FinishSent, Is.True);
        Assert.That(outcome.Diagnostics.CancelSent, Is.True);
        Assert.That(outcome.Metrics?.BatchesOut, Is.EqualTo(2UL));
    }

    [Test]
    public async Task A_payload_larger_than_the_workers_4_MiB_limit_is_chunked_and_verified_by_the_worker()
    {
        var payload = new byte[6 * 1024 * 1024];
        Random.Shared.NextBytes(payload);
        var session = Open();

        await session.InitAsync(new SessionInit(payload, "echo")).DefaultTimeout();
        var output = await session.ProcessAsync(Items("x")).ToListAsync();

        Assert.That(output.Select(Text), Is.EqualTo(new[] { "x" }));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task A_small_payload_in_forced_chunks_is_assembled_in_order()
    {
        var session = Open(o => o.PayloadChunkSize = 3);

        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("payload in seven chunks"), "raise") { Chunking = PayloadChunking.Always }).DefaultTimeout();
        var error = await Expect<WorkerExecutionException>(() => session.ProcessAsync(Items("x")).ToListAsync());

        // The raise format raises its payload as the message: the worker assembled it intact.
        Assert.That(error.Error.Message, Is.EqualTo("payload in seven chunks"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task The_largest_batch_and_payload_chunk_the_SDK_sends_fit_gRPC_cores_4_MiB_limit()
    {
        // The SDK's framing allowances against the real limit: the largest data item it lets
        // through, and payload chunks of the largest size it accepts, both reach the worker.
        const int Limit = WorkerConnectionOptions.DefaultMaxSendMessageSize;
        var largestItem = Limit - 16;
        var session = Open(o => o.PayloadChunkSize = Limit - Payloads.PayloadChunker.ChunkFramingAllowance);
        var payload = new byte[Limit + 1024];
        Random.Shared.NextBytes(payload);
        await session.InitAsync(new SessionInit(payload, "echo")).DefaultTimeout();

        var output = await session.ProcessAsync(Big(largestItem)).ToListAsync();

        Assert.That(output.Single().Length, Is.EqualTo(largestItem));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished), _worker.Describe());

        var refused = Open();
        await refused.InitAsync(Udf("echo")).DefaultTimeout();
        var error = Assert.ThrowsAsync<ArgumentException>(() => refused.ProcessAsync(Big(largestItem + 1)).ToListAsync());
        Assert.That(error!.Message, Does.Contain("over the worker's message limit"));
        await refused.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task A_batch_over_the_workers_limit_fails_as_a_transport_failure_naming_the_limit()
    {
        // The engine claims a 16 MiB limit the worker does not have: gRPC core refuses the message.
        using var client = _worker.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = 16 * 1024 * 1024 } });
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(Udf("echo")).DefaultTimeout();

        var error = await Expect<WorkerTransportException>(() => session.ProcessAsync(Big(6 * 1024 * 1024)).ToListAsync());

        Assert.That(error.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted), error.Message);
        Assert.That(error.Message, Does.Contain("larger than max"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task A_gRPC_status_at_Init_in_a_trailers_only_answer_is_a_transport_failure_with_its_detail()
    {
        var session = Open();

        var error = await Expect<WorkerTransportException>(() => session.InitAsync(Udf("abort", "init")));

        Assert.That(error.StatusCode, Is.EqualTo(StatusCode.Internal));
        Assert.That(error.Message, Does.Contain("abort: at init"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task A_gRPC_status_in_the_data_phase_is_a_transport_failure_with_its_detail()
    {
        var session = Open();
        await session.InitAsync(Udf("abort")).DefaultTimeout();

        var error = await Expect<WorkerTransportException>(() => session.ProcessAsync(OneThenWait()).ToListAsync());

        Assert.That(error.StatusCode, Is.EqualTo(StatusCode.Internal));
        Assert.That(error.Message, Does.Contain("abort: on the first batch"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task Concurrent_sessions_are_independent_and_the_heartbeat_answers_meanwhile()
    {
        var sessions = Enumerable.Range(0, 8).Select(_ => Open()).ToArray();
        var outcomes = await Task.WhenAll(sessions.Select(async (s, i) =>
        {
            await s.InitAsync(i % 2 == 0 ? Udf("echo") : Udf("raise", "odd session"));
            try
            {
                await s.ProcessAsync(Items("a", "b", "c")).ToListAsync();
            }
            catch (WorkerExecutionException)
            {
            }

            return await s.CloseAsync();
        })).WaitAsync(TimeSpan.FromSeconds(60));
        var heartbeat = await _client.HeartbeatAsync().DefaultTimeout();

        Assert.That(outcomes.Select(o => o.Kind), Is.EqualTo(Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? SessionOutcomeKind.Finished : SessionOutcomeKind.Cancelled)));
        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(_worker.Id));
        Assert.That(heartbeat.Metrics["grpc_version"], Does.StartWith("1."));
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Big(int size)
    {
        await Task.Yield();
        yield return new byte[size];
    }
}
