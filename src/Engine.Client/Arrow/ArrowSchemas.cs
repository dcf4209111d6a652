using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;

namespace Engine.Client.Arrow;

/// <summary>
/// Schemas on the wire (an Arrow IPC stream holding the schema only) and the one rule that says
/// whether two schemas match: same field count, and field by field the same name and the same
/// type. Nullability and metadata are not compared: producers differ in how they set them, and a
/// batch's nulls are carried by its validity bitmaps either way.
/// </summary>
internal static class ArrowSchemas
{
    /// <summary>An IPC stream holding <paramref name="schema"/> only: the schema message and the end-of-stream marker.</summary>
    public static byte[] Serialize(Schema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, schema, leaveOpen: true))
        {
            writer.WriteStart();
            writer.WriteEnd();
        }

        return stream.ToArray();
    }

    /// <summary>Reads the schema at the start of an IPC stream.</summary>
    /// <exception cref="InvalidDataException">The bytes do not start with an Arrow IPC schema message.</exception>
    public static Schema Deserialize(ReadOnlyMemory<byte> ipc)
    {
        Schema? schema;
        try
        {
            using var reader = new ArrowStreamReader(ipc);
            schema = reader.Schema;
        }
        catch (Exception ex) when (IsDecodeFailure(ex))
        {
            throw new InvalidDataException($"not an Arrow IPC stream ({ex.GetType().Name}: {ex.Message})", ex);
        }

        return schema ?? throw new InvalidDataException("not an Arrow IPC stream (no schema message)");
    }

    /// <summary>
    /// Where <paramref name="actual"/> differs from <paramref name="expected"/>, as a phrase naming
    /// the first differing field; <see langword="null"/> when they match.
    /// </summary>
    public static string? FindDifference(Schema expected, Schema actual)
    {
        if (ReferenceEquals(expected, actual))
        {
            return null;
        }

        var want = expected.FieldsList;
        var have = actual.FieldsList;
        var common = Math.Min(want.Count, have.Count);
        for (var i = 0; i < common; i++)
        {
            if (!string.Equals(want[i].Name, have[i].Name, StringComparison.Ordinal))
            {
                return string.Create(CultureInfo.InvariantCulture, $"field {i} is named '{have[i].Name}' where the schema has '{want[i].Name}'");
            }

            var wantType = Describe(want[i].DataType);
            var haveType = Describe(have[i].DataType);
            if (!string.Equals(wantType, haveType, StringComparison.Ordinal))
            {
                return string.Create(CultureInfo.InvariantCulture, $"field {i} '{have[i].Name}' is {haveType} where the schema has {wantType}");
            }
        }

        if (have.Count < want.Count)
        {
            return string.Create(
                CultureInfo.InvariantCulture,
                $"it has {have.Count} fields where the schema has {want.Count}: field {have.Count} '{want[have.Count].Name}' ({Describe(want[have.Count].DataType)}) is missing");
        }

        if (have.Count > want.Count)
        {
            return string.Create(
                CultureInfo.InvariantCulture,
                $"it has {have.Count} fields where the schema has {want.Count}: field {want.Count} '{have[want.Count].Name}' ({Describe(have[want.Count].DataType)}) is extra");
        }

        return null;
    }

    /// <summary>
    /// A type as text, with every parameter that makes two types differ (unit, time zone,
    /// precision, width, child types), for example <c>timestamp[us, UTC]</c> or <c>list&lt;int32&gt;</c>.
    /// List child names are left out: implementations name them differently (<c>item</c>, <c>element</c>).
    /// </summary>
    public static string Describe(IArrowType type) => type switch
    {
        TimestampType t => string.IsNullOrEmpty(t.Timezone) ? $"timestamp[{Unit(t.Unit)}]" : $"timestamp[{Unit(t.Unit)}, {t.Timezone}]",
        Decimal32Type d => Decimal("decimal32", d.Precision, d.Scale),
        Decimal64Type d => Decimal("decimal64", d.Precision, d.Scale),
        Decimal128Type d => Decimal("decimal128", d.Precision, d.Scale),
        Decimal256Type d => Decimal("decimal256", d.Precision, d.Scale),
        FixedSizeBinaryType f => string.Create(CultureInfo.InvariantCulture, $"fixed_size_binary[{f.ByteWidth}]"),
        TimeBasedType t => $"{t.Name}[{Unit(t.Unit)}]",
        IntervalType i => $"interval[{i.Unit}]",
        DictionaryType d => $"dictionary<values={Describe(d.ValueType)}, indices={Describe(d.IndexType)}{(d.Ordered ? ", ordered" : "")}>",
        FixedSizeListType l => string.Create(CultureInfo.InvariantCulture, $"fixed_size_list<{Describe(l.ValueDataType)}>[{l.ListSize}]"),
        StructType s => $"struct<{string.Join(", ", s.Fields.Select(f => $"{f.Name}: {Describe(f.DataType)}"))}>",
        UnionType u => $"{u.Mode.ToString().ToLowerInvariant()}_union<{string.Join(", ", u.Fields.Select(f => $"{f.Name}: {Describe(f.DataType)}"))}>",
        NestedType n => $"{n.Name}<{string.Join(", ", n.Fields.Select(f => Describe(f.DataType)))}>",
        ExtensionType e => $"extension<{e.Name}>({Describe(e.StorageType)})",
        _ => type.Name,
    };

    /// <summary>Whether <paramref name="exception"/> is what Apache.Arrow throws for bytes that are not a valid IPC stream.</summary>
    public static bool IsDecodeFailure(Exception exception) =>
        exception is InvalidDataException or ArgumentException or IndexOutOfRangeException or InvalidOperationException
            or NotSupportedException or OverflowException or InvalidCastException or EndOfStreamException
            or NullReferenceException;

    private static string Unit(TimeUnit unit) => unit switch
    {
        TimeUnit.Second => "s",
        TimeUnit.Millisecond => "ms",
        TimeUnit.Microsecond => "us",
        _ => "ns",
    };

    private static string Decimal(string name, int precision, int scale) =>
        string.Create(CultureInfo.InvariantCulture, $"{name}({precision}, {scale})");
}
