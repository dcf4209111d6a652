using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Memory;
using Engine.Client.Transport;

namespace Engine.Client.Arrow;

/// <summary>
/// Decodes a data-message frame (one Arrow IPC stream) without copying: the record batches'
/// buffers point into the frame's memory, which must stay unchanged for as long as they are used.
/// </summary>
internal static class ArrowFrameReader
{
    /// <summary>
    /// Reads the schema and every record batch of <paramref name="frame"/>. This SDK writes one
    /// batch per frame; a frame with none or several is read as it is.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a valid Arrow IPC stream; the message (a predicate such as <c>is not a valid Arrow IPC stream (...)</c>) says why.</exception>
    public static (Schema Schema, List<RecordBatch> Batches) Read(ReadOnlyMemory<byte> frame)
    {
        if (frame.IsEmpty)
        {
            throw new InvalidDataException("is empty, not an Arrow IPC stream");
        }

        var batches = new List<RecordBatch>(1);
        Schema? schema;
        var pooled = PooledBuffer.Of(frame);
        try
        {
            // A pooled frame is read into buffers the batches own (Apache.Arrow's allocator rules:
            // disposing a batch returns its buffer), and the frame goes back to the pool at once.
            using var reader = pooled is null
                ? new ArrowStreamReader(frame)
                : new ArrowStreamReader(pooled.OpenRead(), PooledArrowAllocator.Instance, leaveOpen: false);
            schema = reader.Schema;
            while (schema is not null && reader.ReadNextRecordBatch() is { } batch)
            {
                batches.Add(batch);
            }
        }
        catch (Exception ex) when (ArrowSchemas.IsDecodeFailure(ex))
        {
            Dispose(batches);
            throw new InvalidDataException($"is not a valid Arrow IPC stream ({ex.GetType().Name}: {ex.Message})", ex);
        }
        finally
        {
            ((IDisposable?)pooled)?.Dispose();
        }

        return schema is null
            ? throw new InvalidDataException("is not a valid Arrow IPC stream (no schema message)")
            : (schema, batches);
    }

    /// <summary>Disposes every batch in <paramref name="batches"/>.</summary>
    public static void Dispose(List<RecordBatch> batches)
    {
        foreach (var batch in batches)
        {
            batch.Dispose();
        }

        batches.Clear();
    }
}

/// <summary>Apache.Arrow buffers rented from the shared array pool as <see cref="PooledBuffer"/>s: a disposed batch's buffer refuses access.</summary>
internal sealed class PooledArrowAllocator : MemoryAllocator
{
    public static PooledArrowAllocator Instance { get; } = new();

    protected override System.Buffers.IMemoryOwner<byte> AllocateInternal(int length, out int bytesAllocated)
    {
        bytesAllocated = length;
        return PooledBuffer.Rent(length);
    }
}
