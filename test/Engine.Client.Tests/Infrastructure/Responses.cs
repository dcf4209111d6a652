using System.Text;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// Worker responses in scripts: the shared builders (<see cref="UdfResponses"/>,
/// <see cref="ExecutionErrors"/>) under the short names the scripts read best with, plus text data.
/// </summary>
public static class Responses
{
    public static UdfResponse InitOk(ByteString? data = null) => UdfResponses.Init(data);

    public static UdfResponse InitError(ExecutionError error) => UdfResponses.InitError(error);

    public static UdfResponse Data(string text) => Data(ByteString.CopyFromUtf8(text));

    public static UdfResponse Data(ByteString data) => UdfResponses.Data(data);

    public static UdfResponse Error(ExecutionError error) => UdfResponses.Error(error);

    public static UdfResponse Finish(ExecutionError? error = null, ByteString? data = null, ExecutionMetrics? metrics = null) =>
        UdfResponses.Finish(metrics, data, error);

    public static UdfResponse Cancel(ExecutionError? error = null, ExecutionMetrics? metrics = null) =>
        UdfResponses.Cancel(metrics, error);

    public static UdfResponse EmptyEnvelope() => new();

    public static ExecutionError User(string message, string? errorClass = null, string? traceback = null) =>
        ExecutionErrors.User(message, errorClass, traceback);

    public static ExecutionError Worker(string message, string? traceback = null) => ExecutionErrors.Worker(message, traceback);

    public static ByteString Bytes(string text) => ByteString.CopyFrom(Encoding.UTF8.GetBytes(text));
}
