using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Payloads;

/// <summary>
/// The Init message and, when chunking, the payload to send after it in <c>PayloadChunk</c>s
/// (docs/protocol.md rule 2).
/// </summary>
internal sealed record InitPlan(UdfRequest Init, ReadOnlyMemory<byte> ChunkedPayload, int ChunkSize, int ChunkCount)
{
    /// <summary>Bytes reserved for the size and CRC fields, the chunking flag and the payload's own tag and length prefix.</summary>
    private const int PayloadFieldsAllowance = 32;

    /// <summary>The payload's whole size: <c>payload_size</c> when chunking, else the inline payload's.</summary>
    public int PayloadSize => Init.Control.Init.Udf.HasPayloadSize ? (int)Init.Control.Init.Udf.PayloadSize : Init.Control.Init.Udf.Payload.Length;

    /// <summary>
    /// Decides how <paramref name="payload"/> travels with <paramref name="init"/> (whose
    /// <c>udf</c> is set, its payload not): inline when the whole Init fits
    /// <paramref name="maxMessageSize"/> and chunking is not forced, else in chunks of
    /// <paramref name="chunkSize"/> bytes with <c>payload_size</c> and <c>payload_crc32</c> set.
    /// The payload is wrapped, never copied.
    /// </summary>
    /// <exception cref="ArgumentException">Init without its payload does not fit one message.</exception>
    public static InitPlan Create(Init init, ReadOnlyMemory<byte> payload, bool alwaysChunk, int maxMessageSize, int chunkSize)
    {
        var udf = init.Udf;
        var envelopeWithoutPayload = new UdfRequest { Control = new UdfControlRequest { Init = init } }.CalculateSize();
        var inlineSize = envelopeWithoutPayload + PayloadFieldsAllowance + payload.Length;
        var chunk = payload.Length > 0 && (alwaysChunk || inlineSize > maxMessageSize);

        if (envelopeWithoutPayload + PayloadFieldsAllowance > maxMessageSize)
        {
            throw new ArgumentException(
                $"Init without its payload is {envelopeWithoutPayload} bytes, over the worker's message limit of {maxMessageSize} bytes: schemas, task context, session conf and parameters must fit in one message. Make them smaller or raise {nameof(WorkerClientOptions)}.{nameof(WorkerClientOptions.Connection)}.{nameof(WorkerConnectionOptions.MaxSendMessageSize)} if the worker accepts more.");
        }

        if (chunk)
        {
            init.IsChunkingPayload = true;
            udf.PayloadSize = payload.Length;
            udf.PayloadCrc32 = PayloadChunker.Crc32(payload.Span);
            return new InitPlan(
                new UdfRequest { Control = new UdfControlRequest { Init = init } },
                payload,
                chunkSize,
                PayloadChunker.ChunkCount(payload.Length, chunkSize));
        }

        udf.Payload = UnsafeByteOperations.UnsafeWrap(payload);
        return new InitPlan(new UdfRequest { Control = new UdfControlRequest { Init = init } }, ReadOnlyMemory<byte>.Empty, chunkSize, 0);
    }
}
