using System.Globalization;
using System.Text;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Types;
using Engine.Client.Arrow;
using Engine.Client.Protocol;

namespace Engine.Client.Conformance;

/// <summary>
/// Reads a conformance profile (JSON) into <see cref="WorkerConformanceOptions"/>. The format is
/// in docs/conformance.md ("Writing a profile"); unknown keys are rejected so that a typo never
/// turns a check into "not applicable" silently.
/// </summary>
internal static class ConformanceProfile
{
    private static readonly string[] TopKeys = ["name", WorkerConformanceOptions.EchoKey, WorkerConformanceOptions.InitFailureKey, WorkerConformanceOptions.UserErrorKey, WorkerConformanceOptions.LargeOutputKey, WorkerConformanceOptions.KeepAliveKey, WorkerConformanceOptions.ArrowOutputKey, "schema"];
    private static readonly string[] KeepAliveKeys = ["pingDelayMs"];
    private static readonly string[] ArrowOutputKeys = ["format", "payload", "payloadBase64", "inputSchema", "outputSchema"];
    private static readonly string[] LargeOutputKeys = ["format", "payload", "payloadBase64", "bytes"];
    private static readonly string[] EchoKeys = ["format", "payload", "payloadBase64"];
    private static readonly string[] InitFailureKeys = ["format", "payload", "payloadBase64", "errorKind"];
    private static readonly string[] UserErrorKeys = ["format", "payload", "payloadBase64", "batch", "message", "errorClass", "traceback"];
    private static readonly string[] FieldKeys = ["name", "type", "nullable"];

