using Apache.Arrow;
using Apache.Arrow.Ipc;

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
        try
        {
            using var reader = new ArrowStreamReader(frame);
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
