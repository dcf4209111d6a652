using System.IO.Hashing;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using Engine.Client.Arrow;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Google.Protobuf;
using static Engine.Client.Tests.Infrastructure.Inputs;
using static Engine.Client.Tests.Infrastructure.ScriptedStream;

namespace Engine.Client.Tests.Sessions;

/// <summary>
/// The engine's obligations of docs/protocol.md beyond the section A scenarios: Init fields, chunking,
/// message limits, termination cases of rule 6, rule 9's half-close, ownership of input memory
/// and bounded buffers. Runs in-process, over a Unix domain socket and over TCP loopback.
/// </summary>
[TestFixture(HostKind.InProcess)]
[TestFixture(HostKind.UnixSocket)]
[TestFixture(HostKind.Tcp)]
public sealed class SessionProtocolTests(HostKind kind) : ScriptedWorkerFixture(kind)
{

    private static ReadOnlyMemory<byte> B(string text) => Encoding.UTF8.GetBytes(text);

    private WorkerSession Open(WorkerClient client, Action<SessionOptions>? adjust = null) => client.OpenSession(TaskTimeouts.HugeTimeouts(adjust), lease: null);

    // ---- Init: every field, explicit presence ----

    private static readonly Schema InSchema = SchemaOf("in");
    private static readonly Schema OutSchema = SchemaOf("out");

    private static Schema SchemaOf(string field) =>
        new Schema.Builder().Field(f => f.Name(field).DataType(Int64Type.Default)).Build();

    [Test]
    public async Task Init_carries_every_field_of_the_protocol()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        var init = new SessionInit(B("payload"), "builtin")
        {
            Name = "my_udf",
            EvalType = "SQL_BATCHED_UDF",
            InputSchema = InSchema,
            OutputSchema = OutSchema,
            Timezone = "Europe/Amsterdam",
            Parameters = B("params"),
        };
        init.TaskContext["partition_id"] = "7";
        init.SessionConf["spark.sql.x"] = "y";

