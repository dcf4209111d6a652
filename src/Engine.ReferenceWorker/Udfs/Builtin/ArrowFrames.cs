using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs.Builtin;

/// <summary>
/// The worker's side of the Arrow framing, with nothing but Apache.Arrow's standard stream reader
/// and writer: each data message is one complete IPC stream (schema, record batches, end-of-stream).
/// A frame with several batches is read whole; the worker writes one batch per frame.
/// </summary>
internal sealed class ArrowFrames : IDisposable
{
    // Reused for every output frame; each frame is copied out once, at its exact size, because
    // the stream queues it until the engine reads it.
    private readonly MemoryStream _stream = new();

    /// <summary>Reads every batch of <paramref name="frame"/> without copying (they point into its memory).</summary>
    /// <exception cref="InvalidDataException">Not a valid Arrow IPC stream.</exception>
    public static (Schema Schema, List<RecordBatch> Batches) Read(ByteString frame)
    {
        var batches = new List<RecordBatch>(1);
        try
        {
            using var reader = new ArrowStreamReader(frame.Memory);
            var schema = reader.Schema ?? throw new InvalidDataException("the stream holds no schema message");
            while (reader.ReadNextRecordBatch() is { } batch)
            {
                batches.Add(batch);
            }

            return (schema, batches);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new InvalidDataException($"not a valid Arrow IPC stream ({ex.GetType().Name}: {ex.Message})", ex);
        }
    }

    /// <summary>Reads the schema-only IPC stream of <c>Init.input_schema</c> or <c>Init.output_schema</c>.</summary>
    /// <exception cref="InvalidDataException">Not an Arrow IPC stream.</exception>
    public static Schema ReadSchema(ByteString ipc)
    {
        try
        {
            using var reader = new ArrowStreamReader(ipc.Memory);
            return reader.Schema ?? throw new InvalidDataException("the stream holds no schema message");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new InvalidDataException($"not an Arrow IPC stream ({ex.GetType().Name}: {ex.Message})", ex);
        }
    }

    /// <summary>An IPC stream holding <paramref name="schema"/> only.</summary>
    public static ByteString WriteSchema(Schema schema)
    {
        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, schema, leaveOpen: true))
        {
            writer.WriteStart();
            writer.WriteEnd();
        }

        return ByteString.CopyFrom(stream.GetBuffer(), 0, (int)stream.Length);
    }

    /// <summary>
    /// Where <paramref name="actual"/> differs from <paramref name="expected"/> (field names and
    /// types, in order; nullability and metadata are not compared), or <see langword="null"/>.
    /// </summary>
    public static string? FindDifference(Schema expected, Schema actual)
    {
        var want = expected.FieldsList;
        var have = actual.FieldsList;
        if (want.Count != have.Count)
        {
            return string.Create(CultureInfo.InvariantCulture, $"it has {have.Count} fields where the schema has {want.Count} ({Names(actual)} versus {Names(expected)})");
        }

        for (var i = 0; i < want.Count; i++)
        {
            if (!string.Equals(want[i].Name, have[i].Name, StringComparison.Ordinal))
            {
                return string.Create(CultureInfo.InvariantCulture, $"field {i} is named '{have[i].Name}' where the schema has '{want[i].Name}'");
            }

            if (TypeName(want[i].DataType) != TypeName(have[i].DataType))
            {
                return string.Create(CultureInfo.InvariantCulture, $"field {i} '{have[i].Name}' is {TypeName(have[i].DataType)} where the schema has {TypeName(want[i].DataType)}");
            }
        }

        return null;
    }

    /// <summary>A type with the parameters that distinguish it, for example <c>timestamp[us, UTC]</c>.</summary>
    public static string TypeName(IArrowType type) => type switch
    {
        TimestampType t => string.IsNullOrEmpty(t.Timezone) ? $"timestamp[{t.Unit}]" : $"timestamp[{t.Unit}, {t.Timezone}]",
        TimeBasedType t => $"{t.Name}[{t.Unit}]",
        FixedSizeBinaryType f => string.Create(CultureInfo.InvariantCulture, $"{f.Name}[{f.ByteWidth}]"),
        NestedType n => $"{n.Name}<{string.Join(", ", n.Fields.Select(f => TypeName(f.DataType)))}>",
        _ => type.Name,
    };

    /// <summary>
    /// <paramref name="batch"/> as one IPC stream with <paramref name="schema"/>, copied once into
    /// a message-owned buffer.
    /// </summary>
    public ByteString Write(RecordBatch batch, Schema schema)
    {
        // The writer finds a dictionary column's id through the schema it was given: a batch that
        // still carries its input frame's schema object is written under the output schema.
        if (!ReferenceEquals(batch.Schema, schema))
        {
            batch = new RecordBatch(schema, batch.Arrays, batch.Length);
        }

        _stream.SetLength(0);
        using (var writer = new ArrowStreamWriter(_stream, schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return ByteString.CopyFrom(_stream.GetBuffer(), 0, (int)_stream.Length);
    }

    public void Dispose() => _stream.Dispose();

    private static string Names(Schema schema) => string.Join(", ", schema.FieldsList.Select(f => f.Name));
}