    public static WorkerConformanceOptions Parse(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The profile is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            RequireObject(root, "the profile");
            RequireKnownKeys(root, TopKeys, "");
            var options = new WorkerConformanceOptions
            {
                ProfileName = OptionalString(root, "name", "") ?? "unnamed profile",
                EchoFormat = null,
                InitFailureFormat = null,
                ExpectedInitFailureKind = null,
                UserErrorFormat = null,
                ExpectedUserErrorMessage = null,
                ExpectedUserErrorClass = null,
                LargeOutputFormat = null,
                KeepAlivePingDelay = null,
                ArrowOutputFormat = null,
            };

            if (Section(root, WorkerConformanceOptions.EchoKey, EchoKeys) is { } echo)
            {
                options.EchoFormat = RequiredString(echo, "format", "echo.");
                options.EchoPayload = Payload(echo, "echo.") ?? options.EchoPayload;
            }

            if (Section(root, WorkerConformanceOptions.InitFailureKey, InitFailureKeys) is { } initFailure)
            {
                options.InitFailureFormat = RequiredString(initFailure, "format", "initFailure.");
                options.InitFailurePayload = Payload(initFailure, "initFailure.") ?? options.InitFailurePayload;
                options.ExpectedInitFailureKind = OptionalString(initFailure, "errorKind", "initFailure.") is { } kind ? ErrorKind(kind) : null;
            }

            if (Section(root, WorkerConformanceOptions.UserErrorKey, UserErrorKeys) is { } userError)
            {
                options.UserErrorFormat = RequiredString(userError, "format", "userError.");
                options.UserErrorPayload = Payload(userError, "userError.") ?? ReadOnlyMemory<byte>.Empty;
                if (userError.TryGetProperty("batch", out var batch))
                {
                    options.UserErrorBatch = batch.ValueKind == JsonValueKind.Number && batch.TryGetInt32(out var index) && index is >= 0 and <= 2
                        ? index
                        : throw new FormatException("The profile key userError.batch must be 0, 1 or 2 (the kit sends three batches).");
                }

                options.ExpectedUserErrorMessage = OptionalString(userError, "message", "userError.");
                options.ExpectedUserErrorClass = OptionalString(userError, "errorClass", "userError.");
                options.ExpectedUserErrorTraceback = OptionalString(userError, "traceback", "userError.");
            }

            if (Section(root, WorkerConformanceOptions.LargeOutputKey, LargeOutputKeys) is { } largeOutput)
            {
                options.LargeOutputFormat = RequiredString(largeOutput, "format", "largeOutput.");
                options.LargeOutputPayload = Payload(largeOutput, "largeOutput.") ?? ReadOnlyMemory<byte>.Empty;
                options.LargeOutputBytes = largeOutput.TryGetProperty("bytes", out var bytes) && bytes.ValueKind == JsonValueKind.Number && bytes.TryGetInt32(out var size) && size > 4 * 1024 * 1024
                    ? size
                    : throw new FormatException("The profile key largeOutput.bytes is required: the exact size of the output, above 4194304 (4 MiB).");
            }

            if (Section(root, WorkerConformanceOptions.KeepAliveKey, KeepAliveKeys) is { } keepAlive)
            {
                options.KeepAlivePingDelay = keepAlive.TryGetProperty("pingDelayMs", out var delay) && delay.ValueKind == JsonValueKind.Number && delay.TryGetInt32(out var ms) && ms is >= 1000 and <= 60_000
                    ? TimeSpan.FromMilliseconds(ms)
                    : throw new FormatException("The profile key keepalive.pingDelayMs is required: the keepalive ping delay the worker accepts, in milliseconds, from 1000 to 60000.");
            }

            if (Section(root, WorkerConformanceOptions.ArrowOutputKey, ArrowOutputKeys) is { } arrowOutput)
            {
                options.ArrowOutputFormat = RequiredString(arrowOutput, "format", "arrowOutput.");
                options.ArrowOutputPayload = Payload(arrowOutput, "arrowOutput.") ?? ReadOnlyMemory<byte>.Empty;
                var input = arrowOutput.TryGetProperty("inputSchema", out var i) ? Fields(i, "arrowOutput.inputSchema") : throw new FormatException("The profile key arrowOutput.inputSchema is required (an array of fields).");
                var output = arrowOutput.TryGetProperty("outputSchema", out var o) ? Fields(o, "arrowOutput.outputSchema") : throw new FormatException("The profile key arrowOutput.outputSchema is required (an array of fields).");
                options.SetArrowOutputSchemas(input, output);
            }

            if (root.TryGetProperty("schema", out var schema))
            {
                ApplySchema(options, schema);
            }

            try
            {
                options.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new FormatException($"The profile is not usable: {ex.Message}", ex);
            }

            return options;
        }
    }

    /// <summary>The string names of <see cref="ExecutionError.KindOneofCase"/> in a profile.</summary>
    private static ExecutionError.KindOneofCase ErrorKind(string text) => text switch
    {
        "user" => ExecutionError.KindOneofCase.User,
        "worker" => ExecutionError.KindOneofCase.Worker,
        "protocol" => ExecutionError.KindOneofCase.Protocol,
        _ => throw new FormatException($"The profile key initFailure.errorKind must be \"user\", \"worker\" or \"protocol\" (or absent for any), not \"{text}\"."),
    };

    private static void ApplySchema(WorkerConformanceOptions options, JsonElement schema)
    {
        if (schema.ValueKind == JsonValueKind.String && schema.GetString() == "opaque")
        {
            return;
        }

        if (schema.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("The profile key schema must be \"opaque\" or a non-empty array of fields ({\"name\": ..., \"type\": ...}).");
        }

        var (schemaIpc, batches) = ConformanceArrow.Batches(Fields(schema, "schema"));
        options.ArrowSchema = schemaIpc;
        options.Batches = batches;
    }

    /// <summary>A non-empty array of fields, <c>{"name": ..., "type": ..., "nullable": true}</c>.</summary>
    private static Schema Fields(JsonElement array, string key)
    {
        if (array.ValueKind != JsonValueKind.Array || array.GetArrayLength() == 0)
        {
            throw new FormatException($"The profile key {key} must be a non-empty array of fields ({{\"name\": ..., \"type\": ...}}).");
        }

        var fields = new List<Field>();
        var i = 0;
        foreach (var field in array.EnumerateArray())
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"{key}[{i++}].");
            RequireObject(field, "schema field");
            RequireKnownKeys(field, FieldKeys, where);
            var name = RequiredString(field, "name", where);
            var type = RequiredString(field, "type", where);
            var nullable = !field.TryGetProperty("nullable", out var n) || n.ValueKind != JsonValueKind.False;
            fields.Add(new Field(name, ConformanceArrow.Type(type, where), nullable));
        }

        return new Schema(fields, null);
    }

    private static JsonElement? Section(JsonElement root, string key, string[] known)
    {
        if (!root.TryGetProperty(key, out var section) || section.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        RequireObject(section, "the profile key " + key);
        RequireKnownKeys(section, known, key + ".");
        return section;
    }

    private static ReadOnlyMemory<byte>? Payload(JsonElement section, string where)
    {
        var text = OptionalString(section, "payload", where);
        var base64 = OptionalString(section, "payloadBase64", where);
        if (text is not null && base64 is not null)
        {
            throw new FormatException($"The profile sets both {where}payload and {where}payloadBase64; give one.");
        }

        if (base64 is not null)
        {
            try
            {
                return new ReadOnlyMemory<byte>(Convert.FromBase64String(base64));
            }
            catch (FormatException ex)
            {
                throw new FormatException($"The profile key {where}payloadBase64 is not base64: {ex.Message}", ex);
            }
        }

        if (text is null)
        {
            // Not a null literal in a conditional: it would convert to an empty memory through byte[].
            return default(ReadOnlyMemory<byte>?);
        }

        return Encoding.UTF8.GetBytes(text);
    }

    private static string RequiredString(JsonElement element, string key, string where) =>
        OptionalString(element, key, where) is { Length: > 0 } value
            ? value
            : throw new FormatException($"The profile key {where}{key} is required (a non-empty string).");

    private static string? OptionalString(JsonElement element, string key, string where)
    {
        if (!element.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new FormatException($"The profile key {where}{key} must be a string.");
    }

    private static void RequireObject(JsonElement element, string what)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{char.ToUpperInvariant(what[0])}{what[1..]} must be a JSON object.");
        }
    }

    private static void RequireKnownKeys(JsonElement element, string[] known, string where)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                throw new FormatException($"The profile key {where}{property.Name} is unknown; known here: {string.Join(", ", known)}.");
            }
        }
    }
}