        await session.InitAsync(init).DefaultTimeout();
        var sent = (await Host.NextCallAsync()).Received[0].Control.Init;
        await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(sent.HasProtocolVersion && sent.ProtocolVersion == 1, Is.True);
            Assert.That(sent.DataFormat, Is.EqualTo(UDFWorkerDataFormat.Arrow));
            Assert.That(sent.Udf.Payload.ToStringUtf8(), Is.EqualTo("payload"));
            Assert.That(sent.Udf.Format, Is.EqualTo("builtin"));
            Assert.That(sent.Udf.Name, Is.EqualTo("my_udf"));
            Assert.That(sent.Udf.EvalType, Is.EqualTo("SQL_BATCHED_UDF"));
            Assert.That(sent.InputSchema.ToByteArray(), Is.EqualTo(ArrowSchemas.Serialize(InSchema)));
            Assert.That(sent.OutputSchema.ToByteArray(), Is.EqualTo(ArrowSchemas.Serialize(OutSchema)));
            Assert.That(ArrowSchemas.FindDifference(InSchema, ArrowSchemas.Deserialize(sent.InputSchema.Memory)), Is.Null);
            Assert.That(sent.TaskContext["partition_id"], Is.EqualTo("7"));
            Assert.That(sent.SessionConf["spark.sql.x"], Is.EqualTo("y"));
            Assert.That(sent.Timezone, Is.EqualTo("Europe/Amsterdam"));
            Assert.That(sent.Parameters.ToStringUtf8(), Is.EqualTo("params"));
            Assert.That(sent.HasIsChunkingPayload, Is.False, "not chunking: the flag stays unset");
        });
    }

    [Test]
    public async Task Init_leaves_unset_optional_fields_unset()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);

        await session.InitAsync(new SessionInit(B("p"), "echo") { ProtocolVersion = null }).DefaultTimeout();
        var sent = (await Host.NextCallAsync()).Received[0].Control.Init;
        await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(sent.HasProtocolVersion, Is.False);
            Assert.That(sent.HasInputSchema, Is.False);
            Assert.That(sent.HasOutputSchema, Is.False);
            Assert.That(sent.HasTimezone, Is.False);
            Assert.That(sent.HasParameters, Is.False);
            Assert.That(sent.Udf.HasName, Is.False);
            Assert.That(sent.Udf.HasEvalType, Is.False);
            Assert.That(sent.Udf.HasPayloadSize, Is.False);
            Assert.That(sent.Udf.HasPayloadCrc32, Is.False);
        });
    }

    [TestCase("", "is empty")]
    public void Init_rejects_a_bad_init_before_anything_is_sent(string format, string message)
    {
        using var client = Host.CreateClient();
        var session = Open(client);

        var error = Assert.ThrowsAsync<ArgumentException>(() => session.InitAsync(new SessionInit(B("p"), format)));

        Assert.That(error!.Message, Does.Contain(message));
        Assert.That(Host.Registry.TryGetCall(out _), Is.False);
        Assert.That(session.Phase, Is.EqualTo(SessionPhase.Created));
    }

    [Test]
    public void Init_rejects_an_unspecified_data_format_before_anything_is_sent()
    {
        using var client = Host.CreateClient();
        var session = Open(client);

        var error = Assert.ThrowsAsync<ArgumentException>(() => session.InitAsync(new SessionInit(B("p"), "f") { DataFormat = UDFWorkerDataFormat.Unspecified }));

        Assert.That(error!.Message, Does.Contain("data format"));
        Assert.That(Host.Registry.TryGetCall(out _), Is.False);
    }

    [Test]
    public void Init_rejects_settings_that_cannot_fit_one_message_even_with_the_payload_chunked()
    {
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = 64 * 1024 } });
        var session = Open(client, o => o.PayloadChunkSize = 16 * 1024);

        var error = Assert.ThrowsAsync<ArgumentException>(() => session.InitAsync(new SessionInit(B("p"), "f") { InputSchema = SchemaOf(new string('x', 100_000)) }));

        Assert.That(error!.Message, Does.Contain("over the worker's message limit").And.Contain("MaxSendMessageSize"));
        Assert.That(Host.Registry.TryGetCall(out _), Is.False);
    }

    // ---- Chunking (rule 2) ----

    private static byte[] Payload(int size)
    {
        var payload = new byte[size];
        new Random(42).NextBytes(payload);
        return payload;
    }

    [Test]
    public async Task A_payload_that_would_not_fit_is_chunked_automatically_with_size_and_crc()
    {
        var payload = Payload(300 * 1024 + 17);
        byte[]? assembled = null;
        Host.Use(async stream =>
        {
            var (_, bytes) = await Scripts.ReadInitAsync(stream);
            assembled = bytes;
            await stream.WriteAsync(Responses.InitOk());
            await Scripts.EchoLoopAsync(stream);
        });
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = 128 * 1024 } });
        var session = Open(client, o => o.PayloadChunkSize = 100 * 1024);

        await session.InitAsync(new SessionInit(payload, "big")).DefaultTimeout();
        var call = await Host.NextCallAsync();
        await session.CloseAsync().DefaultTimeout();

        var init = call.Received[0].Control.Init;
        var chunks = call.Received.Where(IsChunk).Select(r => r.Control.Payload).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(init.IsChunkingPayload, Is.True);
            Assert.That(init.Udf.Payload.IsEmpty, Is.True);
            Assert.That(init.Udf.PayloadSize, Is.EqualTo(payload.Length));
            Assert.That(init.Udf.PayloadCrc32, Is.EqualTo(Crc32.HashToUInt32(payload)));
            Assert.That(chunks.Select(c => c.Data.Length), Is.EqualTo(new[] { 102400, 102400, 102400, 17 }));
            Assert.That(chunks.Select(c => c.HasLast), Is.EqualTo(new[] { false, false, false, true }), "only the final chunk sets last");
            Assert.That(chunks[^1].Last, Is.True);
            Assert.That(assembled, Is.EqualTo(payload));
            Assert.That(call.Wire, Does.StartWith("Init, Chunk, Chunk, Chunk, Chunk, Cancel"));
        });
    }

    [Test]
    public async Task A_payload_that_fits_goes_inline_unless_chunking_is_forced()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();

        var inline = Open(client);
        await inline.InitAsync(new SessionInit(B("small"), "f")).DefaultTimeout();
        var inlineCall = await Host.NextCallAsync();
        await inline.CloseAsync().DefaultTimeout();

        var forced = Open(client);
        await forced.InitAsync(new SessionInit(B("small"), "f") { Chunking = PayloadChunking.Always }).DefaultTimeout();
        var forcedCall = await Host.NextCallAsync();
        await forced.CloseAsync().DefaultTimeout();

        Assert.That(inlineCall.Received.Count(IsChunk), Is.Zero);
        Assert.That(inlineCall.Received[0].Control.Init.Udf.Payload.ToStringUtf8(), Is.EqualTo("small"));
        var init = forcedCall.Received[0].Control.Init;
        Assert.That(init.IsChunkingPayload && init.Udf.Payload.IsEmpty, Is.True);
        Assert.That(forcedCall.Received.Where(IsChunk).Select(r => (r.Control.Payload.Data.ToStringUtf8(), r.Control.Payload.Last)),
            Is.EqualTo(new[] { ("small", true) }), "one chunk, inline empty, last = true");
    }

    [Test]
    public async Task An_empty_payload_is_never_chunked()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);

        await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "f") { Chunking = PayloadChunking.Always }).DefaultTimeout();
        var call = await Host.NextCallAsync();
        await session.CloseAsync().DefaultTimeout();

        Assert.That(call.Received[0].Control.Init.HasIsChunkingPayload, Is.False);
        Assert.That(call.Received.Count(IsChunk), Is.Zero);
    }

    [Test]
    public async Task Cancel_may_interrupt_chunking_and_nothing_follows_it()
    {
        // 8192 chunks: far more than transport buffers hold while the worker pauses.
        var payload = Payload(8 * 1024 * 1024);
        var paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Host.Use(async stream =>
        {
            await stream.ReadUntilAsync(IsInit);
            for (var i = 0; i < 3; i++)
            {
                await stream.ReadAsync();
            }

            paused.TrySetResult();
            await resume.Task;
            await Scripts.AnswerCancelAsync(stream);
        });
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = 64 * 1024 } });
        var session = Open(client, o => o.PayloadChunkSize = 1024);
        using var cts = new CancellationTokenSource();

        var init = session.InitAsync(new SessionInit(payload, "f"), cts.Token);
        var call = await Host.NextCallAsync();
        await paused.Task.DefaultTimeout();
        await cts.CancelAsync();
        resume.TrySetResult();

        Assert.That(async () => await init.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
        var outcome = await session.CloseAsync().DefaultTimeout();
        var wire = call.Received;
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(wire.Count(IsChunk), Is.LessThan(8192), "chunking stopped");
        Assert.That(IsCancel(wire[^1]), Is.True, "Cancel is the last message");
        Assert.That(wire.Count(IsCancel), Is.EqualTo(1));
        Assert.That(wire.Any(r => IsChunk(r) && r.Control.Payload.Last), Is.False);
    }

    // ---- Message limits ----

    [Test]
    public async Task A_batch_over_the_workers_message_limit_is_rejected_before_sending_and_Cancel_goes_out()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = 64 * 1024 } });
        var session = Open(client, o => o.PayloadChunkSize = 16 * 1024);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();

        var error = Assert.ThrowsAsync<ArgumentException>(() => session.ProcessAsync(AsyncItems(new byte[64 * 1024])).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();

        Assert.That(error!.Message, Does.Contain("Input item 0 is 65536 bytes, over the worker's message limit of 65536 bytes"));
        Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task Batches_above_the_4_MiB_gRPC_default_round_trip_both_ways_when_the_limits_allow()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = 16 * 1024 * 1024 } });
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        var big = Payload(5 * 1024 * 1024);

        var output = await session.ProcessAsync(AsyncItems(big)).ToListAsync();

        Assert.That(output.Single().ToArray(), Is.EqualTo(big));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> AsyncItems(params byte[][] items)
    {
        foreach (var item in items)
        {
            await Task.Yield();
            yield return item;
        }
    }

    // ---- Termination (rule 6) ----

    [TestCase(true, SessionOutcomeKind.Finished)]
    [TestCase(false, SessionOutcomeKind.Cancelled)]
    public async Task Cancel_after_Finish_accepts_either_terminator(bool answerFinish, SessionOutcomeKind expected)
    {
        var finishSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsFinish);
            await stream.ReadUntilAsync(IsCancel);
            await stream.WriteAsync(answerFinish ? Responses.Finish() : Responses.Cancel());
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        var reading = session.ProcessAsync(Items("a")).ToListAsync();
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Any(IsFinish)).DefaultTimeout();

        session.Cancel("changed my mind");
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(expected));
        Assert.That(outcome.WorkerReusable, Is.True);
        Assert.That(call.Wire, Is.EqualTo("Init, Data, Finish, Cancel"));
        Assert.That(call.Received[^1].Control.Cancel.Reason, Is.EqualTo("changed my mind"));
        Assert.That(async () => await reading, Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task A_Cancel_goes_out_while_the_input_blocks_its_thread_between_batches()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        using var gate = new ManualResetEventSlim();
        var blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // On the thread pool: the input blocks whichever thread asks it for its second item.
        var reading = Task.Run(() => session.ProcessAsync(BlocksBeforeTheSecondItem(gate, blocked)).ToListAsync());
        var call = await Host.NextCallAsync();
        try
        {
            await blocked.Task.DefaultTimeout();
            session.Cancel("stopped while the input blocks");

            // The gate is still closed: Cancel does not wait for the input to return.
            await call.CancelReceived.DefaultTimeout();
            var outcome = await session.CloseAsync().DefaultTimeout();

            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(call.Wire, Is.EqualTo("Init, Data, Cancel"));
        }
        finally
        {
            gate.Set();
        }

        Assert.That(async () => await reading.DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
    }

    // Yields one item; asked for the next, blocks the asking thread (no await) until the gate opens.
    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> BlocksBeforeTheSecondItem(ManualResetEventSlim gate, TaskCompletionSource blocked)
    {
        await Task.CompletedTask;
        yield return B("a");
        blocked.TrySetResult();
        gate.Wait(TimeSpan.FromMinutes(1));
        yield return B("b");
    }

    [Test]
    public async Task A_worker_cancelling_on_its_own_after_an_ErrorResponse_ends_Cancelled_with_its_error()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsData);
            await stream.WriteAsync(Responses.Error(Responses.Worker("worker is shutting down")));
            await stream.WriteAsync(Responses.Cancel());
        });
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() => session.ProcessAsync(Items("a", "b", "c")).ToListAsync());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.Kind, Is.EqualTo(SessionErrorKind.Worker));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.Error?.Message, Is.EqualTo("worker is shutting down"));
    }

    [Test]
    public async Task A_second_InitResponse_is_a_protocol_violation()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.WriteAsync(Responses.InitOk());
            await stream.IgnoreEverythingAsync();
        });
        using var client = Host.CreateClient();
        var session = Open(client);
        try
        {
            await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        }
        catch (WorkerTransportException)
        {
        }

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Exception!.Message, Does.Contain("second InitResponse"));
    }

    [Test]
    public async Task A_second_ErrorResponse_is_a_protocol_violation()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.WriteAsync(Responses.Error(Responses.User("one")));
            await stream.WriteAsync(Responses.Error(Responses.User("two")));
            await stream.IgnoreEverythingAsync();
        });
        using var client = Host.CreateClient();
        var session = Open(client);
        try
        {
            await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        }
        catch (WorkerExecutionException)
        {
        }

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Exception!.Message, Does.Contain("second ErrorResponse"));
        Assert.That(outcome.Error?.Message, Is.EqualTo("one"), "the worker's first error is kept");
    }

    [Test]
    public async Task A_gRPC_status_error_is_a_transport_failure_never_an_application_error()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsData);
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Internal, "worker crashed"));
        });
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => session.ProcessAsync(Items("a", "b")).ToListAsync());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Internal));
        Assert.That(error.Message, Does.Contain("worker crashed"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Error, Is.Null);
    }

    // ---- Rule 9: half-close only once the outcome is known ----

    [Test]
    public async Task The_engine_half_closes_only_after_the_terminator_so_a_Cancel_can_still_follow_Finish()
    {
        var halfClosedBeforeTerminator = (bool?)null;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsFinish);
            await release.Task;
            halfClosedBeforeTerminator = stream.WasHalfClosed;
            await stream.WriteAsync(Responses.Finish());
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        var reading = session.ProcessAsync(Items("a")).ToListAsync();
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Any(IsFinish)).DefaultTimeout();

        release.TrySetResult();
        await reading;
        await call.HalfClosed.DefaultTimeout();

        Assert.That(halfClosedBeforeTerminator, Is.False);
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    // ---- Zero copy and bounded buffers ----

    [Test]
    public async Task The_session_asks_for_the_next_input_item_only_once_the_previous_one_was_written()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        var violations = new List<string>();

        async IAsyncEnumerable<ReadOnlyMemory<byte>> Checked()
        {
            var buffer = new byte[16];
            for (var i = 0; i < 50; i++)
            {
                // Reusing one buffer is safe only if the previous item already left.
                if (session.Diagnostics.BatchesSent != i)
                {
                    violations.Add($"asked for item {i} with {session.Diagnostics.BatchesSent} sent");
                }

                Encoding.ASCII.GetBytes($"item-{i:D4}", buffer);
                await Task.Yield();
                yield return buffer.AsMemory(0, 9);
            }
        }

        // Decoded as they arrive: in-process, an echo hands back the caller's own buffer.
        var output = new List<string>();
        await foreach (var item in session.ProcessAsync(Checked()))
        {
            output.Add(Encoding.ASCII.GetString(item.Span));
        }

        Assert.That(violations, Is.Empty);
        Assert.That(output, Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"item-{i:D4}")));
        await session.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task A_slow_consumer_bounds_what_the_session_reads_from_the_worker()
    {
        const int Produced = 64;
        var wrote = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            for (var i = 0; i < Produced; i++)
            {
                await stream.WriteAsync(Responses.Data(ByteString.CopyFrom(new byte[32 * 1024])));
            }

            wrote.TrySetResult();
            await stream.ReadUntilAsync(IsFinish);
            await stream.WriteAsync(Responses.Finish());
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        using var client = Host.CreateClient();
        var session = Open(client, o => o.OutputBufferCapacity = 2);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();
        var enumerator = session.ProcessAsync(Items()).GetAsyncEnumerator();
        if (Kind == HostKind.InProcess)
        {
            // No transport buffer in between: all the worker's writes are done, and the session
            // read only the two it buffers plus the one it waits to buffer.
            await wrote.Task.DefaultTimeout();
            Assert.That(session.Diagnostics.BatchesReceived, Is.EqualTo(2 + 1));
        }

        var count = 0;
        while (await enumerator.MoveNextAsync().DefaultTimeout())
        {
            // Handed out so far, plus at most two buffered and one the reader waits to buffer.
            count++;
            Assert.That(session.Diagnostics.BatchesReceived - count, Is.LessThanOrEqualTo(2 + 1));
        }

        Assert.That(count, Is.EqualTo(Produced));
        await enumerator.DisposeAsync();
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task Output_memory_stays_valid_after_enumeration_moves_on()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();

        var output = await session.ProcessAsync(Items("first", "second", "third")).ToListAsync();

        Assert.That(output.Select(o => Encoding.UTF8.GetString(o.Span)), Is.EqualTo(new[] { "first", "second", "third" }));
        await session.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task Breaking_out_of_the_output_early_cancels_the_session()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "f")).DefaultTimeout();

        await foreach (var _ in session.ProcessAsync(Items("a", "b", "c")))
        {
            break;
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        var call = await Host.NextCallAsync();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled).Or.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(outcome.WorkerReusable, Is.True);
        Assert.That(call.Received.Count(IsCancel), Is.LessThanOrEqualTo(1));
    }

    [Test]
    public async Task A_generator_with_no_input_and_a_sink_with_no_output_are_legal()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.WriteAsync(Responses.Data("generated-1"));
            await stream.WriteAsync(Responses.Data("generated-2"));
            await stream.ReadUntilAsync(IsFinish);
            await stream.WriteAsync(Responses.Finish(data: Responses.Bytes("done")));
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(B("p"), "gen")).DefaultTimeout();

        var output = await session.ProcessAsync(Items()).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(output.Select(o => Encoding.UTF8.GetString(o.Span)), Is.EqualTo(new[] { "generated-1", "generated-2" }));
        Assert.That(Encoding.UTF8.GetString(outcome.FinishData!.Value.Span), Is.EqualTo("done"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }
}
