using System.Runtime.CompilerServices;
using Apache.Arrow;
using Engine.Client.Arrow;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Tests.Conformance;

/// <summary>
/// A small scripted worker that follows the protocol (over a real Unix socket), except, when <see cref="Breaks"/> names a check, in exactly the
/// one way that check tests. It runs behind <see cref="DeviantWorkerHost"/>, whose calls read
/// their requests until the handler ends, so that rapid calls on one connection never overlap. Its formats: <c>echo</c>; <c>raise</c> (payload: the index of the batch
/// that raises UserError "boom in UDF" class "UdfError"; earlier batches are echoed); <c>big</c>
/// (payload: a byte count; one output of that size per input); <c>arrow</c> (each input batch
/// answered with a one-row Arrow batch <c>n: int64</c> holding the batch's index); <c>fail-init</c>
/// (init fails with a WorkerError). Any other format fails its init with a WorkerError too, and it
/// fails nothing for a convention of the reference worker's.
/// </summary>
public sealed class DeviantWorker
{
    /// <summary>The worker's profile, as a worker author would write it.</summary>
    public const string Profile = """
        {
          "name": "scripted worker",
          "echo": { "format": "echo", "payload": "a payload for the echo" },
          "initFailure": { "format": "fail-init", "payload": "any", "errorKind": "worker" },
          "userError": { "format": "raise", "payload": "1", "batch": 1, "message": "boom in UDF", "errorClass": "UdfError" },
          "largeOutput": { "format": "big", "payload": "5242880", "bytes": 5242880 },
          "keepalive": { "pingDelayMs": 1000 },
          "arrowOutput": {
            "format": "arrow",
            "payload": "any",
            "inputSchema": [ { "name": "n", "type": "int64" } ],
            "outputSchema": [ { "name": "n", "type": "int64" } ]
          }
        }
        """;

    /// <summary>Every deviation with the one check it must fail, and what that check's message must say.</summary>
    public static readonly IReadOnlyDictionary<string, string> Deviations = new Dictionary<string, string>
    {
        ["C1"] = "expected FinishResponse without error, got CancelResponse",
        ["C2"] = "expected output 1 to be input batch 1 unchanged",
        ["C3"] = "nothing arrived within",
        ["C4"] = "expected InitResponse without error, got InitResponse carrying WorkerError",
        ["C5"] = "expected FinishResponse without error, got DataResponse(0 bytes)",
        ["C6"] = "expected CancelResponse, got FinishResponse",
        ["C7"] = "expected nothing after the terminator and the call to end with status OK, got CancelResponse",
        ["C8"] = "got ErrorResponse carrying WorkerError 'boom in UDF'",
        ["C9"] = "expected ErrorResponse(ProtocolError), got InitResponse",
        ["C10"] = "expected InitResponse with error WorkerError, got ErrorResponse(WorkerError",
        ["C11"] = "expected InitResponse with error WorkerError, got ErrorResponse(WorkerError",
        ["C12"] = "expected InitResponse with error ProtocolError, got InitResponse",
        ["C13"] = "gRPC status Internal 'deviation: Cancel before Init fails the call'",
        ["C14"] = "expected CancelResponse or the end of the call, got FinishResponse",
        ["C15"] = "expected InitResponse without error, got InitResponse carrying ProtocolError",
        ["C16"] = "expected ErrorResponse(ProtocolError), got DataResponse",
        ["C17"] = "expected a WorkerResponse with the heartbeat branch, got the Shutdown branch",
        ["C18"] = "expected a WorkerResponse with the shutdown branch, got the Heartbeat branch",
        ["payload-size-mismatch"] = "expected InitResponse with error ProtocolError, got InitResponse",
        ["payload-crc-mismatch"] = "expected InitResponse with error ProtocolError, got InitResponse",
        ["data-format-unspecified"] = "expected InitResponse with error ProtocolError, got InitResponse",
        ["data-format-unsupported"] = "expected InitResponse with error ProtocolError, got InitResponse",
        ["manage-while-busy"] = "expected a WorkerResponse with the heartbeat branch, got the Shutdown branch",
        ["concurrent-streams"] = "expected output 0 to be input batch 0 unchanged",
        ["metrics"] = "expected metrics.batches_in = 3 (cumulative for the stream), got 1",
        ["large-output"] = "expected one DataResponse of 5242880 bytes, got 4194304 bytes",
        ["keepalive-pings"] = "keepalive pings every 1 s",
        ["arrow-output"] = "expected output 0 to be an Arrow IPC stream of the declared output_schema, but its schema differs from the declared output_schema: field 0 'n' is int32 where the schema has int64",
        ["abort-mid-batch"] = "gRPC status Unavailable 'deviation: the first call after an aborted stream is refused'",
        ["shutdown-cancels-sessions"] = "expected ErrorResponse(WorkerError), got ErrorResponse carrying UserError",
    };

