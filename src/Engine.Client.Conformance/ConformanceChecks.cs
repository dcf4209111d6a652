using System.Globalization;
using Engine.Client.Arrow;
using Engine.Client.Protocol;
using Engine.Client.Transport;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Conformance;

/// <summary>
/// The checks of docs/conformance.md section C, each a short wire script over the raw generated
/// client: several need sequences a correct engine never sends (Cancel before Init, a second
/// Init, a PayloadChunk in the data phase), so they cannot go through <c>WorkerSession</c>.
/// </summary>
internal sealed class ConformanceChecks
{
    /// <summary>The protocol revision the checks speak (docs/protocol.md: current = 1).</summary>
    private const uint ProtocolVersion = 1;

    private const string Stream = "docs/protocol.md#rules-of-one-execute-stream";
    private const string Rule1 = "docs/protocol.md#rule-1-init-first-exactly-once";
    private const string Rule2 = "docs/protocol.md#rule-2-chunking";
    private const string Rule4 = "docs/protocol.md#rule-4-initresponse-before-any-output";
    private const string Rule6 = "docs/protocol.md#rule-6-termination";
    private const string Rule7 = "docs/protocol.md#rule-7-errors";
    private const string InitFields = "docs/protocol.md#init";
    private const string Manage = "docs/protocol.md#manage-rules";
    private const string Metrics = "docs/protocol.md#executionmetrics";
    private const int ConcurrentStreams = 8;
    private const string Transport = "docs/protocol.md#transport-facts";
    private const string Rule10 = "docs/protocol.md#rule-10-a-broken-stream-is-a-cancel";

    /// <summary>
    /// How many ping delays the stream of <c>keepalive-pings</c> stays quiet. gRPC core closes the
    /// connection on its third ping strike; the .NET client looks at its ping schedule once a second,
    /// so at a 1 s delay its pings go out about every 2 s: eight delays see four pings at least.
    /// </summary>
    private const int QuietPings = 8;

    private readonly CallInvoker _invoker;
    private readonly ConformanceTarget? _target;
    private readonly WorkerConformanceOptions _options;
    private readonly CancellationToken _cancellationToken;

