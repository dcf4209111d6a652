using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Protocol;

/// <summary>
/// The two methods of the <c>UdfWorker</c> service with marshallers that never throw on bytes that
/// are not a valid protobuf message: call them through a <see cref="CallInvoker"/> (for example
/// <c>invoker.AsyncDuplexStreamingCall(WireMethods.Execute, null, options)</c>) in place of the
/// generated client's methods.
/// </summary>
/// <remarks>
/// <para>
/// With the generated marshallers, Grpc.Net.Client turns a deserializer's exception into a gRPC
/// status of its own choosing (seen as <c>Unavailable</c>, which callers retry), hiding that the
/// peer broke the protocol. Here a message that does not parse becomes an empty envelope (no oneof
/// branch set, already a protocol violation for every reader) remembered with its parse error:
/// <see cref="ParseErrorOf(IMessage)"/> then names it, so the reader reports a protocol violation
/// that says what arrived. The lookup is only needed on the no-branch path, never per valid message.
/// </para>
/// <para>The paths, method types and wire encoding are the generated descriptors' own: a peer sees no difference.</para>
/// </remarks>
public static class WireMethods
{
    private static readonly ConditionalWeakTable<IMessage, InvalidProtocolBufferException> Malformed = [];

    /// <summary><c>/org.apache.spark.udf.worker.UdfWorker/Execute</c>, a bidirectional stream.</summary>
    public static Method<UdfRequest, UdfResponse> Execute { get; } = new(
        MethodType.DuplexStreaming,
        UdfWorker.Descriptor.FullName,
        "Execute",
        Marshallers.Create(Serialize, static context => Parse(context, UdfRequest.Parser)),
        Marshallers.Create(Serialize, static context => Parse(context, UdfResponse.Parser)));

    /// <summary><c>/org.apache.spark.udf.worker.UdfWorker/Manage</c>, a unary call.</summary>
    public static Method<WorkerRequest, WorkerResponse> Manage { get; } = new(
        MethodType.Unary,
        UdfWorker.Descriptor.FullName,
        "Manage",
        Marshallers.Create(Serialize, static context => Parse(context, WorkerRequest.Parser)),
        Marshallers.Create(Serialize, static context => Parse(context, WorkerResponse.Parser)));

    /// <summary>
    /// The parse error of a message that arrived as bytes that are not a valid message (it was
    /// read as an empty one), or <see langword="null"/> for a message that parsed.
    /// </summary>
    /// <param name="message">A message these methods' marshallers produced.</param>
    /// <returns>The protobuf library's description of why the bytes did not parse, or <see langword="null"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is <see langword="null"/>.</exception>
    public static string? ParseErrorOf(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Malformed.TryGetValue(message, out var error) ? error.Message : null;
    }

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
