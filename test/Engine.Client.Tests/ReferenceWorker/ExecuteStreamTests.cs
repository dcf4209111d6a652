using Engine.Client.Conformance;
using Engine.Client.Protocol;
using Google.Protobuf;
using static Engine.Client.Tests.ReferenceWorker.WireScript;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>The reference worker's stream rules beyond section C: init details, metrics, input edge cases, full duplex.</summary>
[TestFixture]
public sealed class ExecuteStreamTests
{
    private ReferenceWorkerProcess _worker = null!;

    [OneTimeSetUp]
    public async Task StartWorker() =>
        _worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { ExtraArguments = ["--terminator-grace-ms", "300"] });

    [OneTimeTearDown]
    public async Task StopWorker() => await _worker.DisposeAsync();

    [Test]
    public async Task InitResponse_data_echoes_the_parameters_and_is_unset_without_them()
    {
        using var withParameters = Open(_worker);
        var init = Echo();
        init.Parameters = ByteString.CopyFromUtf8("opaque engine parameters");
        var answered = await StartAsync(withParameters, init);

        using var without = Open(_worker);
        var plain = await StartAsync(without, Echo());

        Assert.Multiple(() =>
        {
            Assert.That(answered.HasData, Is.True);
            Assert.That(answered.Data.ToStringUtf8(), Is.EqualTo("opaque engine parameters"));
            Assert.That(plain.HasData, Is.False);
        });
    }

    [Test]
    public async Task FinishResponse_carries_the_echo_result_and_the_stream_totals()
    {
        using var stream = Open(_worker);
        await StartAsync(stream, Echo());
        foreach (var text in new[] { "a", "bb", "ccc" })
        {
            await stream.SendAsync(Data(text), "DataRequest");
            await stream.ExpectDataAsync("an echo");
        }

        await stream.SendFinishAsync();
        var finish = await stream.ExpectFinishAsync();
        await stream.ExpectCleanEndAsync();

        var metrics = finish.Metrics;
        Assert.Multiple(() =>
        {
            Assert.That(finish.Data.ToStringUtf8(), Is.EqualTo("echoed 3 batches"));
            Assert.That(metrics.BatchesIn, Is.EqualTo(3));
            Assert.That(metrics.BatchesOut, Is.EqualTo(3));
            Assert.That(metrics.BytesIn, Is.EqualTo(6));
            Assert.That(metrics.BytesOut, Is.EqualTo(6));
            Assert.That(metrics.HasInitWallNanos && metrics.HasProcessingWallNanos, Is.True);
            Assert.That(metrics.ProcessingWallNanos, Is.GreaterThan(0));
            Assert.That(metrics.HasReceiveWallNanos && metrics.HasSendWallNanos && metrics.HasWorkWallNanos, Is.True);
            Assert.That(metrics.HasRowsIn || metrics.HasRowsOut, Is.False, "opaque bytes have no known row count");
        });
    }

    // docs/protocol.md rule 6: Finish, then Cancel while the UDF still works on the input. A
    // FinishResponse would claim every input was processed; CancelResponse is the only true answer.
    [Test]
    public async Task Finish_then_Cancel_while_the_UDF_still_works_is_answered_with_CancelResponse()
    {
        using var stream = Open(_worker);
        await StartAsync(stream, Fault("slow:600000"));
        foreach (var text in new[] { "a", "b", "c" })
        {
            await stream.SendAsync(Data(text), "DataRequest");
        }

        await stream.SendFinishAsync();
        await stream.SendCancelAsync();
        var cancel = await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(cancel.Metrics.BatchesOut, Is.Zero, "no batch was processed to its end");
    }

    [Test]
    public async Task CancelResponse_carries_the_partial_totals()
    {
        using var stream = Open(_worker);
        await StartAsync(stream, Echo());
        await stream.SendAsync(Data("abcd"), "DataRequest");
        await stream.ExpectDataAsync("an echo");

        await stream.SendCancelAsync();
        var cancel = await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.Multiple(() =>
        {
            Assert.That(cancel.Metrics.BatchesIn, Is.EqualTo(1));
            Assert.That(cancel.Metrics.BytesOut, Is.EqualTo(4));
            Assert.That(cancel.Error, Is.Null);
        });
    }

    [Test]
    public async Task Data_before_Init_is_a_protocol_error_then_Cancel_is_answered()
    {
        using var stream = Open(_worker);
        await stream.SendAsync(Data("too early"), "DataRequest");

        var error = await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.Protocol);
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(error.Protocol.Message, Does.Contain("got DataRequest"));
    }

    [TestCase("empty-chunk", "PayloadChunk 2 is empty")]
    [TestCase("data-during-chunking", "expected PayloadChunk or Cancel while the payload is chunked, got DataRequest")]
    [TestCase("oversized", "beyond its payload_size of 4")]
    public async Task A_broken_chunk_sequence_fails_init_with_a_ProtocolError(string broken, string message)
    {
        using var stream = Open(_worker);
        var init = Echo();
        init.IsChunkingPayload = true;
        init.Udf.PayloadSize = 4;
        await stream.SendInitAsync(init);
        await stream.SendChunkAsync(Bytes("ab"), last: false);
        switch (broken)
        {
            case "empty-chunk":
                await stream.SendChunkAsync(ReadOnlyMemory<byte>.Empty, last: true);
                break;
            case "data-during-chunking":
                await stream.SendAsync(Data("x"), "DataRequest");
                break;
            default:
                await stream.SendChunkAsync(Bytes("cde"), last: true);
                break;
        }

        var error = await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.Protocol);
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(error.Protocol.Message, Does.Contain(message));
    }

    [Test]
    public async Task The_payload_is_the_inline_bytes_followed_by_the_chunks_in_order()
    {
        // The fault UDF reads its payload as text, so a wrong assembly shows as an unknown fault.
        using var stream = Open(_worker);
        var init = Fault("big-");
        init.IsChunkingPayload = true;
        var payload = Bytes("big-output:7");
        init.Udf.PayloadSize = payload.Length;
        init.Udf.PayloadCrc32 = System.IO.Hashing.Crc32.HashToUInt32(payload);
        await stream.SendInitAsync(init);
        await stream.SendChunkAsync(Bytes("out"), last: false);
        await stream.SendChunkAsync(Bytes("put:"), last: false);
        await stream.SendChunkAsync(Bytes("7"), last: true);
        await stream.ExpectInitAsync();

        await stream.SendAsync(Data("x"), "DataRequest");
        var output = await stream.ExpectDataAsync("7 bytes");
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();
        await stream.ExpectCleanEndAsync();

        Assert.That(output.Length, Is.EqualTo(7));
    }

    [Test]
    public async Task A_half_close_without_Finish_or_Cancel_counts_as_Cancel()
    {
        using var stream = Open(_worker);
        await StartAsync(stream, Echo());

        await stream.HalfCloseAsync();
        await stream.ExpectCancelAsync();

        Assert.That(await stream.ReadAsync("the end of the call"), Is.Null);
    }

    [Test]
    public async Task After_the_terminator_the_call_ends_even_if_the_engine_never_half_closes()
    {
        using var stream = Open(_worker);
        await StartAsync(stream, Echo());
        await stream.SendFinishAsync();
        await stream.ExpectFinishAsync();

        // No half-close: the worker ends the call after its grace (300 ms here).
        Assert.That(await stream.ReadAsync("the end of the call"), Is.Null);
    }

    [Test]
    public async Task Many_batches_sent_before_any_output_is_read_do_not_deadlock()
    {
        // 16 MiB in, far beyond the HTTP/2 windows: the worker must keep reading while its
        // output waits for the engine.
        const int Batches = 1024;
        var batch = new byte[16 * 1024];
        Random.Shared.NextBytes(batch);
        using var stream = Open(_worker);
        await StartAsync(stream, Echo());

        for (var i = 0; i < Batches; i++)
        {
            await stream.SendDataAsync(batch);
        }

        await stream.SendFinishAsync();
        for (var i = 0; i < Batches; i++)
        {
            var output = await stream.ExpectDataAsync("an echo");
            Assert.That(output.Span.SequenceEqual(batch), Is.True);
        }

        var finish = await stream.ExpectFinishAsync();
        await stream.ExpectCleanEndAsync();
        Assert.That(finish.Metrics.BatchesOut, Is.EqualTo(Batches));
    }

    [Test]
    public async Task A_5_MiB_batch_round_trips_both_ways()
    {
        const int FiveMiB = 5 * 1024 * 1024;
        using var generated = Open(_worker);
        await StartAsync(generated, Fault("big-output:" + FiveMiB));
        await generated.SendAsync(Data("go"), "DataRequest");
        var big = await generated.ExpectDataAsync("of 5 MiB");
        await generated.SendFinishAsync();
        await generated.ExpectFinishAsync();
        await generated.ExpectCleanEndAsync();

        var input = new byte[FiveMiB];
        Random.Shared.NextBytes(input);
        using var echoed = Open(_worker);
        await StartAsync(echoed, Echo());
        await echoed.SendDataAsync(input);
        var output = await echoed.ExpectDataAsync("of 5 MiB");
        await echoed.SendFinishAsync();
        await echoed.ExpectFinishAsync();
        await echoed.ExpectCleanEndAsync();

        Assert.Multiple(() =>
        {
            Assert.That(big.Length, Is.EqualTo(FiveMiB));
            Assert.That(big[FiveMiB - 1], Is.EqualTo((byte)((FiveMiB - 1) % 251)));
            Assert.That(output.Span.SequenceEqual(input), Is.True);
        });
    }

    [Test]
    public async Task Broken_streams_in_every_state_leave_the_worker_serving()
    {
        // Rule 10: a broken stream is a Cancel; the worker cleans up and carries on.
        var scripts = new Func<ConformanceStream, Task>[]
        {
            s => s.SendAsync(Data("before init"), "DataRequest"),
            async s =>
            {
                var init = Echo();
                init.IsChunkingPayload = true;
                await s.SendInitAsync(init);
                await s.SendChunkAsync(Bytes("x"), last: false);
            },
            async s =>
            {
                await StartAsync(s, Echo());
                await s.SendAsync(Data("a"), "DataRequest");
            },
            async s =>
            {
                await StartAsync(s, Fault("slow:600000"));
                await s.SendAsync(Data("a"), "DataRequest");
            },
            async s =>
            {
                await StartAsync(s, Fault("user-error"));
                await s.SendAsync(Data("a"), "DataRequest");
                await s.ExpectErrorAsync(ExecutionError.KindOneofCase.User);
            },
        };

        foreach (var script in scripts)
        {
            using var stream = Open(_worker);
            await script(stream);

            // Disposing the stream cancels the call: the worker sees the stream break.
        }

        using var conformance = new WorkerConformance(_worker.Channel.CreateCallInvoker());
        var result = await conformance.RunCheckAsync("C1").WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(result.Passed, Is.True, result.ToString());
        Assert.That(_worker.Stderr, Does.Not.Contain("fail:").And.Not.Contain("crit:").And.Not.Contain("Unhandled"));
    }
}
