using System.Buffers.Binary;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;

namespace Engine.Client.Cli.Arrow;

/// <summary>
/// One record batch encoded as Arrow IPC messages: its schema message, the dictionary batch
/// messages of its dictionary-encoded columns (in the writer's id order: 0, 1, ...) and its record
/// batch message, each as the exact bytes an IPC stream holds.
/// </summary>
/// <remarks>
/// Apache.Arrow's stream and file writers write each dictionary once, with the first batch, and
/// never again: a later batch with other dictionary values would be written as indices into the
/// first batch's dictionary. Encoding every batch on its own gives each batch its own dictionary
/// messages, which the output then writes (stream) or checks (file).
/// </remarks>
internal sealed class ArrowBatchMessages : IDisposable
{
    private const int HeaderSchema = 1;
    private const int HeaderDictionaryBatch = 2;
    private const int HeaderRecordBatch = 3;

    private readonly MemoryStream _buffer = new();
    private readonly List<(int Start, int Length)> _dictionaries = [];
    private (int Start, int Length) _schema;
    private (int Start, int Length) _batch;

    /// <summary>The schema message.</summary>
    public ReadOnlyMemory<byte> Schema => Slice(_schema);

    /// <summary>The record batch message.</summary>
    public ReadOnlyMemory<byte> Batch => Slice(_batch);

    /// <summary>How many dictionary batch messages the batch has.</summary>
    public int DictionaryCount => _dictionaries.Count;

    /// <summary>Dictionary batch message <paramref name="id"/> (dictionary id = position).</summary>
    public ReadOnlyMemory<byte> Dictionary(int id) => Slice(_dictionaries[id]);

    /// <summary>Encodes <paramref name="batch"/>; the messages above are valid until the next call.</summary>
    /// <exception cref="InvalidDataException">The writer produced a message layout this reader does not know.</exception>
    public void Encode(RecordBatch batch)
    {
        _buffer.SetLength(0);
        using (var writer = new ArrowStreamWriter(_buffer, batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        _dictionaries.Clear();
        _schema = default;
        _batch = default;
        var bytes = _buffer.GetBuffer().AsSpan(0, (int)_buffer.Length);
        var position = 0;
        while (position < bytes.Length)
        {
            var (header, length) = ReadMessage(bytes[position..]);
            if (length == 0)
            {
                break;
            }

            switch (header)
            {
                case HeaderSchema:
                    _schema = (position, length);
                    break;
                case HeaderDictionaryBatch:
                    _dictionaries.Add((position, length));
                    break;
                case HeaderRecordBatch:
                    _batch = (position, length);
                    break;
                default:
                    throw new InvalidDataException($"Unexpected Arrow IPC message type {header}.");
            }

            position += length;
        }

        if (_schema.Length == 0 || _batch.Length == 0)
        {
            throw new InvalidDataException("The Arrow IPC writer produced no schema or no record batch message.");
        }
    }

    /// <summary>
    /// The dictionary-encoded fields of <paramref name="schema"/> in the order Apache.Arrow's
    /// writer assigns dictionary ids (depth first, in field order), as dotted paths.
    /// </summary>
    public static List<string> DictionaryFields(Schema schema)
    {
        var names = new List<string>();
        foreach (var field in schema.FieldsList)
        {
            Collect(field, field.Name, names);
        }

        return names;
    }

    public void Dispose() => _buffer.Dispose();

    private static void Collect(Field field, string path, List<string> names)
    {
        var type = field.DataType is ExtensionType extension ? extension.StorageType : field.DataType;
        if (type is DictionaryType)
        {
            names.Add(path);
        }
        else if (type is NestedType nested)
        {
            foreach (var child in nested.Fields)
            {
                Collect(child, $"{path}.{child.Name}", names);
            }
        }
    }

    /// <summary>
    /// The header type and total length (continuation, length prefix, metadata and body) of the
    /// encapsulated message at the start of <paramref name="bytes"/>; length 0 at the end-of-stream marker.
    /// </summary>
    private static (int Header, int Length) ReadMessage(ReadOnlySpan<byte> bytes)
    {
        // 0xFFFFFFFF, then the metadata length (int32, padded to 8), the Message flatbuffer, the body.
        var metadataLength = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        if (metadataLength == 0)
        {
            return (0, 0);
        }

        var metadata = bytes.Slice(8, metadataLength);

        // Message table: version (field 0), header_type (1), header (2), bodyLength (3).
        var table = BinaryPrimitives.ReadInt32LittleEndian(metadata);
        var vtable = table - BinaryPrimitives.ReadInt32LittleEndian(metadata[table..]);
        var vtableLength = BinaryPrimitives.ReadUInt16LittleEndian(metadata[vtable..]);
        var headerField = FieldOffset(metadata, vtable, vtableLength, 1);
        var bodyField = FieldOffset(metadata, vtable, vtableLength, 3);
        var header = headerField == 0 ? 0 : metadata[table + headerField];
        var body = bodyField == 0 ? 0 : BinaryPrimitives.ReadInt64LittleEndian(metadata[(table + bodyField)..]);
        return (header, checked(8 + metadataLength + (int)body));
    }

    private static int FieldOffset(ReadOnlySpan<byte> metadata, int vtable, int vtableLength, int index) =>
        4 + (2 * index) < vtableLength ? BinaryPrimitives.ReadUInt16LittleEndian(metadata[(vtable + 4 + (2 * index))..]) : 0;

    private ReadOnlyMemory<byte> Slice((int Start, int Length) range) => _buffer.GetBuffer().AsMemory(range.Start, range.Length);
}
