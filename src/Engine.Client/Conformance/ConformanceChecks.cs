using System.Globalization;
using Engine.Client.Payloads;
using Engine.Client.Protocol;
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

    private readonly UdfWorker.UdfWorkerClient _client;
    private readonly WorkerConformanceOptions _options;
    private readonly CancellationToken _cancellationToken;

    public ConformanceChecks(UdfWorker.UdfWorkerClient client, WorkerConformanceOptions options, CancellationToken cancellationToken)
    {
        _client = client;
        _options = options;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Every check, in run order: id, description, whether it stops the worker, and its script.</summary>
    public static IReadOnlyList<(ConformanceCheck Check, Func<ConformanceChecks, Task> Run)> Catalog { get; } =
    [
        (new("C1", "Init, one batch, Finish: the batch is echoed, then FinishResponse", false), c => c.EchoOneBatchAsync()),
        (new("C2", "Several batches: the outputs keep the input order", false), c => c.EchoInOrderAsync()),
        (new("C3", "Input and output on separate tasks: many batches sent while the output is read concurrently", false), c => c.FullDuplexAsync()),
        (new("C4", "Payload in one chunk (inline payload empty, last = true): init succeeds and the UDF works", false), c => c.ChunkedPayloadAsync(1)),
        (new("C5", "Finish right after InitResponse (no input): no output, FinishResponse", false), c => c.FinishWithoutInputAsync()),
        (new("C6", "Cancel before Finish: CancelResponse and the call ends with status OK", false), c => c.CancelBeforeFinishAsync()),
        (new("C7", "Cancel right after Finish: FinishResponse or CancelResponse, never a gRPC error", false), c => c.CancelAfterFinishAsync()),
        (new("C8", "A batch raising a user error: ErrorResponse(UserError) exactly as produced, then CancelResponse after the engine's Cancel", false), c => c.UserErrorAsync()),
        (new("C9", "A second Init: ErrorResponse(ProtocolError), then CancelResponse after the engine's Cancel", false), c => c.SecondInitAsync()),
        (new("C10", "Inline init failure (unknown payload format): InitResponse.error(WorkerError), then CancelResponse", false), c => c.UnknownFormatAsync(chunked: false)),
        (new("C11", "Chunked init failure (unknown payload format): InitResponse.error, then CancelResponse", false), c => c.UnknownFormatAsync(chunked: true)),
        (new("C12", "Unsupported protocol version (current + 999): InitResponse.error(ProtocolError), then CancelResponse", false), c => c.UnsupportedVersionAsync()),
        (new("C13", "Cancel before Init: the call ends cleanly (CancelResponse or nothing, status OK)", false), c => c.CancelBeforeInitAsync()),
        (new("C14", "Cancel during payload chunking: the call ends cleanly (CancelResponse or nothing, status OK)", false), c => c.CancelDuringChunkingAsync()),
        (new("C15", "Payload in three chunks: init succeeds and the UDF works", false), c => c.ChunkedPayloadAsync(3)),
        (new("C16", "A PayloadChunk in the data phase: ErrorResponse(ProtocolError), then CancelResponse", false), c => c.ChunkInDataPhaseAsync()),
        (new("C17", "Manage Heartbeat: answered with the heartbeat branch", false), c => c.HeartbeatAsync()),
        (new("payload-size-mismatch", "Chunked payload whose payload_size is wrong: InitResponse.error(ProtocolError), then CancelResponse", false), c => c.PayloadMismatchAsync(size: true)),
        (new("payload-crc-mismatch", "Chunked payload whose payload_crc32 is wrong: InitResponse.error(ProtocolError), then CancelResponse", false), c => c.PayloadMismatchAsync(size: false)),
        (new("data-format-unspecified", "Init with data format UNSPECIFIED: InitResponse.error(ProtocolError), then CancelResponse", false), c => c.DataFormatAsync(UDFWorkerDataFormat.Unspecified)),
        (new("data-format-unsupported", "Init with a data format the protocol does not define: InitResponse.error(ProtocolError), then CancelResponse", false), c => c.DataFormatAsync((UDFWorkerDataFormat)99)),
        (new("C18", "Manage Shutdown (cancel_sessions = false): answered with the shutdown branch; the worker may exit afterwards", true), c => c.ShutdownAsync()),
        (new("shutdown-cancels-sessions", "Manage Shutdown with cancel_sessions = true while a stream is live: the stream gets ErrorResponse(WorkerError) then CancelResponse, and the Manage call the shutdown branch; the worker exits afterwards", true), c => c.ShutdownCancelsSessionsAsync()),
    ];

    private TimeSpan Timeout => _options.Timeout;

    private ConformanceStream Open() => ConformanceStream.Open(_client, Timeout, _cancellationToken);

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

    private Init EchoInit() => NewInit(_options.EchoFormat, _options.EchoPayload);

    private Init NewInit(string format, ReadOnlyMemory<byte> payload)
    {
        var init = new Init
        {
            ProtocolVersion = ProtocolVersion,
            DataFormat = UDFWorkerDataFormat.Arrow,
            Udf = new UdfPayload { Format = format, Payload = UnsafeByteOperations.UnsafeWrap(payload) },
        };
        _options.ConfigureInit?.Invoke(init);
        return init;
    }

    /// <summary>An Init announcing chunks, with size and CRC set as the engine always does when it chunks.</summary>
    private Init ChunkedInit(string format, ReadOnlyMemory<byte> payload)
    {
        var init = NewInit(format, ReadOnlyMemory<byte>.Empty);
        init.IsChunkingPayload = true;
        init.Udf.PayloadSize = payload.Length;
        init.Udf.PayloadCrc32 = PayloadChunker.Crc32(payload.Span);
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

    private static void RequireEcho(ConformanceStream stream, ByteString output, ReadOnlyMemory<byte> input, int index)
    {
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
        await stream.SendInitAsync(ChunkedInit(_options.EchoFormat, payload)).ConfigureAwait(false);
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
            throw stream.Fail($"expected {Expected}, got {WireDescription.Describe(terminator)}");
        }

        await stream.ExpectCleanEndAsync().ConfigureAwait(false);
    }

    private async Task UserErrorAsync()
    {
        if (_options.UserErrorFormat is not { } format)
        {
            throw new ConformanceSkip($"no UDF raising a user error is configured ({nameof(WorkerConformanceOptions.UserErrorFormat)} is null)");
        }

        using var stream = Open();
        await stream.SendInitAsync(NewInit(format, _options.UserErrorPayload)).ConfigureAwait(false);
        await stream.ExpectInitAsync().ConfigureAwait(false);
        await stream.SendDataAsync(_options.Batches[0]).ConfigureAwait(false);
        var error = (await stream.ExpectErrorAsync(ExecutionError.KindOneofCase.User).ConfigureAwait(false)).User;
        if (!string.Equals(error.Message, _options.ExpectedUserErrorMessage, StringComparison.Ordinal))
        {
            throw stream.Fail($"expected the UserError message '{_options.ExpectedUserErrorMessage}' exactly as produced, got '{error.Message}'");
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

    private async Task UnknownFormatAsync(bool chunked)
    {
        using var stream = Open();
        var payload = _options.EchoPayload;
        if (chunked)
        {
            await stream.SendInitAsync(ChunkedInit(_options.UnknownFormat, payload)).ConfigureAwait(false);
            await SendChunksAsync(stream, payload, 2).ConfigureAwait(false);
            await stream.ExpectInitErrorAsync(kind: null).ConfigureAwait(false);
        }
        else
        {
            await stream.SendInitAsync(NewInit(_options.UnknownFormat, payload)).ConfigureAwait(false);
            await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.Worker).ConfigureAwait(false);
        }

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
        await stream.SendInitAsync(ChunkedInit(_options.EchoFormat, payload)).ConfigureAwait(false);
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
            throw stream.Fail($"expected {Expected}, got {WireDescription.Describe(response)}");
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
        var init = ChunkedInit(_options.EchoFormat, payload);
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

    private async Task HeartbeatAsync()
    {
        var response = await ManageAsync(new WorkerRequest { Heartbeat = new Heartbeat() }, "Heartbeat").ConfigureAwait(false);
        if (response.ManageCase != WorkerResponse.ManageOneofCase.Heartbeat)
        {
            throw new ConformanceFailure($"expected a WorkerResponse with the heartbeat branch, got {DescribeManage(response)}");
        }
    }

    private async Task ShutdownAsync()
    {
        var request = new WorkerRequest { Shutdown = new ShutdownRequest { Reason = _options.ShutdownReason, CancelSessions = false } };
        var response = await ManageAsync(request, "Shutdown").ConfigureAwait(false);
        if (response.ManageCase != WorkerResponse.ManageOneofCase.Shutdown)
        {
            throw new ConformanceFailure($"expected a WorkerResponse with the shutdown branch, got {DescribeManage(response)}");
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
        var shutdown = ManageAsync(request, "Shutdown");
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
            throw new ConformanceFailure($"expected a WorkerResponse with the shutdown branch, got {DescribeManage(response)}");
        }
    }

    private async Task<WorkerResponse> ManageAsync(WorkerRequest request, string what)
    {
        try
        {
            var call = _client.ManageAsync(request, new CallOptions(deadline: DateTime.UtcNow + Timeout, cancellationToken: _cancellationToken));
            return await call.ResponseAsync.WaitAsync(Timeout + TimeSpan.FromSeconds(1), _cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new ConformanceFailure($"expected an answer to Manage {what} within {ConformanceStream.Seconds(Timeout)}, got none");
        }
        catch (RpcException ex) when (!_cancellationToken.IsCancellationRequested)
        {
            var detail = ex.StatusCode == StatusCode.DeadlineExceeded
                ? $"no answer within {ConformanceStream.Seconds(Timeout)}"
                : $"the call failed with {ConformanceStream.DescribeError(ex)}";
            throw new ConformanceFailure($"expected an answer to Manage {what}, but {detail}");
        }
    }

    private static string DescribeManage(WorkerResponse response) =>
        response.ManageCase == WorkerResponse.ManageOneofCase.None ? "a WorkerResponse with no branch set" : $"the {response.ManageCase} branch";
}
