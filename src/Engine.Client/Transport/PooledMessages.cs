using System.Buffers;
using System.Runtime.InteropServices;
using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Transport;

/// <summary>
/// <c>Execute</c> with a response marshaller that receives every batch into a pooled buffer
/// (<see cref="PooledBuffer"/>) instead of a fresh array per message: a <c>DataResponse</c> is read
/// straight from the message's <see cref="System.Buffers.ReadOnlySequence{T}"/> (one copy, out of
/// the gRPC layer's buffer), every other message by the generated parser as in
/// <see cref="WireMethods.Execute"/>.
/// </summary>
/// <remarks>
/// The batch's <see cref="ByteString"/> wraps the pooled buffer's memory
/// (<see cref="UnsafeByteOperations.UnsafeWrap(ReadOnlyMemory{byte})"/>), so the session code reads
/// it as any other batch; whoever ends up owning the batch finds the buffer with
/// <see cref="PooledBuffer.Of"/> and returns it by disposing it.
/// </remarks>
internal static class PooledMessages
{
    /// <summary><c>/org.apache.spark.udf.worker.UdfWorker/Execute</c>, batches received into pooled buffers.</summary>
    public static Method<UdfRequest, UdfResponse> Execute { get; } = new(
        MethodType.DuplexStreaming,
        UdfWorker.Descriptor.FullName,
        "Execute",
        WireMethods.Execute.RequestMarshaller,
        Marshallers.Create<UdfResponse>(
            static (message, context) => WireMethods.Execute.ResponseMarshaller.ContextualSerializer(message, context),
            ParseResponse));

    // UdfResponse.data (field 2) and DataResponse.data (field 1), both length-delimited (wire type 2).
    private const byte DataBranchTag = (2 << 3) | 2;
    private const byte DataBytesTag = (1 << 3) | 2;

    /// <summary>
    /// A message that is exactly <c>UdfResponse { data: DataResponse { data: bytes } }</c> with a
    /// non-empty batch goes into a pooled buffer; anything else (a control message, unknown fields,
    /// an empty batch, malformed bytes) is left to the generated parser, so its meaning is unchanged.
    /// </summary>
    internal static UdfResponse ParseResponse(DeserializationContext context)
    {
        var reader = new SequenceReader<byte>(context.PayloadAsReadOnlySequence());
        if (reader.TryRead(out var tag) && tag == DataBranchTag
            && TryReadLength(ref reader, out var envelope) && envelope == reader.Remaining
            && reader.TryRead(out var inner) && inner == DataBytesTag
            && TryReadLength(ref reader, out var length) && length == reader.Remaining && length > 0)
        {
            var buffer = PooledBuffer.Rent((int)length);
            reader.UnreadSequence.CopyTo(buffer.GetSpan());
            return new UdfResponse { Data = new DataResponse { Data = UnsafeByteOperations.UnsafeWrap(buffer.Memory) } };
        }

        return WireMethods.Execute.ResponseMarshaller.ContextualDeserializer(context);
    }

    /// <summary>A protobuf varint length that fits an <see cref="int"/>.</summary>
    private static bool TryReadLength(ref SequenceReader<byte> reader, out long value)
    {
        value = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            if (!reader.TryRead(out var b))
            {
                return false;
            }

            value |= (long)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value <= int.MaxValue;
            }
        }

        return false;
    }
}

/// <summary>
/// One received batch in an array rented from <see cref="ArrayPool{T}.Shared"/>, returned when the
/// buffer is disposed. After that every access through the buffer's memory throws
/// <see cref="ObjectDisposedException"/>: a <see cref="Memory{T}"/> from a memory manager asks the
/// manager for its span on every use, so a reader that kept the memory fails loudly instead of
/// reading a later batch's bytes. Never reused itself (only its array is), for that reason.
/// </summary>
internal sealed class PooledBuffer : MemoryManager<byte>
{
    private readonly int _length;
    private readonly bool _pooled;
    private byte[]? _array;
    private int _disposed;

    private PooledBuffer(byte[] array, int length, bool pooled)
    {
        _array = array;
        _length = length;
        _pooled = pooled;
    }

    /// <summary>The array behind the buffer (tests compare buffers by identity); <see langword="null"/> once returned.</summary>
    internal object? Array => Volatile.Read(ref _array);

    /// <summary>The batch's length in bytes, also once disposed.</summary>
    public int Length => _length;

    /// <summary>Whether the buffer was disposed (its array returned).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>A buffer of <paramref name="length"/> bytes from the shared pool.</summary>
    public static PooledBuffer Rent(int length) => new(ArrayPool<byte>.Shared.Rent(length), length, pooled: true);

    /// <summary>The pooled buffer behind <paramref name="memory"/>, or <see langword="null"/> when the memory is not one.</summary>
    public static PooledBuffer? Of(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetMemoryManager<byte, PooledBuffer>(memory, out var buffer) ? buffer : null;

    /// <summary>
    /// <paramref name="memory"/> as a buffer of its own: the pooled buffer behind it, or (memory of a
    /// message parsed the ordinary way) a buffer over that memory's array that returns nothing to the
    /// pool but still refuses access once disposed.
    /// </summary>
    public static PooledBuffer Adopt(ReadOnlyMemory<byte> memory)
    {
        if (Of(memory) is { } pooled && memory.Length == pooled._length)
        {
            return pooled;
        }

        if (MemoryMarshal.TryGetArray(memory, out var segment) && segment.Offset == 0 && segment.Array is { } array)
        {
            return new PooledBuffer(array, segment.Count, pooled: false);
        }

        var copy = Rent(memory.Length);
        memory.Span.CopyTo(copy.GetSpan());
        return copy;
    }

    /// <inheritdoc/>
    public override Span<byte> GetSpan() =>
        ((IsDisposed ? null : Volatile.Read(ref _array)) ?? throw Disposed()).AsSpan(0, _length);

    /// <summary>A read-only stream over the batch (for a decoder that copies what it keeps).</summary>
    public MemoryStream OpenRead() =>
        new(IsDisposed ? throw Disposed() : Volatile.Read(ref _array) ?? throw Disposed(), 0, _length, writable: false);

    /// <inheritdoc/>
    /// <remarks>Pins the array itself; disposing the buffer while it is pinned is the holder's error, as with any memory owner.</remarks>
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        var array = (IsDisposed ? null : Volatile.Read(ref _array)) ?? throw Disposed();
        return array.AsMemory(elementIndex, _length - elementIndex).Pin();
    }

    /// <inheritdoc/>
    public override void Unpin()
    {
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Return();
        }
    }

    private void Return()
    {
        if (Interlocked.Exchange(ref _array, null) is { } array && _pooled)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    private static ObjectDisposedException Disposed() =>
        new(nameof(PooledOutput), "The batch's buffer was returned to the pool (the batch was disposed); it cannot be read any more.");
}
