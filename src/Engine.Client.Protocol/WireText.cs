using System.Globalization;

namespace Engine.Client.Protocol;

/// <summary>
/// Short, precise descriptions of protocol messages for error messages and logs: kinds, sizes and
/// field values, never payload or batch bytes. <c>Name</c> gives the message's kind alone;
/// <c>Describe</c> adds sizes and the fields that tell messages of a kind apart.
/// </summary>
public static class WireText
{
    /// <summary>The kind of an engine message: <c>Init</c>, <c>PayloadChunk</c>, <c>DataRequest</c>, <c>Finish</c>, <c>Cancel</c>, or which envelope has no branch set.</summary>
    /// <param name="request">The message.</param>
    /// <returns>The kind's name.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    public static string Name(UdfRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.RequestCase switch
        {
            UdfRequest.RequestOneofCase.Data => "DataRequest",
            UdfRequest.RequestOneofCase.Control => request.Control.ControlCase switch
            {
                UdfControlRequest.ControlOneofCase.Init => "Init",
                UdfControlRequest.ControlOneofCase.Payload => "PayloadChunk",
                UdfControlRequest.ControlOneofCase.Finish => "Finish",
                UdfControlRequest.ControlOneofCase.Cancel => "Cancel",
                _ => "a UdfControlRequest with no branch set",
            },
            _ => "a UdfRequest with no branch set",
        };
    }

    /// <summary>The kind of a worker message: <c>InitResponse</c>, <c>DataResponse</c>, <c>ErrorResponse</c>, <c>FinishResponse</c>, <c>CancelResponse</c>, or which envelope has no branch set.</summary>
    /// <param name="response">The message.</param>
    /// <returns>The kind's name.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static string Name(UdfResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return response.ResponseCase switch
        {
            UdfResponse.ResponseOneofCase.Data => "DataResponse",
            UdfResponse.ResponseOneofCase.Control => response.Control.ControlCase switch
            {
                UdfControlResponse.ControlOneofCase.Init => "InitResponse",
                UdfControlResponse.ControlOneofCase.Error => "ErrorResponse",
                UdfControlResponse.ControlOneofCase.Finish => "FinishResponse",
                UdfControlResponse.ControlOneofCase.Cancel => "CancelResponse",
                _ => "a UdfControlResponse with no branch set",
            },
            _ => "a UdfResponse with no branch set",
        };
    }

    /// <summary>The branch of a Manage answer: <c>the Heartbeat branch</c>, <c>the Shutdown branch</c>, or <c>a WorkerResponse with no branch set</c>.</summary>
    /// <param name="response">The answer.</param>
    /// <returns>The description.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static string Name(WorkerResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return response.ManageCase == WorkerResponse.ManageOneofCase.None
            ? "a WorkerResponse with no branch set"
            : $"the {response.ManageCase} branch";
    }

    /// <summary>
    /// An engine message with its sizes and distinguishing fields, for example
    /// <c>Init(format 'echo', 30-byte payload, protocol_version 1, data_format Arrow)</c>,
    /// <c>PayloadChunk(12 bytes, last)</c> or <c>DataRequest(512 bytes)</c>.
    /// </summary>
    /// <param name="request">The message.</param>
    /// <returns>The description.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    public static string Describe(UdfRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.RequestCase switch
        {
            UdfRequest.RequestOneofCase.Data => string.Create(CultureInfo.InvariantCulture, $"DataRequest({request.Data.Data.Length} bytes)"),
            UdfRequest.RequestOneofCase.Control => request.Control.ControlCase switch
            {
                UdfControlRequest.ControlOneofCase.Init => DescribeInit(request.Control.Init),
                UdfControlRequest.ControlOneofCase.Payload => string.Create(
                    CultureInfo.InvariantCulture,
                    $"PayloadChunk({request.Control.Payload.Data.Length} bytes{(request.Control.Payload.Last ? ", last" : "")})"),
                _ => Name(request),
            },
            _ => Name(request),
        };
    }

    /// <summary>
    /// A worker message with its sizes and the error it carries, for example
    /// <c>DataResponse(512 bytes)</c> or <c>InitResponse(error UserError 'boom' class 'ValueError')</c>.
    /// </summary>
    /// <param name="response">The message.</param>
    /// <returns>The description.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static string Describe(UdfResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return response.ResponseCase switch
        {
            UdfResponse.ResponseOneofCase.Data => string.Create(CultureInfo.InvariantCulture, $"DataResponse({response.Data.Data.Length} bytes)"),
            UdfResponse.ResponseOneofCase.Control => response.Control.ControlCase switch
            {
                UdfControlResponse.ControlOneofCase.Init => WithError("InitResponse", response.Control.Init.Error),
                UdfControlResponse.ControlOneofCase.Error => $"ErrorResponse({Describe(response.Control.Error.Error)})",
                UdfControlResponse.ControlOneofCase.Finish => WithError("FinishResponse", response.Control.Finish.Error),
                UdfControlResponse.ControlOneofCase.Cancel => WithError("CancelResponse", response.Control.Cancel.Error),
                _ => Name(response),
            },
            _ => Name(response),
        };
    }

    /// <summary>
    /// An error's kind, message and class, for example <c>UserError 'boom' class 'ValueError'</c>,
    /// <c>WorkerError 'out of memory'</c>; <c>no error</c> for <see langword="null"/>.
    /// </summary>
    /// <param name="error">The error, or <see langword="null"/>.</param>
    /// <returns>The description.</returns>
    public static string Describe(ExecutionError? error) => error?.KindCase switch
    {
        ExecutionError.KindOneofCase.User => $"UserError '{error.User.Message}'" + (error.User.HasErrorClass ? $" class '{error.User.ErrorClass}'" : ""),
        ExecutionError.KindOneofCase.Worker => $"WorkerError '{error.Worker.Message}'",
        ExecutionError.KindOneofCase.Protocol => $"ProtocolError '{error.Protocol.Message}'",
        null => "no error",
        _ => "an ExecutionError with no kind set",
    };

    /// <summary>The protocol's name of an error kind: <c>UserError</c>, <c>WorkerError</c>, <c>ProtocolError</c>, or <c>no error kind</c>.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>The name.</returns>
    public static string KindName(ExecutionError.KindOneofCase kind) => kind switch
    {
        ExecutionError.KindOneofCase.User => "UserError",
        ExecutionError.KindOneofCase.Worker => "WorkerError",
        ExecutionError.KindOneofCase.Protocol => "ProtocolError",
        _ => "no error kind",
    };

    private static string WithError(string name, ExecutionError? error) => error is null ? name : $"{name}(error {Describe(error)})";

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
}
