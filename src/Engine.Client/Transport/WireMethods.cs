using System.Runtime.CompilerServices;
using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Transport;

/// <summary>
/// The two methods of the <c>UdfWorker</c> service as the engine calls them: the generated
/// descriptors' paths, with response marshallers that never throw on bytes that are not a valid
/// protobuf message.
/// </summary>
/// <remarks>
/// Grpc.Net.Client turns a deserializer's exception into a gRPC status of its own choosing (seen as
/// <c>Unavailable</c>, which callers retry), hiding that the worker broke the protocol. Here a message
/// that does not parse becomes an empty envelope (no oneof branch set, already a protocol violation
/// for every caller) remembered with its parse error, so the reader reports a protocol violation
/// that names it. The lookup runs only on the no-branch path, never per valid message.
/// </remarks>
internal static class WireMethods
{
    private static readonly ConditionalWeakTable<IMessage, InvalidProtocolBufferException> Malformed = [];

    /// <summary><c>/org.apache.spark.udf.worker.UdfWorker/Execute</c>.</summary>
    public static Method<UdfRequest, UdfResponse> Execute { get; } = new(
        MethodType.DuplexStreaming,
        UdfWorker.Descriptor.FullName,
        "Execute",
        Marshallers.Create(Serialize, static context => Parse(context, UdfRequest.Parser)),
        Marshallers.Create(Serialize, static context => Parse(context, UdfResponse.Parser)));

    /// <summary><c>/org.apache.spark.udf.worker.UdfWorker/Manage</c>.</summary>
    public static Method<WorkerRequest, WorkerResponse> Manage { get; } = new(
        MethodType.Unary,
        UdfWorker.Descriptor.FullName,
        "Manage",
        Marshallers.Create(Serialize, static context => Parse(context, WorkerRequest.Parser)),
        Marshallers.Create(Serialize, static context => Parse(context, WorkerResponse.Parser)));

    /// <summary>The parse error of a message that arrived as bytes that are not a valid message, or <see langword="null"/>.</summary>
    public static string? ParseErrorOf(IMessage message) =>
        Malformed.TryGetValue(message, out var error) ? error.Message : null;

    private static void Serialize<T>(T message, SerializationContext context)
        where T : IBufferMessage
    {
        context.SetPayloadLength(message.CalculateSize());
        message.WriteTo(context.GetBufferWriter());
        context.Complete();
    }

    private static T Parse<T>(DeserializationContext context, MessageParser<T> parser)
        where T : IMessage<T>, new()
    {
        try
        {
            return parser.ParseFrom(context.PayloadAsReadOnlySequence());
        }
        catch (InvalidProtocolBufferException ex)
        {
            var malformed = new T();
            Malformed.AddOrUpdate(malformed, ex);
            return malformed;
        }
    }
}