/// <summary>The Arrow data of a profile with a schema: three small batches, and echo comparison by value.</summary>
internal static class ConformanceArrow
{
    public static IArrowType Type(string name, string where) => name switch
    {
        "bool" => BooleanType.Default,
        "int32" => Int32Type.Default,
        "int64" => Int64Type.Default,
        "float64" => DoubleType.Default,
        "utf8" => StringType.Default,
        _ => throw new FormatException($"The profile key {where}type must be one of bool, int32, int64, float64, utf8, not \"{name}\"."),
    };

    /// <summary>The schema-only IPC stream and three one-batch frames (3 rows each, distinct values, a null in nullable columns).</summary>
    public static (byte[] Schema, IReadOnlyList<ReadOnlyMemory<byte>> Batches) Batches(Schema schema)
    {
        var frames = new List<ReadOnlyMemory<byte>>(3);
        using var writer = new ArrowFrameWriter(int.MaxValue);
        for (var b = 0; b < 3; b++)
        {
            var columns = schema.FieldsList.Select((field, c) => Column(field, b, c)).ToList();
            using var batch = new RecordBatch(schema, columns, 3);
            frames.Add(writer.Encode(batch).ToArray());
        }

        return (ArrowSchemas.Serialize(schema), frames);
    }

    private static IArrowArray Column(Field field, int batch, int column)
    {
        const int Rows = 3;
        bool IsNull(int row) => field.IsNullable && row == (batch + column) % Rows;
        long Value(int row) => (batch * 100) + (column * 10) + row;
        switch (field.DataType)
        {
            case BooleanType:
            {
                var builder = new BooleanArray.Builder();
                for (var r = 0; r < Rows; r++)
                {
                    _ = IsNull(r) ? builder.AppendNull() : builder.Append(Value(r) % 2 == 0);
                }

                return builder.Build();
            }

            case Int32Type:
            {
                var builder = new Int32Array.Builder();
                for (var r = 0; r < Rows; r++)
                {
                    _ = IsNull(r) ? builder.AppendNull() : builder.Append((int)Value(r));
                }

                return builder.Build();
            }

            case Int64Type:
            {
                var builder = new Int64Array.Builder();
                for (var r = 0; r < Rows; r++)
                {
                    _ = IsNull(r) ? builder.AppendNull() : builder.Append(Value(r) * 1_000_000_007L);
                }

                return builder.Build();
            }

            case DoubleType:
            {
                var builder = new DoubleArray.Builder();
                for (var r = 0; r < Rows; r++)
                {
                    _ = IsNull(r) ? builder.AppendNull() : builder.Append(Value(r) + 0.25);
                }

                return builder.Build();
            }

            default:
            {
                var builder = new StringArray.Builder();
                for (var r = 0; r < Rows; r++)
                {
                    _ = IsNull(r) ? builder.AppendNull() : builder.Append(string.Create(CultureInfo.InvariantCulture, $"row {Value(r)} é"));
                }

                return builder.Build();
            }
        }
    }