    private static readonly UdfRequest ShutdownSignal = new();

    /// <summary>The data phase's marker for format <c>arrow</c> (in place of a byte count).</summary>
    private const int ArrowOutput = -2;

    private int _live;

    // The streams running now; an aborted one stays here until its handler ends.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<WireStream, byte> _streams = new();

    private int _abortedMidBatch;

    private int _idleHeartbeats;

    private readonly Lock _dataPhasesLock = new();

    private readonly List<Task> _dataPhases = [];

    private readonly TaskCompletionSource _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DeviantWorker(string? breaks) => Breaks = breaks;

    /// <summary>The check this worker fails on purpose, or <see langword="null"/> for a correct worker.</summary>
    public string? Breaks { get; }

    /// <summary>Starts it on a fresh Unix socket.</summary>
    public Task<DeviantWorkerHost> StartAsync() => DeviantWorkerHost.StartAsync(this);

    private bool Is(string id) => string.Equals(Breaks, id, StringComparison.Ordinal);

    private bool OtherStreamsRunning(WireStream stream) =>
        _streams.Keys.Any(other => !ReferenceEquals(other, stream) && !other.CallAborted.IsCancellationRequested);

    internal Task<WorkerResponse> ManageAsync(WorkerRequest request)
    {
        var heartbeat = new WorkerResponse { Heartbeat = new HeartbeatResponse() };
        var shutdown = new WorkerResponse { Shutdown = new ShutdownResponse { SessionsSettled = true } };
        switch (request.ManageCase)
        {
            case WorkerRequest.ManageOneofCase.Heartbeat:
                // Deviation C17: the first heartbeat with no stream live (C17's, which runs
                // before abort-mid-batch's) gets the wrong branch. Deviation manage-while-busy:
                // with four streams live or more, the wrong branch.
                return Task.FromResult((Is("C17") && Volatile.Read(ref _live) == 0 && Interlocked.Exchange(ref _idleHeartbeats, 1) == 0) || (Is("manage-while-busy") && Volatile.Read(ref _live) >= 4) ? shutdown : heartbeat);
            case WorkerRequest.ManageOneofCase.Shutdown when request.Shutdown.CancelSessions:
                _shutdown.TrySetResult();
                return Task.FromResult(shutdown);
            case WorkerRequest.ManageOneofCase.Shutdown:
                return Task.FromResult(Is("C18") ? heartbeat : shutdown);
            default:
                throw new RpcException(new Status(StatusCode.InvalidArgument, "no branch"));
        }
    }

    internal async Task RunAsync(WireStream stream)
    {
        Interlocked.Increment(ref _live);
        _streams.TryAdd(stream, 0);
        try
        {
            await RunToTerminatorAsync(stream);

            // The call ends when the engine half-closes (rule 9), so a Cancel that follows Finish
            // can still be sent.
            await stream.IgnoreEverythingAsync();
        }
        finally
        {
            _streams.TryRemove(stream, out _);
            Interlocked.Decrement(ref _live);
        }
    }

