using System.Globalization;
using Engine.Client.Protocol;

namespace Engine.Client.Conformance;

/// <summary>Short, precise descriptions of worker responses for failure messages (sizes, never payload bytes).</summary>
internal static class WireDescription
{
    public static string Describe(UdfResponse response) => response.ResponseCase switch
    {
        UdfResponse.ResponseOneofCase.Data => string.Create(CultureInfo.InvariantCulture, $"DataResponse({response.Data.Data.Length} bytes)"),
        UdfResponse.ResponseOneofCase.Control => response.Control.ControlCase switch
        {
            UdfControlResponse.ControlOneofCase.Init => response.Control.Init.Error is { } error
                ? $"InitResponse(error {Describe(error)})"
                : "InitResponse",
            UdfControlResponse.ControlOneofCase.Error => $"ErrorResponse({Describe(response.Control.Error.Error)})",
            UdfControlResponse.ControlOneofCase.Finish => response.Control.Finish.Error is { } finishError
                ? $"FinishResponse(error {Describe(finishError)})"
                : "FinishResponse",
            UdfControlResponse.ControlOneofCase.Cancel => response.Control.Cancel.Error is { } cancelError
                ? $"CancelResponse(error {Describe(cancelError)})"
                : "CancelResponse",
            _ => "a UdfControlResponse with no branch set",
        },
        _ => "a UdfResponse with no branch set",
    };

    public static string Describe(UdfRequest request) => request.RequestCase switch
    {
        UdfRequest.RequestOneofCase.Data => string.Create(CultureInfo.InvariantCulture, $"DataRequest({request.Data.Data.Length} bytes)"),
        UdfRequest.RequestOneofCase.Control => request.Control.ControlCase switch
        {
            UdfControlRequest.ControlOneofCase.Init => DescribeInit(request.Control.Init),
            UdfControlRequest.ControlOneofCase.Payload => string.Create(
                CultureInfo.InvariantCulture,
                $"PayloadChunk({request.Control.Payload.Data.Length} bytes{(request.Control.Payload.Last ? ", last" : "")})"),
            UdfControlRequest.ControlOneofCase.Finish => "Finish",
            UdfControlRequest.ControlOneofCase.Cancel => "Cancel",
            _ => "a UdfControlRequest with no branch set",
        },
        _ => "a UdfRequest with no branch set",
    };

    private static string DescribeInit(Init init)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"Init(format '{init.Udf?.Format}', {init.Udf?.Payload.Length ?? 0}-byte payload");
        if (init.IsChunkingPayload)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", chunked: payload_size {init.Udf?.PayloadSize}, payload_crc32 {init.Udf?.PayloadCrc32}");
        }

        text += string.Create(CultureInfo.InvariantCulture, $", protocol_version {(init.HasProtocolVersion ? init.ProtocolVersion.ToString(CultureInfo.InvariantCulture) : "unset")}, data_format {init.DataFormat})");
        return text;
    }

    public static string Describe(ExecutionError? error) => error?.KindCase switch
    {
        ExecutionError.KindOneofCase.User => $"UserError '{error.User.Message}'" + (error.User.HasErrorClass ? $" class '{error.User.ErrorClass}'" : ""),
        ExecutionError.KindOneofCase.Worker => $"WorkerError '{error.Worker.Message}'",
        ExecutionError.KindOneofCase.Protocol => $"ProtocolError '{error.Protocol.Message}'",
        null => "no error",
        _ => "an ExecutionError with no kind set",
    };
}