    public ConformanceChecks(CallInvoker invoker, ConformanceTarget? target, WorkerConformanceOptions options, CancellationToken cancellationToken)
    {
        _invoker = invoker;
        _target = target;
        _options = options;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Every check, in run order: id, description, whether it stops the worker, and its script.</summary>
    public static IReadOnlyList<(ConformanceCheck Check, Func<ConformanceChecks, Task> Run)> Catalog { get; } =
    [
        (new("C1", "Init, one batch, Finish: the batch is echoed, then FinishResponse", false, Stream, "InitResponse, the batch echoed in a DataResponse, FinishResponse, and the call ends with status OK"), c => c.EchoOneBatchAsync()),
        (new("C2", "Several batches: the outputs keep the input order", false, Stream, "InitResponse, one DataResponse per batch in input order, FinishResponse, status OK"), c => c.EchoInOrderAsync()),
        (new("C3", "Input and output on separate tasks: many batches sent while the output is read concurrently", false, Stream, "every batch echoed in order while input still arrives (the worker reads and writes independently), then FinishResponse"), c => c.FullDuplexAsync()),
        (new("C4", "Payload in one chunk (inline payload empty, last = true): init succeeds and the UDF works", false, Rule2, "InitResponse without error once the chunk with last = true arrived, then the echo and FinishResponse"), c => c.ChunkedPayloadAsync(1)),
        (new("C5", "Finish right after InitResponse (no input): no output, FinishResponse", false, Rule4, "FinishResponse and no DataResponse"), c => c.FinishWithoutInputAsync()),
        (new("C6", "Cancel before Finish: CancelResponse and the call ends with status OK", false, Rule6, "CancelResponse, then the call ends with status OK"), c => c.CancelBeforeFinishAsync()),
        (new("C7", "Cancel right after Finish: FinishResponse or CancelResponse, never a gRPC error", false, Rule6, "exactly one terminator (FinishResponse or CancelResponse), then status OK"), c => c.CancelAfterFinishAsync()),
        (new("C8", "A batch raising a user error: ErrorResponse(UserError) exactly as produced, then CancelResponse after the engine's Cancel", false, Rule7, "ErrorResponse(UserError) with the UDF's message and class, then CancelResponse after the engine's Cancel"), c => c.UserErrorAsync()),
        (new("C9", "A second Init: ErrorResponse(ProtocolError), then CancelResponse after the engine's Cancel", false, Rule1, "ErrorResponse(ProtocolError), then CancelResponse after the engine's Cancel"), c => c.SecondInitAsync()),
        (new("C10", "Inline init failure (the profile's failing UDF): InitResponse.error, then CancelResponse", false, Rule7, "InitResponse carrying the error (of the profile's kind), then CancelResponse after the engine's Cancel"), c => c.InitFailureAsync(chunked: false)),
        (new("C11", "Chunked init failure (the profile's failing UDF): InitResponse.error, then CancelResponse", false, Rule7, "InitResponse carrying the error after the last chunk, then CancelResponse after the engine's Cancel"), c => c.InitFailureAsync(chunked: true)),
        (new("C12", "Unsupported protocol version (current + 999): InitResponse.error(ProtocolError), then CancelResponse", false, InitFields, "InitResponse carrying a ProtocolError, then CancelResponse after the engine's Cancel"), c => c.UnsupportedVersionAsync()),
        (new("C13", "Cancel before Init: the call ends cleanly (CancelResponse or nothing, status OK)", false, Rule1, "CancelResponse or nothing, and the call ends with status OK"), c => c.CancelBeforeInitAsync()),
        (new("C14", "Cancel during payload chunking: the call ends cleanly (CancelResponse or nothing, status OK)", false, Rule1, "CancelResponse or nothing, and the call ends with status OK"), c => c.CancelDuringChunkingAsync()),
        (new("C15", "Payload in three chunks: init succeeds and the UDF works", false, Rule2, "InitResponse without error after the third chunk, then the echo and FinishResponse"), c => c.ChunkedPayloadAsync(3)),
        (new("C16", "A PayloadChunk in the data phase: ErrorResponse(ProtocolError), then CancelResponse", false, Rule2, "ErrorResponse(ProtocolError), then CancelResponse after the engine's Cancel"), c => c.ChunkInDataPhaseAsync()),
        (new("C17", "Manage Heartbeat: answered with the heartbeat branch", false, Manage, "a WorkerResponse with the heartbeat branch"), c => c.HeartbeatAsync()),
        (new("payload-size-mismatch", "Chunked payload whose payload_size is wrong: InitResponse.error(ProtocolError), then CancelResponse", false, Rule2, "InitResponse carrying a ProtocolError, then CancelResponse after the engine's Cancel"), c => c.PayloadMismatchAsync(size: true)),
        (new("payload-crc-mismatch", "Chunked payload whose payload_crc32 is wrong: InitResponse.error(ProtocolError), then CancelResponse", false, Rule2, "InitResponse carrying a ProtocolError, then CancelResponse after the engine's Cancel"), c => c.PayloadMismatchAsync(size: false)),
        (new("data-format-unspecified", "Init with data format UNSPECIFIED: InitResponse.error(ProtocolError), then CancelResponse", false, InitFields, "InitResponse carrying a ProtocolError, then CancelResponse after the engine's Cancel"), c => c.DataFormatAsync(UDFWorkerDataFormat.Unspecified)),
        (new("data-format-unsupported", "Init with a data format the protocol does not define: InitResponse.error(ProtocolError), then CancelResponse", false, InitFields, "InitResponse carrying a ProtocolError, then CancelResponse after the engine's Cancel"), c => c.DataFormatAsync((UDFWorkerDataFormat)99)),
        (new("manage-while-busy", "Manage Heartbeat while 8 Execute streams are live on the same connection: answered within the timeout", false, Manage, "a WorkerResponse with the heartbeat branch while the streams stay live, then CancelResponse on each after the engine's Cancel"), c => c.ManageWhileBusyAsync()),
        (new("concurrent-streams", "8 Execute streams at once on one connection, their batches interleaved: each stream echoes its own batches, then FinishResponse", false, Stream, "on every stream its own batches echoed in order, then FinishResponse and status OK"), c => c.ConcurrentStreamsAsync()),
        (new("metrics", "Three batches, Finish: the FinishResponse's metrics, where set, count the whole stream", false, Metrics, "FinishResponse whose batches_in and batches_out, when set, are 3 (the whole stream, not the last batch), and bytes_in and bytes_out, when set, at least the data bytes sent and echoed"), c => c.MetricsAsync()),
        (new("large-output", "A UDF whose output batch is larger than gRPC's 4 MiB default (the profile's largeOutput): the output arrives whole, then FinishResponse", false, Transport, "one DataResponse of exactly the profile's size, then FinishResponse; the worker's send limit is above 4 MiB"), c => c.LargeOutputAsync()),
        (new("keepalive-pings", "HTTP/2 keepalive pings (the profile's keepalive delay) on a connection of its own, over a Unix socket with :authority localhost, while an echo stream is quiet for eight delays after its InitResponse: the connection survives and the stream then echoes two batches", false, Transport, "an ACK for every PING and no GOAWAY or reset: after the quiet span both batches echoed in order, FinishResponse and status OK"), c => c.KeepAlivePingsAsync()),
        (new("arrow-output", "A UDF with Arrow output of its own schema (the profile's arrowOutput), three Arrow batches and Finish: every output batch is a valid Arrow IPC stream of the declared output_schema", false, InitFields, "at least one DataResponse, each one Arrow IPC stream (schema, batches, end) whose schema equals Init.output_schema and whose values can be read, then FinishResponse"), c => c.ArrowOutputAsync()),
        (new("abort-mid-batch", "The engine aborts a stream in its data phase (batch 0 echoed, batch 1 sent, no Finish): the worker still answers a heartbeat and serves a whole echo session on the same connection", false, Rule10, "after the aborted stream, a WorkerResponse with the heartbeat branch, then on a new stream two batches echoed in order, FinishResponse and status OK"), c => c.AbortMidBatchAsync()),
        (new("C18", "Manage Shutdown (cancel_sessions = false): answered with the shutdown branch; the worker may exit afterwards", true, Manage, "a WorkerResponse with the shutdown branch"), c => c.ShutdownAsync()),
        (new("shutdown-cancels-sessions", "Manage Shutdown with cancel_sessions = true while a stream is live: the stream gets ErrorResponse(WorkerError) then CancelResponse, and the Manage call the shutdown branch; the worker exits afterwards", true, Manage, "on the live stream ErrorResponse(WorkerError) then CancelResponse and status OK; on the Manage call the shutdown branch"), c => c.ShutdownCancelsSessionsAsync()),
    ];

    private TimeSpan Timeout => _options.Timeout;

    private ConformanceStream Open() => ConformanceStream.Open(_invoker, Timeout, _cancellationToken);

    /// <summary>An Execute stream whose echo Init the worker accepted.</summary>
    private async Task<ConformanceStream> OpenAcceptedEchoAsync()
    {
        var stream = Open();
        try
        {
            await stream.SendInitAsync(EchoInit()).ConfigureAwait(false);
            await stream.ExpectInitAsync().ConfigureAwait(false);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private Init EchoInit() => NewInit(EchoFormat, _options.EchoPayload);

    /// <summary>The profile's echo format; a check that needs one is not applicable without it.</summary>
    private string EchoFormat => _options.EchoFormat ?? throw new ConformanceNotApplicable(WorkerConformanceOptions.EchoKey, "echo-like UDF");

    private Init NewInit(string format, ReadOnlyMemory<byte> payload)
    {
        var init = new Init
        {
            ProtocolVersion = ProtocolVersion,
            DataFormat = UDFWorkerDataFormat.Arrow,
            Udf = new UdfPayload { Format = format, Payload = UnsafeByteOperations.UnsafeWrap(payload) },
        };
        if (_options.ArrowSchema is { } schema)
        {
            init.InputSchema = UnsafeByteOperations.UnsafeWrap(schema);
            init.OutputSchema = UnsafeByteOperations.UnsafeWrap(schema);
        }

        _options.ConfigureInit?.Invoke(init);
        return init;
    }

    /// <summary>An Init announcing chunks, with size and CRC set as the engine always does when it chunks.</summary>
    private Init ChunkedInit(string format, ReadOnlyMemory<byte> payload)
    {
        var init = NewInit(format, ReadOnlyMemory<byte>.Empty);
        init.IsChunkingPayload = true;
        init.Udf.PayloadSize = payload.Length;
        init.Udf.PayloadCrc32 = UdfRequests.PayloadCrc32(payload.Span);
        return init;
    }

    private static async Task SendChunksAsync(ConformanceStream stream, ReadOnlyMemory<byte> payload, int chunks)
    {
        var size = (payload.Length + chunks - 1) / chunks;
        for (var i = 0; i < chunks; i++)
        {
            var start = i * size;
            var slice = payload.Slice(start, Math.Min(size, payload.Length - start));
            await stream.SendChunkAsync(slice, last: i == chunks - 1).ConfigureAwait(false);
        }
    }

    private void RequireEcho(ConformanceStream stream, ByteString output, ReadOnlyMemory<byte> input, int index)
    {
        if (_options.ArrowSchema is not null)
        {
            if (ConformanceArrow.FindEchoDifference(input, output.Memory) is { } difference)
            {
                throw stream.Fail(string.Create(CultureInfo.InvariantCulture, $"expected output {index} to hold input batch {index}'s schema and values, but {difference}"));
            }

            return;
        }

        if (!output.Span.SequenceEqual(input.Span))
        {
            throw stream.Fail(string.Create(
                CultureInfo.InvariantCulture,
                $"expected output {index} to be input batch {index} unchanged ({input.Length} bytes), got {output.Length} different bytes"));
        }
    }

    /// <summary>The engine's side of rule 6 after an error: send Cancel, get CancelResponse, end cleanly.</summary>
    private static async Task CancelAndExpectCancelResponseAsync(ConformanceStream stream)
    {
        await stream.SendCancelAsync().ConfigureAwait(false);
        await stream.ExpectCancelAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task EchoOneBatchAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batch = _options.Batches[0];
        await stream.SendDataAsync(batch).ConfigureAwait(false);
        RequireEcho(stream, await stream.ExpectDataAsync("echoing batch 0").ConfigureAwait(false), batch, 0);
        await stream.SendFinishAsync().ConfigureAwait(false);
        await stream.ExpectFinishAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task EchoInOrderAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batches = _options.Batches;
        foreach (var batch in batches)
        {
            await stream.SendDataAsync(batch).ConfigureAwait(false);
        }

        await stream.SendFinishAsync().ConfigureAwait(false);
        for (var i = 0; i < batches.Count; i++)
        {
            RequireEcho(stream, await stream.ExpectDataAsync(string.Create(CultureInfo.InvariantCulture, $"echoing batch {i}")).ConfigureAwait(false), batches[i], i);
        }

        await stream.ExpectFinishAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task FullDuplexAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batches = _options.Batches;
        var count = _options.DuplexBatchCount;

        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await stream.SendDataAsync(batches[i % batches.Count]).ConfigureAwait(false);
            }

            await stream.SendFinishAsync().ConfigureAwait(false);
        });

        var reader = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                var output = await stream.ExpectDataAsync(string.Create(CultureInfo.InvariantCulture, $"echoing batch {i} of {count}")).ConfigureAwait(false);
                RequireEcho(stream, output, batches[i % batches.Count], i);
            }