    /// <summary>
    /// Where the echoed <paramref name="output"/> differs from <paramref name="input"/> (schema,
    /// row count or a value), or <see langword="null"/> when it holds the same schema and values.
    /// </summary>
    public static string? FindEchoDifference(ReadOnlyMemory<byte> input, ReadOnlyMemory<byte> output)
    {
        var (expectedSchema, expected) = ArrowFrameReader.Read(input);
        List<RecordBatch> actual;
        Schema actualSchema;
        try
        {
            (actualSchema, actual) = ArrowFrameReader.Read(output);
        }
        catch (InvalidDataException ex)
        {
            ArrowFrameReader.Dispose(expected);
            return "the output " + ex.Message;
        }

        try
        {
            if (ArrowSchemas.FindDifference(expectedSchema, actualSchema) is { } difference)
            {
                return "the output's schema differs from the input's: " + difference;
            }

            var want = Rows(expected);
            var have = Rows(actual);
            if (want.Count != have.Count)
            {
                return string.Create(CultureInfo.InvariantCulture, $"the output holds {have.Count} rows, the input {want.Count}");
            }

            for (var i = 0; i < want.Count; i++)
            {
                if (!string.Equals(want[i], have[i], StringComparison.Ordinal))
                {
                    return string.Create(CultureInfo.InvariantCulture, $"row {i} differs: expected {want[i]}, got {have[i]}");
                }
            }

            return null;
        }
        finally
        {
            ArrowFrameReader.Dispose(expected);
            ArrowFrameReader.Dispose(actual);
        }
    }

    /// <summary>
    /// Where <paramref name="output"/> fails to be an Arrow IPC stream of <paramref name="declared"/>
    /// whose every value can be read, or <see langword="null"/> when it is one.
    /// </summary>
    public static string? FindOutputDifference(Schema declared, ReadOnlyMemory<byte> output)
    {
        List<RecordBatch> batches;
        Schema actual;
        try
        {
            (actual, batches) = ArrowFrameReader.Read(output);
        }
        catch (InvalidDataException ex)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the {output.Length}-byte output {ex.Message}");
        }

        try
        {
            if (ArrowSchemas.FindDifference(declared, actual) is { } difference)
            {
                return "its schema differs from the declared output_schema: " + difference;
            }

            try
            {
                _ = Rows(batches);
            }
            catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException)
            {
                return $"its values cannot be read ({ex.GetType().Name}: {ex.Message})";
            }

            return null;
        }
        finally
        {
            ArrowFrameReader.Dispose(batches);
        }
    }

    private static List<string> Rows(List<RecordBatch> batches)
    {
        var rows = new List<string>();
        foreach (var batch in batches)
        {
            for (var r = 0; r < batch.Length; r++)
            {
                rows.Add("(" + string.Join(", ", Enumerable.Range(0, batch.ColumnCount).Select(c => Value(batch.Column(c), r))) + ")");
            }
        }

        return rows;
    }

    private static string Value(IArrowArray array, int row) => array.IsNull(row) ? "null" : array switch
    {
        BooleanArray a => a.GetValue(row)!.Value ? "true" : "false",
        Int32Array a => a.GetValue(row)!.Value.ToString(CultureInfo.InvariantCulture),
        Int64Array a => a.GetValue(row)!.Value.ToString(CultureInfo.InvariantCulture),
        DoubleArray a => a.GetValue(row)!.Value.ToString("R", CultureInfo.InvariantCulture),
        StringArray a => "'" + a.GetString(row) + "'",
        _ => "a value of type " + array.Data.DataType.Name,
    };
}
