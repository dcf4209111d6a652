using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Engine.Client.Arrow;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Engine.Samples;
using Google.Protobuf;
using static Engine.Client.Tests.Arrow.ArrowTestData;
using static Engine.Client.Tests.Infrastructure.ScriptedStream;

namespace Engine.Client.Tests.Arrow;

/// <summary>
/// The Arrow session API against scripted workers: what goes on the wire, what comes back, and
/// every bad input or bad output, checked on the wire. Runs in-process and over a Unix domain socket.
/// </summary>
[TestFixture(HostKind.InProcess)]
[TestFixture(HostKind.UnixSocket)]
public sealed class ArrowSessionTests(HostKind kind) : ScriptedWorkerFixture(kind)
{

    private static WorkerSession Open(WorkerClient client) => client.OpenSession(TaskTimeouts.HugeTimeouts(), lease: null);

    private static SessionInit Init(Schema? input = null, Schema? output = null) =>
        SessionInit.ForArrow(Encoding.UTF8.GetBytes("udf"), "test", input, output);

    /// <summary>Answers the first DataRequest with <paramref name="reply"/>, then only Cancel.</summary>
    private static WorkerScript ReplyOnceThenAwaitCancel(Func<ByteString, ByteString> reply) => async stream =>
    {
        await Scripts.ReadInitAsync(stream);
        await stream.WriteAsync(Responses.InitOk());
        var data = await stream.ReadUntilAsync(IsData);
        await stream.WriteAsync(Responses.Data(reply(data!.Data.Data)));
        await Scripts.AnswerCancelAsync(stream);
        await Scripts.AwaitHalfCloseAsync(stream);
    };

    /// <summary>Echoes the first DataRequest, answers the second with <paramref name="reply"/>, then only Cancel.</summary>
    private static WorkerScript EchoOnceThenReply(ByteString reply) => async stream =>
    {
        await Scripts.ReadInitAsync(stream);
        await stream.WriteAsync(Responses.InitOk());
        var first = await stream.ReadUntilAsync(IsData);
        await stream.WriteAsync(Responses.Data(first!.Data.Data));
        await stream.ReadUntilAsync(IsData);
        await stream.WriteAsync(Responses.Data(reply));
        await Scripts.AnswerCancelAsync(stream);
        await Scripts.AwaitHalfCloseAsync(stream);
    };

    private static async Task<T> FailsWith<T>(Task task)
        where T : Exception
    {
        try
        {
            await task.DefaultTimeout();
        }
        catch (T expected)
        {
            return expected;
        }

        Assert.Fail($"Expected {typeof(T).Name}.");
        return null!;
    }

    // ---- The happy path ----