            await stream.ExpectFinishAsync().ConfigureAwait(false);
        });

        // Both sides end on their own or by a per-wait timeout; a failing side fails the check.
        await Task.WhenAll(writer, reader).ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task ChunkedPayloadAsync(int chunks)
    {
        using var stream = Open();
        var payload = _options.EchoPayload;
        await stream.SendInitAsync(ChunkedInit(EchoFormat, payload)).ConfigureAwait(false);
        await SendChunksAsync(stream, payload, chunks).ConfigureAwait(false);
        await stream.ExpectInitAsync().ConfigureAwait(false);
        var batch = _options.Batches[0];
        await stream.SendDataAsync(batch).ConfigureAwait(false);
        RequireEcho(stream, await stream.ExpectDataAsync("echoing batch 0").ConfigureAwait(false), batch, 0);
        await stream.SendFinishAsync().ConfigureAwait(false);
        await stream.ExpectFinishAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task FinishWithoutInputAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        await stream.SendFinishAsync().ConfigureAwait(false);
        await stream.ExpectFinishAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task CancelBeforeFinishAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batch = _options.Batches[0];
        await stream.SendDataAsync(batch).ConfigureAwait(false);
        RequireEcho(stream, await stream.ExpectDataAsync("echoing batch 0").ConfigureAwait(false), batch, 0);
        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task CancelAfterFinishAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batch = _options.Batches[0];
        await stream.SendDataAsync(batch).ConfigureAwait(false);
        RequireEcho(stream, await stream.ExpectDataAsync("echoing batch 0").ConfigureAwait(false), batch, 0);
        await stream.SendFinishAsync().ConfigureAwait(false);
        await stream.SendCancelAsync().ConfigureAwait(false);

        const string Expected = "FinishResponse or CancelResponse";
        var terminator = await stream.ExpectAsync(Expected).ConfigureAwait(false);
        if (terminator.Control?.ControlCase is not (UdfControlResponse.ControlOneofCase.Finish or UdfControlResponse.ControlOneofCase.Cancel))
        {
            throw stream.Fail($"expected {Expected}, got {WireText.Describe(terminator)}");
        }

        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task UserErrorAsync()
    {
        if (_options.UserErrorFormat is not { } format)
        {
            throw new ConformanceNotApplicable(WorkerConformanceOptions.UserErrorKey, "UDF that raises a user error");
        }

        using var stream = Open();
        await stream.SendInitAsync(NewInit(format, _options.UserErrorPayload)).ConfigureAwait(false);
        await stream.ExpectInitAsync().ConfigureAwait(false);
        for (var i = 0; i <= _options.UserErrorBatch; i++)
        {
            await stream.SendDataAsync(_options.Batches[i]).ConfigureAwait(false);
        }

        // The batches before the erring one may produce output (the UDF's business): skip it.
        var expected = $"ErrorResponse({WireText.KindName(ExecutionError.KindOneofCase.User)}) on batch {_options.UserErrorBatch}";
        UdfResponse response;
        do
        {
            response = await stream.ExpectAsync(expected).ConfigureAwait(false);
        }
        while (response.ResponseCase == UdfResponse.ResponseOneofCase.Data);

        if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Error)
        {
            throw stream.Fail($"expected {expected}, got {WireText.Describe(response)}");
        }

        var raised = response.Control.Error.Error;
        if (raised?.KindCase != ExecutionError.KindOneofCase.User)
        {
            throw stream.Fail($"expected {expected}, got ErrorResponse carrying {WireText.Describe(raised)}");
        }

        var error = raised.User;
        if (_options.ExpectedUserErrorMessage is { } message && !string.Equals(error.Message, message, StringComparison.Ordinal))
        {
            throw stream.Fail($"expected the UserError message '{message}' exactly as produced, got '{error.Message}'");
        }

        if (_options.ExpectedUserErrorClass is { } errorClass && (!error.HasErrorClass || !string.Equals(error.ErrorClass, errorClass, StringComparison.Ordinal)))
        {
            throw stream.Fail($"expected the UserError class '{errorClass}', got {(error.HasErrorClass ? $"'{error.ErrorClass}'" : "none")}");
        }

        if (_options.ExpectedUserErrorTraceback is { } traceback && (!error.HasTraceback || !string.Equals(error.Traceback, traceback, StringComparison.Ordinal)))
        {
            throw stream.Fail($"expected the UserError traceback '{traceback}', got {(error.HasTraceback ? $"'{error.Traceback}'" : "none")}");
        }

        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task SecondInitAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        await stream.SendInitAsync(EchoInit()).ConfigureAwait(false);
        await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.Protocol).ConfigureAwait(false);
        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task InitFailureAsync(bool chunked)
    {
        if (_options.InitFailureFormat is not { } format)
        {
            throw new ConformanceNotApplicable(WorkerConformanceOptions.InitFailureKey, "UDF whose init fails");
        }

        using var stream = Open();
        var payload = _options.InitFailurePayload;
        if (chunked)
        {
            await stream.SendInitAsync(ChunkedInit(format, payload)).ConfigureAwait(false);
            await SendChunksAsync(stream, payload, 2).ConfigureAwait(false);
        }
        else
        {
            await stream.SendInitAsync(NewInit(format, payload)).ConfigureAwait(false);
        }

        await stream.ExpectInitErrorAsync(_options.ExpectedInitFailureKind).ConfigureAwait(false);
        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task UnsupportedVersionAsync()
    {
        using var stream = Open();
        var init = EchoInit();
        init.ProtocolVersion = ProtocolVersion + 999;
        await stream.SendInitAsync(init).ConfigureAwait(false);
        await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.Protocol).ConfigureAwait(false);
        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task CancelBeforeInitAsync()
    {
        using var stream = Open();
        await stream.SendCancelAsync().ConfigureAwait(false);
        await ExpectCleanCancelAsync(stream).ConfigureAwait(false);
    }

    private async Task CancelDuringChunkingAsync()
    {
        using var stream = Open();
        var payload = _options.EchoPayload;
        await stream.SendInitAsync(ChunkedInit(EchoFormat, payload)).ConfigureAwait(false);
        await stream.SendChunkAsync(payload[..1], last: false).ConfigureAwait(false);
        await stream.SendCancelAsync().ConfigureAwait(false);
        await ExpectCleanCancelAsync(stream).ConfigureAwait(false);
    }

    /// <summary>A Cancel before InitResponse: CancelResponse (or nothing), then a clean end.</summary>
    private static async Task ExpectCleanCancelAsync(ConformanceStream stream)
    {
        const string Expected = "CancelResponse or the end of the call";
        var response = await stream.ReadAsync(Expected).ConfigureAwait(false);
        if (response is null)
        {
            return;
        }

        if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Cancel)
        {
            throw stream.Fail($"expected {Expected}, got {WireText.Describe(response)}");
        }

        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task ChunkInDataPhaseAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        await stream.SendChunkAsync(_options.EchoPayload, last: true).ConfigureAwait(false);
        await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.Protocol).ConfigureAwait(false);
        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task PayloadMismatchAsync(bool size)
    {
        using var stream = Open();
        var payload = _options.EchoPayload;
        var init = ChunkedInit(EchoFormat, payload);
        if (size)
        {
            init.Udf.PayloadSize = payload.Length + 1;
        }
        else
        {
            init.Udf.PayloadCrc32 = ~init.Udf.PayloadCrc32;
        }

        await stream.SendInitAsync(init).ConfigureAwait(false);
        await SendChunksAsync(stream, payload, 2).ConfigureAwait(false);
        await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.Protocol).ConfigureAwait(false);
        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task DataFormatAsync(UDFWorkerDataFormat format)
    {
        using var stream = Open();
        var init = EchoInit();
        init.DataFormat = format;
        await stream.SendInitAsync(init).ConfigureAwait(false);
        await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.Protocol).ConfigureAwait(false);
        await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
    }

    private async Task ManageWhileBusyAsync()
    {
        var streams = new List<ConformanceStream>(ConcurrentStreams);
        try
        {
            for (var i = 0; i < ConcurrentStreams; i++)
            {
                streams.Add(await OpenAcceptedEchoAsync().ConfigureAwait(false));
            }

            await HeartbeatAsync().ConfigureAwait(false);
            foreach (var stream in streams)
            {
                await CancelAndExpectCancelResponseAsync(stream).ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                stream.Dispose();
            }
        }
    }

    private async Task AbortMidBatchAsync()
    {
        // Batch 0 is echoed (the data phase is under way), batch 1 sent and the call aborted
        // (RST_STREAM) before its echo is read or Finish sent: for the worker a Cancel (rule 10),
        // after which the connection serves on.
        using (var aborted = await OpenAcceptedEchoAsync().ConfigureAwait(false))
        {
            await aborted.SendDataAsync(_options.Batches[0]).ConfigureAwait(false);
            RequireEcho(aborted, await aborted.ExpectDataAsync("echoing batch 0 of the stream to abort").ConfigureAwait(false), _options.Batches[0], 0);
            await aborted.SendDataAsync(_options.Batches[1]).ConfigureAwait(false);
        }

        await HeartbeatAsync().ConfigureAwait(false);

        // A whole echo session of two batches on a new stream of the same connection. Output may
        // come before or after Finish (the echo only promises order).
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batches = _options.Batches;
        await stream.SendDataAsync(batches[0]).ConfigureAwait(false);
        await stream.SendDataAsync(batches[1]).ConfigureAwait(false);
        await stream.SendFinishAsync().ConfigureAwait(false);
        for (var i = 0; i < 2; i++)
        {
            RequireEcho(stream, await stream.ExpectDataAsync(string.Create(CultureInfo.InvariantCulture, $"echoing batch {i} after the aborted stream")).ConfigureAwait(false), batches[i], i);
        }

        await stream.ExpectFinishAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task ConcurrentStreamsAsync()
    {
        var streams = new List<ConformanceStream>(ConcurrentStreams);
        var batches = _options.Batches;
        try
        {
            for (var i = 0; i < ConcurrentStreams; i++)
            {
                streams.Add(await OpenAcceptedEchoAsync().ConfigureAwait(false));
            }

            // Two rounds, interleaved across the streams; stream i sends batches i and i + 1.
            for (var round = 0; round < 2; round++)
            {
                for (var i = 0; i < streams.Count; i++)
                {
                    await streams[i].SendDataAsync(batches[(i + round) % batches.Count]).ConfigureAwait(false);
                }
            }

            // Output may come before or after Finish (the echo only promises order), so every
            // stream is finished before any output is required.
            foreach (var stream in streams)
            {
                await stream.SendFinishAsync().ConfigureAwait(false);
            }

            for (var i = 0; i < streams.Count; i++)
            {
                for (var round = 0; round < 2; round++)
                {
                    var output = await streams[i].ExpectDataAsync(string.Create(CultureInfo.InvariantCulture, $"echoing batch {round} of stream {i}")).ConfigureAwait(false);
                    RequireEcho(streams[i], output, batches[(i + round) % batches.Count], round);
                }

                await streams[i].ExpectFinishAsync().ConfigureAwait(false);
                await streams[i].ExpectCleanEndAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                stream.Dispose();
            }
        }
    }

    private async Task MetricsAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batches = _options.Batches.Take(3).ToList();
        long bytesIn = 0, bytesOut = 0;
        foreach (var batch in batches)
        {
            await stream.SendDataAsync(batch).ConfigureAwait(false);
            bytesIn += batch.Length;
        }

        await stream.SendFinishAsync().ConfigureAwait(false);
        for (var i = 0; i < batches.Count; i++)
        {
            bytesOut += (await stream.ExpectDataAsync(string.Create(CultureInfo.InvariantCulture, $"echoing batch {i}")).ConfigureAwait(false)).Length;
        }

        var finish = await stream.ExpectFinishAsync().ConfigureAwait(false);
        if (finish.Metrics is { } metrics)
        {
            if (metrics.HasBatchesIn && metrics.BatchesIn != (ulong)batches.Count)
            {
                throw stream.Fail(string.Create(CultureInfo.InvariantCulture, $"expected metrics.batches_in = {batches.Count} (cumulative for the stream), got {metrics.BatchesIn}"));
            }

            if (metrics.HasBatchesOut && metrics.BatchesOut != (ulong)batches.Count)
            {
                throw stream.Fail(string.Create(CultureInfo.InvariantCulture, $"expected metrics.batches_out = {batches.Count} (the outputs of the whole stream), got {metrics.BatchesOut}"));
            }

            if (metrics.HasBytesIn && metrics.BytesIn < (ulong)bytesIn)
            {
                throw stream.Fail(string.Create(CultureInfo.InvariantCulture, $"expected metrics.bytes_in of at least {bytesIn} (the data bytes sent), got {metrics.BytesIn}"));
            }

            if (metrics.HasBytesOut && metrics.BytesOut < (ulong)bytesOut)
            {
                throw stream.Fail(string.Create(CultureInfo.InvariantCulture, $"expected metrics.bytes_out of at least {bytesOut} (the data bytes echoed), got {metrics.BytesOut}"));
            }
        }

        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task LargeOutputAsync()
    {
        if (_options.LargeOutputFormat is not { } format)
        {
            throw new ConformanceNotApplicable(WorkerConformanceOptions.LargeOutputKey, "UDF whose output batch is larger than 4 MiB");
        }

        using var stream = Open();
        await stream.SendInitAsync(NewInit(format, _options.LargeOutputPayload)).ConfigureAwait(false);
        await stream.ExpectInitAsync().ConfigureAwait(false);
        await stream.SendDataAsync(_options.Batches[0]).ConfigureAwait(false);
        var output = await stream.ExpectDataAsync(string.Create(CultureInfo.InvariantCulture, $"of {_options.LargeOutputBytes} bytes")).ConfigureAwait(false);
        if (output.Length != _options.LargeOutputBytes)
        {
            throw stream.Fail(string.Create(CultureInfo.InvariantCulture, $"expected one DataResponse of {_options.LargeOutputBytes} bytes, got {output.Length} bytes"));
        }

        await stream.SendFinishAsync().ConfigureAwait(false);
        await stream.ExpectFinishAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task KeepAlivePingsAsync()
    {
        if (_options.KeepAlivePingDelay is not { } delay)
        {
            throw new ConformanceNotApplicable(WorkerConformanceOptions.KeepAliveKey, "keepalive ping delay the worker accepts");
        }

        if (_target is null)
        {
            throw new ConformanceNotApplicable("not applicable: the kit was given a call invoker, not the worker's address, so it cannot open a connection with keepalive pings of its own");
        }

        // A connection of its own, as the engine makes it (a Unix socket addressed as localhost),
        // pinging while the call is active whenever nothing arrived for the delay.
        var clientOptions = _target.ClientOptions.Clone();
        clientOptions.Connection.KeepAlivePingDelay = delay;
        clientOptions.Connection.KeepAlivePingTimeout = Timeout < WorkerConnectionOptions.MinKeepAlivePingDelay ? WorkerConnectionOptions.MinKeepAlivePingDelay : Timeout;
        using var channel = WorkerChannelFactory.Create(_target.Address, clientOptions);
        using var stream = ConformanceStream.Open(channel.CreateCallInvoker(), Timeout, _cancellationToken);
        await stream.SendInitAsync(EchoInit()).ConfigureAwait(false);
        await stream.ExpectInitAsync().ConfigureAwait(false);

        // The stream is quiet: nothing either way but the pings. The read is pending throughout,
        // so a connection the worker closes fails it at once.
        var quiet = (delay * QuietPings) + TimeSpan.FromSeconds(1);
        var pings = $"keepalive pings every {ConformanceStream.Seconds(delay)}";
        stream.Note($"quiet for {ConformanceStream.Seconds(quiet)} with {pings}");
        var expected = $"the echo of batch 0 after the stream was quiet for {ConformanceStream.Seconds(quiet)} with {pings} (the connection must survive the engine's pings)";
        var read = stream.ReadAsync(expected, quiet + Timeout);
        if (await Task.WhenAny(read, Task.Delay(quiet, KitClock.Time, _cancellationToken)).ConfigureAwait(false) == read)
        {
            var early = await read.ConfigureAwait(false);
            throw stream.Fail(early is null
                ? $"expected the stream to stay open while quiet with {pings}, but the worker ended the call"
                : $"expected nothing while the stream was quiet with {pings}, got {WireText.Describe(early)}");
        }

        _cancellationToken.ThrowIfCancellationRequested();
        var batch = _options.Batches[0];
        await stream.SendAsync(UdfRequests.Data(batch), $"DataRequest after the quiet span with {pings}").ConfigureAwait(false);
        var output = await read.ConfigureAwait(false);
        if (output?.ResponseCase != UdfResponse.ResponseOneofCase.Data)
        {
            throw stream.Fail($"expected {expected}, got {(output is null ? "the end of the call (status OK)" : WireText.Describe(output))}");
        }

        RequireEcho(stream, output.Data.Data, batch, 0);

        // And the stream goes on as any other: a second batch, Finish.
        var next = _options.Batches[1];
        await stream.SendDataAsync(next).ConfigureAwait(false);
        await stream.SendFinishAsync().ConfigureAwait(false);
        RequireEcho(stream, await stream.ExpectDataAsync("echoing batch 1").ConfigureAwait(false), next, 1);
        await stream.ExpectFinishAsync().ConfigureAwait(false);
        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task ArrowOutputAsync()
    {
        if (_options.ArrowOutputFormat is not { } format)
        {
            throw new ConformanceNotApplicable(WorkerConformanceOptions.ArrowOutputKey, "UDF whose output is Arrow data of a schema of its own");
        }

        var declared = ArrowSchemas.Deserialize(_options.ArrowOutputSchema);
        using var stream = Open();
        var init = NewInit(format, _options.ArrowOutputPayload);
        init.InputSchema = UnsafeByteOperations.UnsafeWrap(_options.ArrowOutputInputSchema);
        init.OutputSchema = UnsafeByteOperations.UnsafeWrap(_options.ArrowOutputSchema);
        await stream.SendInitAsync(init).ConfigureAwait(false);
        await stream.ExpectInitAsync().ConfigureAwait(false);
        foreach (var batch in _options.ArrowOutputBatches)
        {
            await stream.SendDataAsync(batch).ConfigureAwait(false);
        }

        await stream.SendFinishAsync().ConfigureAwait(false);

        // Output may come before or after Finish, any number of batches: each is checked.
        const string Expected = "a DataResponse holding Arrow data of the declared output_schema, or FinishResponse";
        var outputs = 0;
        while (true)
        {
            var response = await stream.ExpectAsync(Expected).ConfigureAwait(false);
            if (response.ResponseCase != UdfResponse.ResponseOneofCase.Data)
            {
                if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Finish || response.Control.Finish.Error is not null)
                {
                    throw stream.Fail($"expected {Expected} without error, got {WireText.Describe(response)}");
                }

                break;
            }

            if (ConformanceArrow.FindOutputDifference(declared, response.Data.Data.Memory) is { } difference)
            {
                throw stream.Fail(string.Create(CultureInfo.InvariantCulture, $"expected output {outputs} to be an Arrow IPC stream of the declared output_schema, but {difference}"));
            }

            outputs++;
        }

        if (outputs == 0)
        {
            throw stream.Fail("expected at least one DataResponse of Arrow data before FinishResponse, got none (the profile's arrowOutput UDF must produce output for three input batches)");
        }

        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task HeartbeatAsync()
    {
        var response = await ManageAsync(new WorkerRequest { Heartbeat = new Heartbeat() }, "Heartbeat", "a WorkerResponse with the heartbeat branch").ConfigureAwait(false);
        if (response.ManageCase != WorkerResponse.ManageOneofCase.Heartbeat)
        {
            throw ManageFailure($"expected a WorkerResponse with the heartbeat branch, got {WireText.Name(response)}", "Manage(Heartbeat)", response);
        }
    }

    private async Task ShutdownAsync()
    {
        var request = new WorkerRequest { Shutdown = new ShutdownRequest { Reason = _options.ShutdownReason, CancelSessions = false } };
        var response = await ManageAsync(request, "Shutdown", "a WorkerResponse with the shutdown branch").ConfigureAwait(false);
        if (response.ManageCase != WorkerResponse.ManageOneofCase.Shutdown)
        {
            throw ManageFailure($"expected a WorkerResponse with the shutdown branch, got {WireText.Name(response)}", "Manage(Shutdown, cancel_sessions = false)", response);
        }
    }

    private async Task ShutdownCancelsSessionsAsync()
    {
        using var stream = await OpenAcceptedEchoAsync().ConfigureAwait(false);
        var batch = _options.Batches[0];
        await stream.SendDataAsync(batch).ConfigureAwait(false);
        RequireEcho(stream, await stream.ExpectDataAsync("echoing batch 0").ConfigureAwait(false), batch, 0);

        // The stream is live and idle. The shutdown's answer may wait for the stream to settle,
        // so the stream is read while the Manage call runs.
        var request = new WorkerRequest { Shutdown = new ShutdownRequest { Reason = _options.ShutdownReason, CancelSessions = true } };
        var shutdown = ManageAsync(request, "Shutdown", "a WorkerResponse with the shutdown branch");
        try
        {
            await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.Worker).ConfigureAwait(false);
            await stream.ExpectCancelAsync().ConfigureAwait(false);
            await stream.ExpectCleanEndAsync().ConfigureAwait(false);
        }
        finally
        {
            // Observed on every path; its failure is reported below when the stream passed.
            _ = shutdown.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        var response = await shutdown.ConfigureAwait(false);
        if (response.ManageCase != WorkerResponse.ManageOneofCase.Shutdown)
        {
            throw ManageFailure($"expected a WorkerResponse with the shutdown branch, got {WireText.Name(response)}", "Manage(Shutdown, cancel_sessions = true)", response);
        }
    }

    /// <summary>
    /// A Manage call through <see cref="WireMethods.Manage"/>: bytes that are not a WorkerResponse
    /// fail the check as a protocol violation that says so, not as a gRPC status.
    /// </summary>
    private async Task<WorkerResponse> ManageAsync(WorkerRequest request, string what, string expected)
    {
        WorkerResponse response;
        try
        {
            var call = _invoker.AsyncUnaryCall(WireMethods.Manage, null, new CallOptions(deadline: KitClock.Time.GetUtcNow().UtcDateTime + Timeout, cancellationToken: _cancellationToken), request);
            response = await call.ResponseAsync.WaitAsync(Timeout + TimeSpan.FromSeconds(1), _cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new ConformanceFailure($"expected an answer to Manage {what} within {ConformanceStream.Seconds(Timeout)}, got none", [$"Manage({what})"], []);
        }
        catch (RpcException ex) when (!_cancellationToken.IsCancellationRequested)
        {
            var detail = ex.StatusCode == StatusCode.DeadlineExceeded
                ? $"no answer within {ConformanceStream.Seconds(Timeout)}"
                : $"the call failed with {ConformanceStream.DescribeError(ex)}";
            throw new ConformanceFailure($"expected an answer to Manage {what}, but {detail}", [$"Manage({what})"], [ConformanceStream.DescribeError(ex)]);
        }

        if (WireMethods.ParseErrorOf(response) is { } parseError)
        {
            throw new ConformanceFailure(
                $"expected {expected}, but the worker sent bytes that are not a valid WorkerResponse message: a protocol violation",
                [$"Manage({what})"],
                [$"bytes that are not a valid WorkerResponse message ({parseError})"]);
        }

        return response;
    }

    private static ConformanceFailure ManageFailure(string message, string sent, WorkerResponse response) =>
        new(message, [sent], [$"WorkerResponse({WireText.Name(response)})"]);
}