    private async Task RunToTerminatorAsync(WireStream stream)
    {
        var first = await stream.ReadAsync();
        if (first is null)
        {
            return;
        }

        if (ScriptedStream.IsCancel(first))
        {
            if (Is("C13"))
            {
                throw new RpcException(new Status(StatusCode.Internal, "deviation: Cancel before Init fails the call"));
            }

            await stream.WriteAsync(Responses.Cancel());
            return;
        }

        if (!ScriptedStream.IsInit(first))
        {
            await FailAsync(stream, Responses.Error(ExecutionErrors.Protocol("the first message must be Init")));
            return;
        }

        if (Is("abort-mid-batch"))
        {
            // Deviation abort-mid-batch: the first call after a stream aborted in its data phase is
            // refused. The earlier streams that had a batch are awaited so that their abort is seen
            // first (the check reads an echo before it aborts, so its stream is among them).
            Task[] earlier;
            lock (_dataPhasesLock)
            {
                earlier = [.. _dataPhases];
            }

            await Task.WhenAll(earlier).WaitAsync(TimeSpan.FromSeconds(60));
            if (Interlocked.Exchange(ref _abortedMidBatch, 0) == 1)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "deviation: the first call after an aborted stream is refused"));
            }
        }

        var init = first.Control.Init;
        var chunked = init.IsChunkingPayload;
        var payload = new List<byte>(init.Udf.Payload.ToByteArray());
        if (chunked)
        {
            var chunks = new List<ByteString>();
            while (true)
            {
                var request = await stream.ReadAsync();
                if (request is null)
                {
                    return;
                }

                if (ScriptedStream.IsCancel(request))
                {
                    await stream.WriteAsync(Is("C14") ? Responses.Finish() : Responses.Cancel());
                    return;
                }

                if (!ScriptedStream.IsChunk(request))
                {
                    await FailAsync(stream, Responses.InitError(ExecutionErrors.Protocol("expected a PayloadChunk")));
                    return;
                }

                chunks.Add(request.Control.Payload.Data);
                if (request.Control.Payload.Last)
                {
                    break;
                }
            }

            if (Is("C4") && chunks.Count == 1)
            {
                await FailAsync(stream, Responses.InitError(Responses.Worker("deviation: a payload in one chunk is refused")));
                return;
            }

            // Deviation C15: with three chunks or more, only the first is kept.
            foreach (var chunk in Is("C15") && chunks.Count >= 3 ? chunks.Take(1) : chunks)
            {
                payload.AddRange(chunk.ToByteArray());
            }

            if (init.Udf.HasPayloadSize && init.Udf.PayloadSize != payload.Count && !Is("payload-size-mismatch"))
            {
                await FailAsync(stream, Responses.InitError(ExecutionErrors.Protocol("payload_size does not match the assembled payload")));
                return;
            }

            if (init.Udf.HasPayloadCrc32 && init.Udf.PayloadCrc32 != UdfRequests.PayloadCrc32([.. payload]) && !Is("payload-crc-mismatch"))
            {
                await FailAsync(stream, Responses.InitError(ExecutionErrors.Protocol("payload_crc32 does not match the assembled payload")));
                return;
            }
        }

        if (init.HasProtocolVersion && init.ProtocolVersion > 1 && !Is("C12"))
        {
            await FailAsync(stream, Responses.InitError(ExecutionErrors.Protocol("unsupported protocol version")));
            return;
        }

        if ((init.DataFormat == UDFWorkerDataFormat.Unspecified && !Is("data-format-unspecified"))
            || (init.DataFormat != UDFWorkerDataFormat.Unspecified && init.DataFormat != UDFWorkerDataFormat.Arrow && !Is("data-format-unsupported")))
        {
            await FailAsync(stream, Responses.InitError(ExecutionErrors.Protocol("unsupported data format")));
            return;
        }

        var raiseAt = -1;
        var bigOutput = -1;
        switch (init.Udf.Format)
        {
            case "echo":
                break;
            case "arrow":
                bigOutput = ArrowOutput;
                break;
            case "big":
                bigOutput = int.Parse(System.Text.Encoding.UTF8.GetString([.. payload]), System.Globalization.CultureInfo.InvariantCulture);
                break;
            case "raise":
                raiseAt = int.Parse(System.Text.Encoding.UTF8.GetString([.. payload]), System.Globalization.CultureInfo.InvariantCulture);
                break;
            default:
                var failure = Responses.Worker($"init failed for format '{init.Udf.Format}'");
                await FailAsync(stream, (Is("C10") && !chunked) || (Is("C11") && chunked) ? Responses.Error(failure) : Responses.InitError(failure));
                return;
        }

        await stream.WriteAsync(Responses.InitOk());
        await DataPhaseAsync(stream, raiseAt, bigOutput, inline: !chunked);
    }

    private async Task DataPhaseAsync(WireStream stream, int raiseAt, int bigOutput, bool inline)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hadBatch = new StrongBox<bool>();
        try
        {
            await DataPhaseCoreAsync(stream, raiseAt, bigOutput, inline, ended.Task, hadBatch);
        }
        catch (StreamAbortedException) when (hadBatch.Value && Is("abort-mid-batch"))
        {
            Volatile.Write(ref _abortedMidBatch, 1);
            throw;
        }
        finally
        {
            lock (_dataPhasesLock)
            {
                _dataPhases.Remove(ended.Task);
            }

            ended.TrySetResult();
        }
    }

    private async Task DataPhaseCoreAsync(WireStream stream, int raiseAt, int bigOutput, bool inline, Task ended, StrongBox<bool> hadBatch)
    {
        var batches = 0;
        var outputs = 0;
        var held = new List<ByteString>();
        while (true)
        {
            var request = await ReadOrShutdownAsync(stream);
            if (request is null)
            {
                return;
            }

            if (ReferenceEquals(request, ShutdownSignal))
            {
                var error = Is("shutdown-cancels-sessions") ? Responses.User("the worker is shutting down") : Responses.Worker("the worker is shutting down");
                await stream.WriteAsync(Responses.Error(error));
                await stream.WriteAsync(Responses.Cancel());
                return;
            }

            if (ScriptedStream.IsData(request))
            {
                var index = batches++;
                if (index == 0 && Is("abort-mid-batch"))
                {
                    hadBatch.Value = true;
                    lock (_dataPhasesLock)
                    {
                        _dataPhases.Add(ended);
                    }
                }

                if (index == raiseAt)
                {
                    var error = Is("C8") ? Responses.Worker("boom in UDF") : Responses.User("boom in UDF", "UdfError");
                    await FailAsync(stream, Responses.Error(error));
                    return;
                }

                if (bigOutput == ArrowOutput)
                {
                    await stream.WriteAsync(Responses.Data(IndexBatch(index)));
                    outputs++;
                    continue;
                }

                if (bigOutput >= 0)
                {
                    // Deviation large-output: output capped at gRPC's 4 MiB default.
                    var size = Is("large-output") ? Math.Min(bigOutput, 4 * 1024 * 1024) : bigOutput;
                    await stream.WriteAsync(Responses.Data(ByteString.CopyFrom(new byte[size])));
                    outputs++;
                    continue;
                }

                if (Is("C3") && batches > 64)
                {
                    // Deviation C3: a long stream stalls; nothing more is answered.
                    await stream.IgnoreEverythingAsync();
                    return;
                }

                if (Is("C2") && index is 1 or 2)
                {
                    held.Add(request.Data.Data);
                    continue;
                }

                foreach (var output in held)
                {
                    await stream.WriteAsync(Responses.Data(output));
                }

                held.Clear();

                // Deviation concurrent-streams: with another stream live, the output loses its bytes.
                // A stream the engine aborted does not count, even before its handler has ended:
                // abort-mid-batch's next session must not see the aborted one (its RST_STREAM is
                // read before the next stream's frames on the same connection).
                await stream.WriteAsync(Responses.Data(Is("concurrent-streams") && OtherStreamsRunning(stream) ? ByteString.Empty : request.Data.Data));
                outputs++;
            }
            else if (ScriptedStream.IsFinish(request))
            {
                // Deviation C2: the outputs of batches 1 and 2 are held, and when Finish follows
                // batch 2 they go out in reverse order (a longer stream gets them in order).
                foreach (var output in held.Count == 2 ? Enumerable.Reverse(held) : held)
                {
                    await stream.WriteAsync(Responses.Data(output));
                    outputs++;
                }

                if (Is("C5") && batches == 0)
                {
                    await stream.WriteAsync(Responses.Data(ByteString.Empty));
                }

                if (Is("C1") && batches == 1 && inline && bigOutput < 0)
                {
                    await stream.WriteAsync(Responses.Cancel());
                    return;
                }

                // Deviation metrics: the counts of the last batch only, not of the whole stream.
                var metrics = new ExecutionMetrics { BatchesIn = Is("metrics") ? 1UL : (ulong)batches, BatchesOut = (ulong)outputs };
                await stream.WriteAsync(Responses.Finish(metrics: metrics));
                if (Is("C7") && await stream.ReadAsync() is { } next && ScriptedStream.IsCancel(next))
                {
                    await stream.WriteAsync(Responses.Cancel());
                }

                return;
            }
            else if (ScriptedStream.IsCancel(request))
            {
                // Deviation C6: a Cancel after input is answered with FinishResponse.
                await stream.WriteAsync(Is("C6") && batches > 0 ? Responses.Finish() : Responses.Cancel());
                return;
            }
            else if (ScriptedStream.IsInit(request) && Is("C9"))
            {
                await stream.WriteAsync(Responses.InitOk());
            }
            else if (ScriptedStream.IsChunk(request) && Is("C16"))
            {
                await stream.WriteAsync(Responses.Data(request.Control.Payload.Data));
            }
            else
            {
                await FailAsync(stream, Responses.Error(ExecutionErrors.Protocol("a message out of place in the data phase")));
                return;
            }
        }
    }

    /// <summary>
    /// The output of format <c>arrow</c>: one row, <c>n: int64</c> = the input batch's index.
    /// Deviation arrow-output: <c>n</c> is int32, not the declared output_schema.
    /// </summary>
    private ByteString IndexBatch(int index)
    {
        IArrowArray column = Is("arrow-output")
            ? new Int32Array.Builder().Append(index).Build()
            : new Int64Array.Builder().Append(index).Build();
        var schema = new Schema([new Field("n", column.Data.DataType, nullable: true)], null);
        using var batch = new RecordBatch(schema, [column], 1);
        using var writer = new ArrowFrameWriter(int.MaxValue);
        return ByteString.CopyFrom(writer.Encode(batch).Span);
    }

    /// <summary>Sends the error, then answers the engine's Cancel with CancelResponse (rule 6).</summary>
    private static async Task FailAsync(WireStream stream, UdfResponse error)
    {
        await stream.WriteAsync(error);
        if (await stream.ReadUntilAsync(ScriptedStream.IsCancel) is not null)
        {
            await stream.WriteAsync(Responses.Cancel());
        }
    }

    private async Task<UdfRequest?> ReadOrShutdownAsync(WireStream stream)
    {
        var read = stream.ReadAsync().AsTask();
        if (await Task.WhenAny(read, _shutdown.Task) == read)
        {
            return await read;
        }

        _ = read.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return ShutdownSignal;
    }
}
