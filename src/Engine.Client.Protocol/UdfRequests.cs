using Google.Protobuf;

namespace Engine.Client.Protocol;

/// <summary>
/// Builders of the engine's messages on an Execute stream (<see cref="UdfRequest"/> envelopes),
/// so that every sender (an engine, a test, the conformance kit) builds them one way.
/// </summary>
/// <remarks>
/// The builders that take <see cref="ReadOnlyMemory{T}"/> wrap it without copying: the memory
/// must not change until the message has been written to the stream.
/// </remarks>
public static class UdfRequests
{
    /// <summary>An <c>Init</c> envelope (docs/protocol.md rule 1: the first message of a stream).</summary>
    /// <param name="init">The Init message, sent as given.</param>
    /// <returns>A new envelope holding <paramref name="init"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="init"/> is <see langword="null"/>.</exception>
    public static UdfRequest Init(Init init)
    {
        ArgumentNullException.ThrowIfNull(init);
        return Control(new UdfControlRequest { Init = init });
    }

    /// <summary>A <c>DataRequest</c> envelope holding one input batch, wrapped without a copy.</summary>
    /// <param name="batch">The batch in the session's data format (an Arrow IPC stream for <c>ARROW</c>); may be empty.</param>
    /// <returns>A new envelope whose data is <paramref name="batch"/>.</returns>
    public static UdfRequest Data(ReadOnlyMemory<byte> batch) =>
        new() { Data = new DataRequest { Data = UnsafeByteOperations.UnsafeWrap(batch) } };

    /// <summary>A <c>Finish</c> envelope: the engine sends no more input (docs/protocol.md rule 6).</summary>
    /// <param name="finish">The Finish message, or <see langword="null"/> (default) for an empty one.</param>
    /// <returns>A new envelope.</returns>
    public static UdfRequest Finish(Finish? finish = null) => Control(new UdfControlRequest { Finish = finish ?? new Finish() });

    /// <summary>A <c>Cancel</c> envelope (docs/protocol.md rule 6).</summary>
    /// <param name="reason">Why the engine cancels, for the worker's logs; <see langword="null"/> leaves the field unset.</param>
    /// <returns>A new envelope.</returns>
    public static UdfRequest Cancel(string? reason = null)
    {
        var cancel = new Cancel();
        if (reason is not null)
        {
            cancel.Reason = reason;
        }

        return Control(new UdfControlRequest { Cancel = cancel });
    }

    /// <summary>A <c>PayloadChunk</c> envelope (docs/protocol.md rule 2), its data wrapped without a copy.</summary>
    /// <param name="data">The chunk's bytes.</param>
    /// <param name="last"><see langword="true"/> for the final chunk of the payload (sets <c>last</c>; left unset otherwise).</param>
    /// <returns>A new envelope.</returns>
    public static UdfRequest Chunk(ReadOnlyMemory<byte> data, bool last)
    {
        var chunk = new PayloadChunk { Data = UnsafeByteOperations.UnsafeWrap(data) };
        if (last)
        {
            chunk.Last = true;
        }

        return Control(new UdfControlRequest { Payload = chunk });
    }

    /// <summary>
    /// The <c>payload_crc32</c> of an assembled payload: CRC-32 (IEEE 802.3, the polynomial zlib
    /// uses) over its bytes, as docs/protocol.md rule 2 defines it.
    /// </summary>
    /// <param name="payload">The whole payload, all chunks in order.</param>
    /// <returns>The checksum.</returns>
    public static uint PayloadCrc32(ReadOnlySpan<byte> payload) => System.IO.Hashing.Crc32.HashToUInt32(payload);

    private static UdfRequest Control(UdfControlRequest control) => new() { Control = control };
}
