using System.Globalization;
using Engine.Client.Protocol;
using Engine.ReferenceWorker.Udfs;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Execution;

/// <summary>The init handshake: Init, its validation, payload chunks, and the UDF's init hook.</summary>
internal sealed partial class ExecuteStream
{
    /// <summary>The protocol revision this worker speaks (docs/protocol.md: unset = initial, current = 1).</summary>
    private const uint ProtocolVersion = 1;

    private Init? _init;
    private PayloadAssembler? _payload;

    private ValueTask OnAwaitingInitAsync(StreamInput input)
    {
        if (input.Kind == StreamInputKind.End)
        {
            return CancelAsync("the engine half-closed before Init");
        }

        var request = input.Request!;
        switch (request.Control?.ControlCase)
        {
            case UdfControlRequest.ControlOneofCase.Init:
                return StartInitAsync(request.Control.Init);
            case UdfControlRequest.ControlOneofCase.Cancel:
                // Rule 1: Cancel may come before Init; nothing started, so just the terminator.
                return CancelAsync(request.Control.Cancel.Reason);
            default:
                SendError(ExecutionErrors.Protocol($"the first message must be Init (or Cancel), got {WireText.Name(request)}"));
                return ValueTask.CompletedTask;
        }
    }

    private ValueTask StartInitAsync(Init init)
    {
        _metrics.InitStarted();
        _init = init;
        if (Validate(init) is { } problem)
        {
            SendInitError(ExecutionErrors.Protocol(problem));
            return ValueTask.CompletedTask;
        }

        if (init.HasIsChunkingPayload && init.IsChunkingPayload)
        {
            _payload = new PayloadAssembler(init.Udf.Payload, init.Udf.HasPayloadSize ? init.Udf.PayloadSize : null);
            _state = StreamState.Chunking;
            return ValueTask.CompletedTask;
        }

        return CompleteInitAsync(init.Udf.Payload);
    }

    private static string? Validate(Init init)
    {
        if (init.HasProtocolVersion && init.ProtocolVersion > ProtocolVersion)
        {
            return string.Create(CultureInfo.InvariantCulture, $"protocol version {init.ProtocolVersion} is not supported; this worker speaks version {ProtocolVersion} (or unset)");
        }

        if (init.DataFormat != UDFWorkerDataFormat.Arrow)
        {
            return $"data format {DescribeFormat(init.DataFormat)} is not supported; this worker supports ARROW";
        }

        if (init.Udf is null)
        {
            return "Init carries no udf";
        }

        if (string.IsNullOrEmpty(init.Udf.Format))
        {
            return "udf.format is empty; it must name the payload encoding";
        }

        if (init.Udf.HasPayloadSize && init.Udf.PayloadSize < 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"udf.payload_size is negative ({init.Udf.PayloadSize})");
        }

        return null;
    }

    private static string DescribeFormat(UDFWorkerDataFormat format) =>
        Enum.IsDefined(format) ? format.ToString() : string.Create(CultureInfo.InvariantCulture, $"{(int)format} (unknown)");

    private ValueTask OnChunkingAsync(StreamInput input)
    {
        if (input.Kind == StreamInputKind.End)
        {
            return CancelAsync("the engine half-closed during payload chunking");
        }

        var request = input.Request!;
        switch (request.Control?.ControlCase)
        {
            case UdfControlRequest.ControlOneofCase.Payload:
                return OnChunkAsync(request.Control.Payload);
            case UdfControlRequest.ControlOneofCase.Cancel:
                // Rule 1: Cancel may interrupt chunking; the UDF never started.
                return CancelAsync(request.Control.Cancel.Reason);
            default:
                SendInitError(ExecutionErrors.Protocol($"expected PayloadChunk or Cancel while the payload is chunked, got {WireText.Name(request)}"));
                return ValueTask.CompletedTask;
        }
    }

    private ValueTask OnChunkAsync(PayloadChunk chunk)
    {
        var payload = _payload!;
        if (chunk.Data.IsEmpty)
        {
            SendInitError(ExecutionErrors.Protocol(string.Create(CultureInfo.InvariantCulture, $"PayloadChunk {payload.Chunks + 1} is empty; every chunk must carry bytes")));
            return ValueTask.CompletedTask;
        }

        if (!payload.TryAppend(chunk.Data))
        {
            SendInitError(ExecutionErrors.Protocol(string.Create(
                CultureInfo.InvariantCulture,
                $"the chunked payload grew to {payload.Length} bytes, beyond its payload_size of {_init!.Udf.PayloadSize}")));
            return ValueTask.CompletedTask;
        }

        return chunk.HasLast && chunk.Last ? CompleteInitAsync(payload.Assemble()) : ValueTask.CompletedTask;
    }

    /// <summary>The whole payload is here: verify it, create the UDF, run its init hook, answer InitResponse.</summary>
    private async ValueTask CompleteInitAsync(ByteString payload)
    {
        var init = _init!;
        var udfPayload = init.Udf;
        if (udfPayload.HasPayloadSize && udfPayload.PayloadSize != payload.Length)
        {
            SendInitError(ExecutionErrors.Protocol(string.Create(
                CultureInfo.InvariantCulture, $"the payload is {payload.Length} bytes but payload_size says {udfPayload.PayloadSize}")));
            return;
        }

        if (udfPayload.HasPayloadCrc32)
        {
            var crc = UdfRequests.PayloadCrc32(payload.Span);
            if (crc != udfPayload.PayloadCrc32)
            {
                SendInitError(ExecutionErrors.Protocol(string.Create(
                    CultureInfo.InvariantCulture, $"the payload's CRC-32 is {crc:x8} but payload_crc32 says {udfPayload.PayloadCrc32:x8}")));
                return;
            }
        }

        if (!_udfs.TryCreate(udfPayload.Format, out var udf))
        {
            SendInitError(ExecutionErrors.Worker($"unknown payload format '{udfPayload.Format}'; this worker knows: {string.Join(", ", _udfs.Formats)}"));
            return;
        }

        _udf = udf;
        ByteString? data;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            data = await udf.InitAsync(new UdfInitContext(init, payload, _port), _work.Token).ConfigureAwait(false);
        }
        catch (UdfException ex)
        {
            SendInitError(ex.Error);
            return;
        }
        catch (OperationCanceledException) when (_work.IsCancellationRequested)
        {
            // Cancel, shutdown or a broken call interrupted init; the loop handles whichever it was.
            _state = StreamState.AwaitingCancel;
            return;
        }
        catch (Exception ex)
        {
            SendInitError(ExecutionErrors.Worker("the UDF's init failed: " + ex.Message, ex.ToString()));
            return;
        }
        finally
        {
            _metrics.Worked(started);
        }

        if (ApplyOverride())
        {
            return;
        }

        _writer.Send(UdfResponses.Init(data));
        _metrics.InitCompleted();
        _udfStarted = true;
        _state = StreamState.DataPhase;
        await RunHookAsync(static (s, token) => s._udf!.StartAsync(s._port, token)).ConfigureAwait(false);
    }
}
