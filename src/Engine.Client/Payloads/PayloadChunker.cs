using Engine.Client.Protocol;

namespace Engine.Client.Payloads;

/// <summary>
/// Splits a UDF payload into <c>PayloadChunk</c> messages (docs/protocol.md rule 2) without copying it:
/// each chunk wraps a slice of the caller's memory.
/// </summary>
internal static class PayloadChunker
{
    /// <summary>Bytes reserved for the envelope, tags and length prefixes around a chunk's data.</summary>
    public const int ChunkFramingAllowance = 64;

    /// <summary>How many chunks <paramref name="payloadLength"/> bytes make at <paramref name="chunkSize"/>.</summary>
    public static int ChunkCount(int payloadLength, int chunkSize) => (payloadLength + chunkSize - 1) / chunkSize;

    /// <summary>The chunk at <paramref name="index"/>; only the final one sets <c>last</c>.</summary>
    public static UdfRequest Chunk(ReadOnlyMemory<byte> payload, int chunkSize, int index)
    {
        var start = index * chunkSize;
        var length = Math.Min(chunkSize, payload.Length - start);
        return UdfRequests.Chunk(payload.Slice(start, length), last: start + length == payload.Length);
    }
}
