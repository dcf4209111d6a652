using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;

namespace Engine.Client.Load;

/// <summary>
/// The input batches every session of a scenario sends: encoded once, before the run, as the data
/// messages of the protocol (one Arrow IPC stream per batch: schema, batch, end of stream), and
/// shared read-only by every session, so that the generator spends its time on sessions, not on
/// encoding.
/// </summary>
public sealed class LoadInput
{
    private LoadInput(Schema? schema, IReadOnlyList<ReadOnlyMemory<byte>> batches, IReadOnlyList<long> rows, string description)
    {
        Schema = schema;
        Batches = batches;
        BatchRows = rows;
        Description = description;
    }

    /// <summary>No input: Finish follows the InitResponse (a generator UDF).</summary>
    public static LoadInput None { get; } = new(null, [], [], "none");

    /// <summary>The input schema declared in Init, or <see langword="null"/> for no input.</summary>
    public Schema? Schema { get; }

    /// <summary>The encoded data messages, in order.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Batches { get; }

    /// <summary>The rows of each batch of <see cref="Batches"/>.</summary>
    public IReadOnlyList<long> BatchRows { get; }

    /// <summary>Rows per session.</summary>
    public long Rows => BatchRows.Sum();

    /// <summary>Bytes per session, data messages only.</summary>
    public long Bytes => Batches.Sum(b => (long)b.Length);

    /// <summary>A short description for reports: where the batches came from.</summary>
    public string Description { get; }

    /// <summary>
    /// Input made of data messages sent as they are, for UDFs whose input is not Arrow (no input
    /// schema is declared, and rows are not counted).
    /// </summary>
    /// <param name="messages">The data messages, none empty.</param>
    /// <param name="description">What they are, for reports.</param>
    /// <exception cref="ArgumentException">A message is empty.</exception>
    public static LoadInput FromMessages(IEnumerable<ReadOnlyMemory<byte>> messages, string description = "messages")
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToList();
        if (list.Any(m => m.IsEmpty))
        {
            throw new ArgumentException("A data message must not be empty.", nameof(messages));
        }