    [Test]
    public async Task Batches_round_trip_as_one_IPC_stream_per_message_and_Init_declares_both_schemas()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init(SampleData.Schema, SampleData.Schema)).DefaultTimeout();

        var output = await session.ProcessAsync(SampleBatches(10_000, 1_000)).ToListAsync();
        var call = await Host.NextCallAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        var init = call.Received[0].Control.Init;
        var messages = call.Received.Where(IsData).Select(r => r.Data.Data.ToByteArray()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            Assert.That(ArrowSchemas.FindDifference(SampleData.Schema, ArrowSchemas.Deserialize(init.InputSchema.Memory)), Is.Null);
            Assert.That(ArrowSchemas.FindDifference(SampleData.Schema, ArrowSchemas.Deserialize(init.OutputSchema.Memory)), Is.Null);
            Assert.That(call.Wire, Is.EqualTo("Init, " + string.Join(", ", Enumerable.Repeat("Data", 10)) + ", Finish"));
            Assert.That(output, Has.Count.EqualTo(10));
            AssertRows(Rows(output), SampleRows(0, 10_000));
        });
        foreach (var message in messages)
        {
            using var reader = new ArrowStreamReader(new MemoryStream(message));
            Assert.That(reader.ReadNextRecordBatch()?.Length, Is.EqualTo(1_000));
            Assert.That(reader.ReadNextRecordBatch(), Is.Null, "one batch per message");
        }
    }

    [Test]
    public async Task Output_batches_are_views_of_the_received_message_not_copies()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init()).DefaultTimeout();

        var output = await session.ProcessAsync(SampleBatches(2_000, 1_000)).ToListAsync();
        await session.CloseAsync().DefaultTimeout();

        foreach (var batch in output)
        {
            var arrays = batch.Arrays.SelectMany(a => a.Data.Buffers).Where(b => !b.IsEmpty)
                .Select(b => MemoryMarshal.TryGetArray(b.Memory, out var segment) ? segment.Array : null)
                .Distinct()
                .ToList();
            Assert.That(arrays, Has.Count.EqualTo(1), "every buffer of a batch lies in one array: the message's");
            var (_, again) = ArrowFrameReader.Read(arrays[0]);
            AssertRows(Rows(again.Single()), Rows(batch), "that array is the DataResponse's IPC stream");
        }
    }

    [Test]
    public async Task A_batch_over_the_message_limit_goes_out_split_by_rows_in_messages_that_fit()
    {
        const int Limit = 64 * 1024;
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = Limit } });
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(o => o.PayloadChunkSize = 16 * 1024));
        await session.InitAsync(Init(SampleData.Schema)).DefaultTimeout();

        var output = await session.ProcessAsync(SampleBatches(20_000, 20_000)).ToListAsync();
        var call = await Host.NextCallAsync();
        await session.CloseAsync().DefaultTimeout();

        var sizes = call.Received.Where(IsData).Select(r => r.CalculateSize()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(sizes, Has.Count.GreaterThan(10));
            Assert.That(sizes, Is.All.LessThanOrEqualTo(Limit));
            Assert.That(output, Has.Count.EqualTo(sizes.Count));
            AssertRows(Rows(output), SampleRows(0, 20_000));
        });
    }

    // ---- Bad input: rejected before anything of the batch is sent ----

    [Test]
    public async Task A_null_batch_is_rejected_before_it_is_sent_and_the_session_is_cancelled()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init(SampleData.Schema)).DefaultTimeout();
        using var good = SampleData.CreateBatch(0, 10);

        var error = await FailsWith<ArgumentException>(session.ProcessAsync(Batches(good, null)).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.StartWith($"Session {session.Id}: input batch 1 is null. Nothing of it was sent"));
        Assert.That(call.Wire, Is.EqualTo("Init, Data, Cancel"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.Exception, Is.SameAs(error));
    }

    [Test]
    public async Task A_disposed_batch_is_rejected_before_it_is_sent()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init(SampleData.Schema)).DefaultTimeout();
        using var good = SampleData.CreateBatch(0, 10);
        var disposed = SampleData.CreateBatch(10, 10);
        disposed.Dispose();

        var error = await FailsWith<ArgumentException>(session.ProcessAsync(Batches(good, disposed)).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.Contain("input batch 1 was disposed before the session sent it"));
        Assert.That(call.Wire, Is.EqualTo("Init, Data, Cancel"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task A_batch_whose_schema_differs_from_the_declared_one_is_rejected_naming_the_field()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init(SampleWithWideX())).DefaultTimeout();
        using var batch = SampleData.CreateBatch(0, 10);

        var error = await FailsWith<ArgumentException>(session.ProcessAsync(Batches(batch)).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Is.EqualTo(
            $"Session {session.Id}: input batch 0 does not match the session's input schema (declared in Init): field 1 'x' is int32 where the schema has int64. Nothing of it was sent; the session was cancelled."));
        Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task Without_a_declared_schema_every_batch_must_match_the_first()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init()).DefaultTimeout();
        using var first = Ints("a", 5);
        using var second = Ints("b", 5);

        var error = await FailsWith<ArgumentException>(session.ProcessAsync(Batches(first, second)).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.Contain("input batch 1 does not match the session's input schema (taken from input batch 0; Init declared none): field 0 is named 'b' where the schema has 'a'"));
        Assert.That(call.Wire, Is.EqualTo("Init, Data, Cancel"));
    }

    [Test]
    public async Task A_single_row_over_the_message_limit_is_rejected_before_anything_of_it_is_sent()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = 64 * 1024 } });
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(o => o.PayloadChunkSize = 16 * 1024));
        await session.InitAsync(Init()).DefaultTimeout();
        using var batch = new RecordBatch.Builder().Append("s", true, c => c.String(b => b.Append(new string('x', 100_000)))).Build();

        var error = await FailsWith<ArgumentException>(session.ProcessAsync(Batches(batch)).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.StartWith("Row 0 of input batch 0 encodes to "));
        Assert.That(call.Wire, Is.EqualTo("Init, Cancel"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    // ---- Bad output: the session fails, Cancel goes out, nothing hangs ----

    [Test]
    public async Task Output_that_is_not_Arrow_fails_the_session_naming_it_and_the_batch_and_cancels()
    {
        Host.Use(ReplyOnceThenAwaitCancel(_ => ByteString.CopyFromUtf8("this is not an Arrow IPC stream")));
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init(SampleData.Schema)).DefaultTimeout();

        var error = await FailsWith<WorkerOutputException>(session.ProcessAsync(SampleBatches(3_000, 1_000)).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.StartWith($"Session {session.Id}: output batch 0 (DataResponse 0) is not a valid Arrow IPC stream ("));
            Assert.That(error.BatchIndex, Is.EqualTo(0));
            Assert.That(error.Session.SessionId, Is.EqualTo(session.Id));
            Assert.That(error.Worker, Is.EqualTo(session.Worker));
            Assert.That(call.Wire, Does.EndWith("Cancel"));
            Assert.That(call.Received[^1].Control.Cancel.Reason, Does.StartWith("the engine rejected output batch 0: is not a valid Arrow IPC stream"));
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            Assert.That(outcome.Exception, Is.SameAs(error));
            Assert.That(outcome.WorkerReusable, Is.True);
        });
    }

    [Test]
    public async Task Output_whose_schema_differs_from_the_declared_one_fails_the_session_and_cancels()
    {
        using var wrong = Ints("x", 3);
        var wrongBytes = ByteString.CopyFrom(Ipc(wrong));
        Host.Use(ReplyOnceThenAwaitCancel(_ => wrongBytes));
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init(SampleData.Schema, SampleData.Schema)).DefaultTimeout();

        var error = await FailsWith<WorkerOutputException>(session.ProcessAsync(SampleBatches(3_000, 1_000)).ToListAsync());
        var call = await Host.NextCallAsync();
        await call.CancelReceived.DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.StartWith(
            $"Session {session.Id}: output batch 0 (DataResponse 0) does not match the session's output schema (declared in Init): field 0 is named 'x' where the schema has 'id'; the engine rejected it and ended the session."));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.Exception, Is.SameAs(error));
    }

    [Test]
    public async Task Without_a_declared_output_schema_every_output_batch_must_match_the_first()
    {
        using var wrong = Ints("x", 3);
        Host.Use(EchoOnceThenReply(ByteString.CopyFrom(Ipc(wrong))));
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(Init()).DefaultTimeout();
        var received = new List<RecordBatch>();

        async Task ReadAll()
        {
            await foreach (var batch in session.ProcessAsync(SampleBatches(3_000, 1_000)))
            {
                received.Add(batch);
            }
        }

        var error = await FailsWith<WorkerOutputException>(ReadAll());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error.BatchIndex, Is.EqualTo(1));
        Assert.That(error.Message, Does.Contain("output batch 1 (DataResponse 1) does not match the session's output schema (taken from output batch 0; Init declared none): field 0 is named 'x' where the schema has 'id'"));
        AssertRows(Rows(received), SampleRows(0, 1_000), "the batch before stays valid");
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    // ---- Init ----

    [Test]
    public async Task Unset_InitResponse_data_and_FinishResponse_data_surface_as_null_not_as_empty()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsFinish);
            await stream.WriteAsync(Responses.Finish());
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        using var client = Host.CreateClient();
        var session = Open(client);

        var init = await session.InitAsync(Init(SampleData.Schema)).DefaultTimeout();
        await session.ProcessAsync(Batches()).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(init.Data, Is.Null, "an InitResponse without data");
        Assert.That(outcome.InitData, Is.Null);
        Assert.That(outcome.FinishData, Is.Null, "a FinishResponse without data");
    }

    [Test]
    public async Task A_schema_declared_in_the_Init_properties_is_the_input_schema()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = Open(client);
        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("udf"), "test") { InputSchema = SampleWithWideX() }).DefaultTimeout();
        using var batch = SampleData.CreateBatch(0, 10);

        var error = await FailsWith<ArgumentException>(session.ProcessAsync(Batches(batch)).ToListAsync());
        await session.CloseAsync().DefaultTimeout();

        Assert.That(error.Message, Does.Contain("field 1 'x' is int32 where the schema has int64"));
    }
}
