using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Engine.Client.Cli.Arrow;

/// <summary>Recognizes an Arrow IPC stream holding only a schema (what builtin UDFs return as init data) and describes it.</summary>
internal static class ArrowSchemaText
{
    /// <summary>For example <c>Arrow schema: id int64, x int32, name utf8</c>, or <see langword="null"/> when the bytes are not a schema-only stream.</summary>
    public static string? TryDescribe(ReadOnlyMemory<byte>? bytes) => TryRead(bytes) is { } schema
        ? "Arrow schema: " + string.Join(", ", schema.FieldsList.Select(f => $"{f.Name} {f.DataType.Name}"))
        : null;

    /// <summary>The schema of a schema-only Arrow IPC stream, or <see langword="null"/> when the bytes are not one.</summary>
    public static Schema? TryRead(ReadOnlyMemory<byte>? bytes)
    {
        if (bytes is not { Length: > 8 } data)
        {
            return null;
        }

        try
        {
            using var reader = new ArrowStreamReader(data);
            var schema = reader.Schema;
            if (schema is null)
            {
                return null;
            }

            if (reader.ReadNextRecordBatch() is { } batch)
            {
                batch.Dispose();
                return null;
            }

            return schema;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or OverflowException or NotSupportedException or InvalidCastException or NullReferenceException)
        {
            return null;
        }
    }
}