        return new LoadInput(null, list, [.. list.Select(_ => 0L)], description);
    }

    /// <summary>Input made of <paramref name="batches"/>, encoded once; every batch must have <paramref name="schema"/>.</summary>
    /// <param name="schema">The input schema.</param>
    /// <param name="batches">The batches; each is encoded now and not kept.</param>
    /// <param name="description">What the batches are, for reports.</param>
    /// <exception cref="ArgumentException">A batch has another schema, or is empty of columns.</exception>
    public static LoadInput FromBatches(Schema schema, IEnumerable<RecordBatch> batches, string description = "batches")
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(batches);
        var encoded = new List<ReadOnlyMemory<byte>>();
        var rows = new List<long>();
        foreach (var batch in batches)
        {
            encoded.Add(Encode(schema, batch));
            rows.Add(batch.Length);
        }

        return new LoadInput(schema, encoded, rows, description);
    }

    /// <summary>
    /// Reads every batch of an Arrow IPC file (starts with <c>ARROW1</c>) or stream (detected from
    /// the content) and encodes it.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="InvalidDataException">The file is not an Arrow IPC file or stream, or holds no schema.</exception>
    public static LoadInput FromArrowFile(string path)
    {
        return FromArrowBytes(File.ReadAllBytes(path), path);
    }

    /// <summary>As <see cref="FromArrowFile"/>, of the bytes read from <paramref name="path"/> (named in messages).</summary>
    /// <exception cref="InvalidDataException">The bytes are not an Arrow IPC file or stream, or hold no schema.</exception>
    internal static LoadInput FromArrowBytes(byte[] bytes, string path)
    {
        if (bytes.Length == 0)
        {
            throw new InvalidDataException($"'{path}' is empty: it holds no Arrow schema.");
        }

        var isFile = bytes.Length >= 6 && bytes.AsSpan(0, 6).SequenceEqual("ARROW1"u8);
        var batches = new List<RecordBatch>();
        Schema? schema;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            if (isFile)
            {
                using var reader = new ArrowFileReader(stream);
                schema = reader.Schema;
                while (reader.ReadNextRecordBatch() is { } batch)
                {
                    batches.Add(batch);
                }
            }
            else
            {
                using var reader = new ArrowStreamReader(stream);
                while (reader.ReadNextRecordBatch() is { } batch)
                {
                    batches.Add(batch);
                }

                schema = reader.Schema;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The bytes are in memory: whatever the reader throws (an end of stream, a bad magic,
            // a malformed message) says the content is not Arrow IPC.
            foreach (var batch in batches)
            {
                batch.Dispose();
            }

            throw new InvalidDataException($"'{path}' is not an Arrow IPC file or stream ({(isFile ? "it starts with ARROW1 but its content is damaged" : "it does not start with ARROW1 and does not read as an Arrow IPC stream")}); give a file written by an Arrow IPC writer, in the file format (.arrow) or the stream format (.arrows).", ex);
        }

        if (schema is null)
        {
            throw new InvalidDataException($"'{path}' holds no Arrow schema.");
        }

        try
        {
            return FromBatches(schema, batches, $"{Path.GetFileName(path)} ({batches.Count} batches)");
        }
        finally
        {
            foreach (var batch in batches)
            {
                batch.Dispose();
            }
        }
    }

    /// <summary>
    /// Generated input: <paramref name="batches"/> batches of <paramref name="batchRows"/> rows each
    /// (the last one shorter when <paramref name="rows"/> says so), with the columns of
    /// <paramref name="columns"/>, filled with deterministic values.
    /// </summary>
    /// <param name="columns">The columns: see <see cref="ParseColumns"/>.</param>
    /// <param name="rows">Rows per session; <see langword="null"/> for <paramref name="batchRows"/> times <paramref name="batches"/>.</param>
    /// <param name="batchRows">Rows per batch; <see langword="null"/> for 1024, or <paramref name="rows"/> spread over <paramref name="batches"/>.</param>
    /// <param name="batches">Batches per session; <see langword="null"/> for as many as <paramref name="rows"/> needs, or 1.</param>
    /// <exception cref="ArgumentException">A count is not positive, the three disagree, or a batch or the batch count would exceed <see cref="int.MaxValue"/>.</exception>
    public static LoadInput Generate(IReadOnlyList<Field> columns, long? rows, int? batchRows, int? batches)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0)
        {
            throw new ArgumentException("Generated input needs at least one column.", nameof(columns));
        }

        var (total, perBatch, count) = Shape(rows, batchRows, batches);
        var schema = new Schema(columns, null);
        var encoded = new List<ReadOnlyMemory<byte>>((int)count);
        var counts = new List<long>((int)count);
        long start = 0;
        for (var i = 0; i < count; i++)
        {
            // Each batch is encoded as soon as it is made and disposed: only the encoded input stays.
            var length = (int)Math.Min(perBatch, total - start);
            using (var batch = MakeBatch(schema, start, length))
            {
                encoded.Add(Encode(schema, batch));
            }

            counts.Add(length);
            start += length;
        }

        var description = string.Create(CultureInfo.InvariantCulture,
            $"generated: {total} rows in {count} batches of {perBatch} rows ({string.Join(", ", columns.Select(c => $"{c.Name} {c.DataType.Name}"))})");
        return new LoadInput(schema, encoded, counts, description);
    }

    /// <summary>
    /// The rows per session, rows per batch and batches that <see cref="Generate"/> makes of the
    /// counts given (see there), computed without overflow.
    /// </summary>
    /// <exception cref="ArgumentException">A count is not positive, the three disagree, or a batch or the batch count would exceed <see cref="int.MaxValue"/>.</exception>
    internal static (long Total, long PerBatch, long Count) Shape(long? rows, int? batchRows, int? batches)
    {
        if (rows is <= 0 || batchRows is <= 0 || batches is <= 0)
        {
            throw new ArgumentException("Rows, rows per batch and batches must be positive.");
        }

        long perBatch;
        long count;
        long total;
        switch (rows, batchRows, batches)
        {
            case ({ } r, { } br, { } b):
                if ((long)br * b < r || (long)br * (b - 1) >= r)
                {
                    throw new ArgumentException($"{r} rows do not fill {b} batches of {br} rows; give two of rows, rows per batch and batches.");
                }

                (perBatch, count, total) = (br, b, r);
                break;
            case ({ } r, { } br, null):
                (perBatch, count, total) = (br, (r / br) + (r % br == 0 ? 0 : 1), r);
                break;
            case ({ } r, null, { } b):
                (perBatch, count, total) = ((r / b) + (r % b == 0 ? 0 : 1), b, r);
                break;
            case ({ } r, null, null):
                perBatch = Math.Min(1024, r);
                (count, total) = ((r / perBatch) + (r % perBatch == 0 ? 0 : 1), r);
                break;
            case (null, var br, var b):
                perBatch = br ?? 1024;
                count = b ?? 1;
                total = perBatch * count;
                break;
        }

        if (perBatch > int.MaxValue || count > int.MaxValue)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{total} rows make {count} batches of {perBatch} rows; a batch holds at most {int.MaxValue} rows and a session sends at most {int.MaxValue} batches."));
        }

        return (total, perBatch, count);
    }

    /// <summary>
    /// About how many bytes generated input of <paramref name="rows"/> rows in <paramref name="batches"/>
    /// batches takes per session, encoded: the rows times the width of a row (see
    /// <see cref="RowBytes"/>) and the schema and framing each batch's data message carries.
    /// </summary>
    internal static double EstimateBytes(IReadOnlyList<Field> columns, long rows, long batches) =>
        ((double)rows * RowBytes(columns)) + ((double)batches * (512 + (columns.Count * 192)));

    /// <summary>
    /// The bytes one generated row takes: 4 for int32, 8 for int64 and float64, 1/8 for bool, and a
    /// string or binary value's length plus its 4-byte offset.
    /// </summary>
    internal static double RowBytes(IReadOnlyList<Field> columns) => columns.Sum(c => c.DataType switch
    {
        Int32Type => 4.0,
        BooleanType => 0.125,
        StringType or BinaryType => 4.0 + (c.Metadata is { } m && m.TryGetValue("load.width", out var w) ? int.Parse(w, CultureInfo.InvariantCulture) : 8),
        _ => 8.0,
    });

    /// <summary>
    /// Parses column definitions: <c>name:type</c> separated by commas, types <c>int32</c>,
    /// <c>int64</c>, <c>float64</c> (or <c>double</c>), <c>bool</c>, <c>string</c> (or
    /// <c>string(N)</c> for values of N characters, default 8) and <c>binary</c> (or <c>binary(N)</c>).
    /// Example: <c>id:int64,x:float64,s:string(32)</c>.
    /// </summary>
    /// <param name="text">The definitions.</param>
    /// <returns>The fields; a string or binary length is kept in the field's metadata.</returns>
    /// <exception cref="FormatException">A definition is malformed or names an unknown type.</exception>
    public static IReadOnlyList<Field> ParseColumns(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var fields = new List<Field>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || colon == part.Length - 1)
            {
                throw new FormatException($"column '{part}' is not name:type (for example x:int64).");
            }

            var name = part[..colon];
            var type = part[(colon + 1)..].ToLowerInvariant();
            var width = 8;
            var paren = type.IndexOf('(', StringComparison.Ordinal);
            if (paren > 0)
            {
                if (!type.EndsWith(')') || !int.TryParse(type[(paren + 1)..^1], NumberStyles.None, CultureInfo.InvariantCulture, out width) || width <= 0 || width > 1 << 20)
                {
                    throw new FormatException($"column '{part}': the length in parentheses must be a whole number from 1 to 1048576.");
                }

                type = type[..paren];
            }

            IArrowType arrowType = type switch
            {
                "int32" => Int32Type.Default,
                "int64" => Int64Type.Default,
                "float64" or "double" => DoubleType.Default,
                "bool" or "boolean" => BooleanType.Default,
                "string" or "utf8" => StringType.Default,
                "binary" => BinaryType.Default,
                _ => throw new FormatException($"column '{part}': unknown type '{type}'; use int32, int64, float64, bool, string, string(N), binary or binary(N)."),
            };
            if (paren > 0 && arrowType is not StringType and not BinaryType)
            {
                throw new FormatException($"column '{part}': only string and binary take a length.");
            }

            var metadata = arrowType is StringType or BinaryType
                ? new Dictionary<string, string> { ["load.width"] = width.ToString(CultureInfo.InvariantCulture) }
                : null;
            fields.Add(new Field(name, arrowType, nullable: false, metadata));
        }

        if (fields.Count == 0)
        {
            throw new FormatException("no column given; use name:type, for example x:int64.");
        }

        return fields;
    }

    private static RecordBatch MakeBatch(Schema schema, long start, int length)
    {
        var arrays = new List<IArrowArray>(schema.FieldsList.Count);
        foreach (var field in schema.FieldsList)
        {
            var width = field.Metadata is { } m && m.TryGetValue("load.width", out var w) ? int.Parse(w, CultureInfo.InvariantCulture) : 8;
            arrays.Add(field.DataType switch
            {
                Int32Type => Fill(new Int32Array.Builder(), length, i => (int)((start + i) % int.MaxValue)),
                Int64Type => Fill(new Int64Array.Builder(), length, i => start + i),
                DoubleType => Fill(new DoubleArray.Builder(), length, i => (start + i) * 0.5),
                BooleanType => FillBool(length, start),
                StringType => FillString(length, start, width),
                BinaryType => FillBinary(length, start, width),
                _ => throw new InvalidOperationException($"no generator for {field.DataType.Name}"),
            });
        }

        return new RecordBatch(schema, arrays, length);
    }

    private static IArrowArray Fill<T, TArray, TBuilder>(PrimitiveArrayBuilder<T, TArray, TBuilder> builder, int length, Func<long, T> value)
        where T : struct
        where TArray : IArrowArray
        where TBuilder : class, IArrowArrayBuilder<TArray>
    {
        builder.Reserve(length);
        for (var i = 0; i < length; i++)
        {
            builder.Append(value(i));
        }

        return builder.Build(default);
    }

    private static BooleanArray FillBool(int length, long start)
    {
        var builder = new BooleanArray.Builder().Reserve(length);
        for (var i = 0; i < length; i++)
        {
            builder.Append((start + i) % 2 == 0);
        }

        return builder.Build(default);
    }

    private static StringArray FillString(int length, long start, int width)
    {
        var builder = new StringArray.Builder();
        for (var i = 0; i < length; i++)
        {
            var digits = (start + i).ToString(CultureInfo.InvariantCulture);
            builder.Append(digits.Length >= width ? digits[^width..] : digits.PadLeft(width, 'a'));
        }

        return builder.Build(default);
    }

    private static BinaryArray FillBinary(int length, long start, int width)
    {
        var builder = new BinaryArray.Builder();
        var buffer = new byte[width];
        for (var i = 0; i < length; i++)
        {
            BitConverter.TryWriteBytes(buffer.AsSpan(0, Math.Min(8, width)), start + i);
            builder.Append(buffer.AsSpan());
        }

        return builder.Build(default);
    }

    private static ReadOnlyMemory<byte> Encode(Schema schema, RecordBatch batch)
    {
        if (!SameFields(schema, batch.Schema))
        {
            throw new ArgumentException("A batch's schema differs from the input schema.", nameof(batch));
        }

        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return stream.ToArray();
    }

    private static bool SameFields(Schema a, Schema b) =>
        a.FieldsList.Count == b.FieldsList.Count &&
        a.FieldsList.Zip(b.FieldsList).All(p => p.First.Name == p.Second.Name && p.First.DataType.TypeId == p.Second.DataType.TypeId);
}
