using System.Text;
using Engine.Client.Conformance;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>Short builders for raw wire tests against the reference worker.</summary>
internal static class WireScript
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Opens a raw Execute stream with a 10 s bound on every wait.</summary>
    public static ConformanceStream Open(ReferenceWorkerProcess worker) => ConformanceStream.Open(worker.Channel.CreateCallInvoker(), Timeout, CancellationToken.None);

    public static Init Init(string format, string payload) => new()
    {
        ProtocolVersion = 1,
        DataFormat = UDFWorkerDataFormat.Arrow,
        Udf = new UdfPayload { Format = format, Payload = ByteString.CopyFromUtf8(payload) },
    };

    public static Init Echo() => Init("echo", "");

    public static Init Fault(string fault) => Init("fault", fault);

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Sends Init and expects a successful InitResponse.</summary>
    public static async Task<InitResponse> StartAsync(ConformanceStream stream, Init init)
    {
        await stream.SendInitAsync(init);
        return await stream.ExpectInitAsync();
    }

    public static UdfRequest Data(string text) => UdfRequests.Data(Bytes(text));
}
