using System.Globalization;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Arrays;
using Apache.Arrow.Types;
using CsCheck;

namespace Engine.Client.Tests.Arrow;

/// <summary>The column kinds the random schemas are made of.</summary>
internal enum ArrowKind
{
    Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64, Float, Double, Boolean,
    Utf8, Binary, LargeUtf8, LargeBinary, Utf8View, BinaryView, FixedSizeBinary,
    Decimal128, Decimal256, TimestampTz, TimestampNaive, Date32, Date64, Time32, Time64, Duration,
    Dictionary, Extension, HalfFloat, Null, Interval,

    // Nested: one child (list kinds) or two (struct, map, unions).
    List, LargeList, FixedSizeList, ListView, Struct, Map, DenseUnion, SparseUnion,
}

/// <summary>A column type: its kind and, for nested kinds, its children.</summary>
internal sealed record TypeSpec(ArrowKind Kind, TypeSpec[] Children)
{
    public override string ToString() => Children.Length == 0 ? Kind.ToString() : $"{Kind}<{string.Join(", ", Children.Select(c => c.ToString()))}>";
}

/// <summary>
/// One generated case: columns, rows per batch, how each later batch's dictionaries relate to the
/// first's (same, delta: extended, or replaced), metadata, and the seed the values come from.
/// </summary>
internal sealed record ArrowCase(TypeSpec[] Columns, int[] BatchRows, DictionaryChange Dictionaries, bool Metadata, int Seed)
{
    public override string ToString() =>
        $"columns [{string.Join(", ", Columns.Select(c => c.ToString()))}], rows [{string.Join(", ", BatchRows)}], dictionaries {Dictionaries}, metadata {Metadata}, seed {Seed}";
}

internal enum DictionaryChange
{
    Same,
    Delta,
    Replacement,
}

/// <summary>
/// Random Arrow schemas and batches written with Apache.Arrow's array types, the CsCheck generators
/// for them, and a canonical text for every value (what "value for value" compares).
/// </summary>
internal static class RandomArrow
{
    private static readonly ArrowKind[] Leaves = [.. Enum.GetValues<ArrowKind>().Where(k => k < ArrowKind.List)];

    private static readonly string[] Words = ["red", "green", "blue", "black", "yellow", "a much longer colour name", "ü", "", "teal", "grey"];

    /// <summary>Cases of up to 4 columns nested up to 2 deep, 1 to 3 batches of 0 to 40 rows.</summary>
    public static Gen<ArrowCase> Cases(bool allowUnions = true) =>
        from columns in Type(2, allowUnions).Array[0, 4]
        from rows in Gen.Int[0, 40].Array[1, 3]
        from change in Gen.Enum<DictionaryChange>()
        from metadata in Gen.Bool
        from seed in Gen.Int
        select new ArrowCase(columns, rows, change, metadata, seed);

    private static Gen<TypeSpec> Type(int depth, bool allowUnions)
    {
        var leaf = Gen.OneOf(Leaves).Select(k => new TypeSpec(k, []));
        if (depth == 0)
        {
            return leaf;
        }

        var child = Type(depth - 1, allowUnions);
        var one = Gen.OneOf(ArrowKind.List, ArrowKind.LargeList, ArrowKind.FixedSizeList, ArrowKind.ListView)
            .SelectMany(k => child.Select(c => new TypeSpec(k, [c])));
        var kinds = allowUnions
            ? new[] { ArrowKind.Struct, ArrowKind.Map, ArrowKind.DenseUnion, ArrowKind.SparseUnion }
            : [ArrowKind.Struct, ArrowKind.Map];
        var two = Gen.OneOf(kinds)
            .SelectMany(k => Gen.Select(child, child, (a, b) => new TypeSpec(k, [a, b])));
        return Gen.Frequency((6, leaf), (1, one), (1, two));
    }

    /// <summary>The schema and batches of <paramref name="spec"/>.</summary>
    public static (Schema Schema, List<RecordBatch> Batches) Build(ArrowCase spec)
    {
        var random = new Random(spec.Seed);
        var fields = new List<Field>();
        for (var i = 0; i < spec.Columns.Length; i++)
        {
            fields.Add(MakeField($"c{i}", spec.Columns[i], spec.Metadata, random));
        }

        var schemaMetadata = spec.Metadata ? new Dictionary<string, string> { ["origin"] = "random", ["seed"] = spec.Seed.ToString(CultureInfo.InvariantCulture) } : null;
        var schema = new Schema(fields, schemaMetadata);
        var dictionaries = new Dictionary<string, List<string>>();
        var batches = new List<RecordBatch>();
        for (var b = 0; b < spec.BatchRows.Length; b++)
        {
            var rows = spec.BatchRows[b];
            var columns = new IArrowArray[fields.Count];
            for (var i = 0; i < fields.Count; i++)
            {
                columns[i] = MakeArray(fields[i].DataType, spec.Columns[i], rows, random, new Context(b, spec.Dictionaries, dictionaries, $"c{i}"));
            }

            batches.Add(new RecordBatch(schema, columns, rows));
        }

        return (schema, batches);
    }

    private sealed record Context(int Batch, DictionaryChange Change, Dictionary<string, List<string>> Dictionaries, string Path)
    {
        public Context Child(int index) => this with { Path = $"{Path}.{index}" };
    }

    private static Field MakeField(string name, TypeSpec spec, bool metadata, Random random)
    {
        var type = MakeType(spec, random, metadata);
        var fieldMetadata = new Dictionary<string, string>();
        if (spec.Kind == ArrowKind.Extension)
        {
            // An extension type no reader here knows: its storage and its name travel as field metadata.
            fieldMetadata["ARROW:extension:name"] = "engine.test.uuid";
            fieldMetadata["ARROW:extension:metadata"] = "";
        }

        if (metadata)
        {
            fieldMetadata["note"] = $"field {name}";
        }

        return new Field(name, type, nullable: true, fieldMetadata.Count == 0 ? null : fieldMetadata);
    }

    private static IArrowType MakeType(TypeSpec spec, Random random, bool metadata) => spec.Kind switch
    {
        ArrowKind.Int8 => Int8Type.Default,
        ArrowKind.Int16 => Int16Type.Default,
        ArrowKind.Int32 => Int32Type.Default,
        ArrowKind.Int64 => Int64Type.Default,
        ArrowKind.UInt8 => UInt8Type.Default,
        ArrowKind.UInt16 => UInt16Type.Default,
        ArrowKind.UInt32 => UInt32Type.Default,
        ArrowKind.UInt64 => UInt64Type.Default,
        ArrowKind.Float => FloatType.Default,
        ArrowKind.Double => DoubleType.Default,
        ArrowKind.Boolean => BooleanType.Default,
        ArrowKind.Utf8 => StringType.Default,
        ArrowKind.Binary => BinaryType.Default,
        ArrowKind.LargeUtf8 => LargeStringType.Default,
        ArrowKind.LargeBinary => LargeBinaryType.Default,
        ArrowKind.Utf8View => StringViewType.Default,
        ArrowKind.BinaryView => BinaryViewType.Default,
        ArrowKind.FixedSizeBinary or ArrowKind.Extension => new FixedSizeBinaryType(16),
        ArrowKind.Decimal128 => new Decimal128Type(20, 4),
        ArrowKind.Decimal256 => new Decimal256Type(40, 6),
        ArrowKind.TimestampTz => new TimestampType(TimeUnit.Microsecond, "Europe/Paris"),
        ArrowKind.TimestampNaive => new TimestampType(TimeUnit.Nanosecond, (string?)null),
        ArrowKind.Date32 => Date32Type.Default,
        ArrowKind.Date64 => Date64Type.Default,
        ArrowKind.Time32 => new Time32Type(TimeUnit.Millisecond),
        ArrowKind.Time64 => new Time64Type(TimeUnit.Nanosecond),
        ArrowKind.Duration => DurationType.Microsecond,
        ArrowKind.Dictionary => new DictionaryType(Int32Type.Default, StringType.Default, ordered: false),
        ArrowKind.HalfFloat => HalfFloatType.Default,
        ArrowKind.Null => NullType.Default,
        ArrowKind.Interval => new IntervalType(IntervalUnit.MonthDayNanosecond),
        ArrowKind.ListView => new ListViewType(ChildField("item", spec.Children[0], random, metadata)),
        ArrowKind.List => new ListType(ChildField("item", spec.Children[0], random, metadata)),
        ArrowKind.LargeList => new LargeListType(ChildField("item", spec.Children[0], random, metadata)),
        ArrowKind.FixedSizeList => new FixedSizeListType(ChildField("item", spec.Children[0], random, metadata), 2),
        ArrowKind.Struct => new StructType([ChildField("a", spec.Children[0], random, metadata), ChildField("b", spec.Children[1], random, metadata)]),
        ArrowKind.Map => new MapType(new Field("key", StringType.Default, nullable: false), ChildField("value", spec.Children[1], random, metadata)),
        ArrowKind.DenseUnion => new UnionType([ChildField("a", spec.Children[0], random, metadata), ChildField("b", spec.Children[1], random, metadata)], [3, 7], UnionMode.Dense),
        ArrowKind.SparseUnion => new UnionType([ChildField("a", spec.Children[0], random, metadata), ChildField("b", spec.Children[1], random, metadata)], [0, 1], UnionMode.Sparse),
        _ => throw new ArgumentOutOfRangeException(nameof(spec)),
    };

    private static Field ChildField(string name, TypeSpec spec, Random random, bool metadata) => MakeField(name, spec, metadata, random);

    private static IArrowArray MakeArray(IArrowType type, TypeSpec spec, int length, Random random, Context context)
    {
        switch (spec.Kind)
        {
            case ArrowKind.Int8: return Fill(new Int8Array.Builder(), length, random, (b, r) => b.Append((sbyte)r.Next(-128, 128)));
            case ArrowKind.Int16: return Fill(new Int16Array.Builder(), length, random, (b, r) => b.Append((short)r.Next(short.MinValue, short.MaxValue)));
            case ArrowKind.Int32: return Fill(new Int32Array.Builder(), length, random, (b, r) => b.Append(r.Next(int.MinValue, int.MaxValue)));
            case ArrowKind.Int64: return Fill(new Int64Array.Builder(), length, random, (b, r) => b.Append(r.NextInt64(long.MinValue, long.MaxValue)));
            case ArrowKind.UInt8: return Fill(new UInt8Array.Builder(), length, random, (b, r) => b.Append((byte)r.Next(256)));
            case ArrowKind.UInt16: return Fill(new UInt16Array.Builder(), length, random, (b, r) => b.Append((ushort)r.Next(65536)));
            case ArrowKind.UInt32: return Fill(new UInt32Array.Builder(), length, random, (b, r) => b.Append((uint)r.NextInt64(0, uint.MaxValue)));
            case ArrowKind.UInt64: return Fill(new UInt64Array.Builder(), length, random, (b, r) => b.Append((ulong)r.NextInt64(0, long.MaxValue) * 2));
            case ArrowKind.Float: return Fill(new FloatArray.Builder(), length, random, (b, r) => b.Append((float)(r.NextDouble() * 1000 - 500)));
            case ArrowKind.Double: return Fill(new DoubleArray.Builder(), length, random, (b, r) => b.Append(r.NextDouble() * 1e6));
            case ArrowKind.Boolean: return Fill(new BooleanArray.Builder(), length, random, (b, r) => b.Append(r.Next(2) == 0));
            case ArrowKind.Utf8: return Fill(new StringArray.Builder(), length, random, (b, r) => b.Append(Text(r)));
            case ArrowKind.Binary: return Fill(new BinaryArray.Builder(), length, random, (b, r) => b.Append(Bytes(r, r.Next(0, 30)).AsSpan()));
            case ArrowKind.LargeUtf8: return Fill(new LargeStringArray.Builder(), length, random, (b, r) => b.Append(Text(r)));
            case ArrowKind.LargeBinary: return Fill(new LargeBinaryArray.Builder(), length, random, (b, r) => b.Append(Bytes(r, r.Next(0, 30)).AsSpan()));
            case ArrowKind.Utf8View: return Fill(new StringViewArray.Builder(), length, random, (b, r) => b.Append(Text(r)));
            case ArrowKind.BinaryView: return Fill(new BinaryViewArray.Builder(), length, random, (b, r) => b.Append(Bytes(r, r.Next(0, 30)).AsSpan()));
            case ArrowKind.FixedSizeBinary:
            case ArrowKind.Extension:
            {
                var (validity, nulls) = Validity(length, random);
                var data = new ArrayData(new FixedSizeBinaryType(16), length, nulls, 0, [validity, new ArrowBuffer(Bytes(random, 16 * length))]);
                return new FixedSizeBinaryArray(data);
            }

            case ArrowKind.Decimal128:
                return Fill(new Decimal128Array.Builder((Decimal128Type)type), length, random, (b, r) => b.Append(new decimal(r.NextInt64(-999_999_999_999, 999_999_999_999)) / 10_000m));
            case ArrowKind.Decimal256:
                return Fill(new Decimal256Array.Builder((Decimal256Type)type), length, random, (b, r) => b.Append(new decimal(r.NextInt64(-999_999_999_999, 999_999_999_999)) / 1_000_000m));
            case ArrowKind.TimestampTz:
            case ArrowKind.TimestampNaive:
                return Fill(new TimestampArray.Builder((TimestampType)type), length, random, (b, r) => b.Append(DateTimeOffset.UnixEpoch.AddSeconds(r.Next(0, 2_000_000_000))));
            case ArrowKind.Date32: return Fill(new Date32Array.Builder(), length, random, (b, r) => b.Append(DateTime.UnixEpoch.AddDays(r.Next(-20000, 20000))));
            case ArrowKind.Date64: return Fill(new Date64Array.Builder(), length, random, (b, r) => b.Append(DateTime.UnixEpoch.AddDays(r.Next(-20000, 20000))));
            case ArrowKind.Time32: return Fill(new Time32Array.Builder((Time32Type)type), length, random, (b, r) => b.Append(r.Next(0, 86_400_000)));
            case ArrowKind.Time64: return Fill(new Time64Array.Builder((Time64Type)type), length, random, (b, r) => b.Append(r.NextInt64(0, 86_400_000_000_000)));
            case ArrowKind.Duration: return Fill(new DurationArray.Builder((DurationType)type), length, random, (b, r) => b.Append(r.NextInt64(-1_000_000_000, 1_000_000_000)));
            case ArrowKind.Dictionary: return MakeDictionary((DictionaryType)type, length, random, context);
            case ArrowKind.HalfFloat: return Fill(new HalfFloatArray.Builder(), length, random, (b, r) => b.Append((Half)(r.Next(-2048, 2048) / 8.0)));
            case ArrowKind.Null: return new NullArray(length);
            case ArrowKind.Interval:
                return Fill(new MonthDayNanosecondIntervalArray.Builder(), length, random, (b, r) => b.Append(new Apache.Arrow.Scalars.MonthDayNanosecondInterval(r.Next(-24, 24), r.Next(-60, 60), r.NextInt64(-1_000_000_000_000, 1_000_000_000_000))));
            default: return MakeNested(type, spec, length, random, context);
        }
    }

    private static DictionaryArray MakeDictionary(DictionaryType type, int length, Random random, Context context)
    {
        if (!context.Dictionaries.TryGetValue(context.Path, out var words) || context.Batch == 0)
        {
            words = [.. Words.OrderBy(_ => random.Next()).Take(random.Next(1, 5))];
        }
        else if (context.Change == DictionaryChange.Delta)
        {
            words = [.. words, .. Words.Except(words).Take(2)];
        }
        else if (context.Change == DictionaryChange.Replacement)
        {
            words = [.. Words.Except(words).OrderBy(_ => random.Next()).Take(random.Next(1, 4))];
        }

        context.Dictionaries[context.Path] = words;
        var dictionary = new StringArray.Builder().AppendRange(words).Build();
        var indices = Fill(new Int32Array.Builder(), length, random, (b, r) => b.Append(r.Next(words.Count)));
        return new DictionaryArray(type, indices, dictionary);
    }

    private static IArrowArray MakeNested(IArrowType type, TypeSpec spec, int length, Random random, Context context)
    {
        var (validity, nulls) = Validity(length, random);
        switch (type)
        {
            case FixedSizeListType fixedSize:
            {
                var values = MakeArray(fixedSize.ValueDataType, spec.Children[0], length * fixedSize.ListSize, random, context.Child(0));
                return new FixedSizeListArray(fixedSize, length, values, validity, nulls);
            }

            case MapType map:
            {
                var (offsets, total) = Offsets(length, random);
                var keys = new StringArray.Builder().AppendRange(Enumerable.Range(0, total).Select(i => $"k{i}")).Build();
                var values = MakeArray(map.ValueField.DataType, spec.Children[1], total, random, context.Child(1));
                var entries = new StructArray(map.KeyValueType, total, [keys, values], ArrowBuffer.Empty, 0);
                return new MapArray(map, length, offsets, entries, validity, nulls);
            }

            case ListViewType listView:
            {
                // Views in reverse order over a shared child: offsets need not be increasing.
                var sizes = Enumerable.Range(0, length).Select(_ => random.Next(0, 3)).ToArray();
                var total = sizes.Sum();
                var offsets = new int[length];
                for (int i = length - 1, at = 0; i >= 0; at += sizes[i], i--)
                {
                    offsets[i] = at;
                }

                var values = MakeArray(listView.ValueDataType, spec.Children[0], total, random, context.Child(0));
                return new ListViewArray(listView, length, new ArrowBuffer.Builder<int>().AppendRange(offsets).Build(), new ArrowBuffer.Builder<int>().AppendRange(sizes).Build(), values, validity, nulls);
            }

            case LargeListType large:
            {
                var (offsets, total) = Offsets(length, random);
                var longOffsets = new ArrowBuffer.Builder<long>().AppendRange(offsets.Span.CastTo<int>().ToArray().Select(o => (long)o)).Build();
                var values = MakeArray(large.ValueDataType, spec.Children[0], total, random, context.Child(0));
                return new LargeListArray(large, length, longOffsets, values, validity, nulls);
            }

            case ListType list:
            {
                var (offsets, total) = Offsets(length, random);
                var values = MakeArray(list.ValueDataType, spec.Children[0], total, random, context.Child(0));
                return new ListArray(list, length, offsets, values, validity, nulls);
            }

            case StructType structType:
            {
                var children = structType.Fields.Select((f, i) => MakeArray(f.DataType, spec.Children[i], length, random, context.Child(i))).ToList();
                return new StructArray(structType, length, children, validity, nulls);
            }

            case UnionType union when union.Mode == UnionMode.Sparse:
            {
                var ids = Enumerable.Range(0, length).Select(_ => (byte)union.TypeIds[random.Next(2)]).ToArray();
                var children = union.Fields.Select((f, i) => MakeArray(f.DataType, spec.Children[i], length, random, context.Child(i))).ToList();
                return new SparseUnionArray(union, length, children, new ArrowBuffer(ids), 0);
            }

            case UnionType union:
            {
                var which = Enumerable.Range(0, length).Select(_ => random.Next(2)).ToArray();
                var ids = which.Select(w => (byte)union.TypeIds[w]).ToArray();
                var counts = new int[2];
                var offsets = which.Select(w => counts[w]++).ToArray();
                var children = union.Fields.Select((f, i) => MakeArray(f.DataType, spec.Children[i], counts[i], random, context.Child(i))).ToList();
                return new DenseUnionArray(union, length, children, new ArrowBuffer(ids), new ArrowBuffer.Builder<int>().AppendRange(offsets).Build(), 0);
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(type), type.Name);
        }
    }

    private static (ArrowBuffer Offsets, int Total) Offsets(int length, Random random)
    {
        var builder = new ArrowBuffer.Builder<int>().Append(0);
        var total = 0;
        for (var i = 0; i < length; i++)
        {
            total += random.Next(0, 4);
            builder.Append(total);
        }

        return (builder.Build(), total);
    }

    private static (ArrowBuffer Validity, int Nulls) Validity(int length, Random random)
    {
        if (length == 0 || random.Next(2) == 0)
        {
            return (ArrowBuffer.Empty, 0);
        }

        var bitmap = new ArrowBuffer.BitmapBuilder(length);
        for (var i = 0; i < length; i++)
        {
            bitmap.Append(random.Next(5) != 0);
        }

        return (bitmap.Build(), bitmap.UnsetBitCount);
    }

    private static IArrowArray Fill<TBuilder>(TBuilder builder, int length, Random random, Action<TBuilder, Random> append)
        where TBuilder : IArrowArrayBuilder
    {
        for (var i = 0; i < length; i++)
        {
            if (random.Next(6) == 0)
            {
                ((dynamic)builder).AppendNull();
            }
            else
            {
                append(builder, random);
            }
        }

        return (IArrowArray)((dynamic)builder).Build(default(Apache.Arrow.Memory.MemoryAllocator));
    }

    private static string Text(Random random) => random.Next(3) switch
    {
        0 => Words[random.Next(Words.Length)],
        1 => new string('x', random.Next(0, 40)) + random.Next(),
        _ => "ünï-" + random.Next(),
    };

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>The schema as text: every field's name, type, nullability and metadata, and the schema's metadata.</summary>
    public static string Describe(Schema schema)
    {
        var text = new StringBuilder();
        foreach (var field in schema.FieldsList)
        {
            Describe(field, text);
            text.Append("; ");
        }

        text.Append(Metadata(schema.Metadata));
        return text.ToString();
    }

    private static void Describe(Field field, StringBuilder text)
    {
        text.Append(field.Name).Append(": ").Append(Engine.Client.Arrow.ArrowSchemas.Describe(field.DataType)).Append(' ').Append(Metadata(field.Metadata));
        if (field.DataType is NestedType nested)
        {
            text.Append(" {");
            foreach (var child in nested.Fields)
            {
                Describe(child, text);
                text.Append(", ");
            }

            text.Append('}');
        }
    }

    private static string Metadata(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is null || metadata.Count == 0 ? "" : "[" + string.Join(", ", metadata.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")) + "]";

    /// <summary>Every row of every batch as canonical text, one string per row.</summary>
    public static List<string> Rows(IEnumerable<RecordBatch> batches)
    {
        var rows = new List<string>();
        foreach (var batch in batches)
        {
            for (var row = 0; row < batch.Length; row++)
            {
                rows.Add(string.Join(" | ", batch.Arrays.Select(column => Value(column, row))));
            }
        }

        return rows;
    }

    /// <summary>The value at <paramref name="index"/> as canonical text (nested values recursively).</summary>
    public static string Value(IArrowArray array, int index)
    {
        if (array is not UnionArray && array.IsNull(index))
        {
            return "null";
        }

        return array switch
        {
            BooleanArray a => a.GetValue(index) is true ? "true" : "false",
            Int8Array a => Invariant(a.GetValue(index)),
            Int16Array a => Invariant(a.GetValue(index)),
            Int32Array a => Invariant(a.GetValue(index)),
            Int64Array a => Invariant(a.GetValue(index)),
            UInt8Array a => Invariant(a.GetValue(index)),
            UInt16Array a => Invariant(a.GetValue(index)),
            UInt32Array a => Invariant(a.GetValue(index)),
            UInt64Array a => Invariant(a.GetValue(index)),
            FloatArray a => a.GetValue(index)!.Value.ToString("R", CultureInfo.InvariantCulture),
            DoubleArray a => a.GetValue(index)!.Value.ToString("R", CultureInfo.InvariantCulture),
            StringArray a => Quote(a.GetString(index)),
            LargeStringArray a => Quote(a.GetString(index)),
            StringViewArray a => Quote(a.GetString(index)),
            BinaryArray a => "0x" + Convert.ToHexString(a.GetBytes(index)),
            LargeBinaryArray a => "0x" + Convert.ToHexString(a.GetBytes(index)),
            BinaryViewArray a => "0x" + Convert.ToHexString(a.GetBytes(index)),
            Decimal128Array a => a.GetString(index)!,
            Decimal256Array a => a.GetString(index)!,
            FixedSizeBinaryArray a => "0x" + Convert.ToHexString(a.GetBytes(index)),
            TimestampArray a => Invariant(a.GetValue(index)),
            Date32Array a => Invariant(a.GetValue(index)),
            Date64Array a => Invariant(a.GetValue(index)),
            Time32Array a => Invariant(a.GetValue(index)),
            Time64Array a => Invariant(a.GetValue(index)),
            DurationArray a => Invariant(a.GetValue(index)),
            DictionaryArray a => Value(a.Dictionary, DictionaryIndex(a.Indices, index)),
            HalfFloatArray a => ((double)a.GetValue(index)!.Value).ToString("R", CultureInfo.InvariantCulture),
            MonthDayNanosecondIntervalArray a => $"{a.GetValue(index)!.Value.Months}m{a.GetValue(index)!.Value.Days}d{a.GetValue(index)!.Value.Nanoseconds}ns",
            ListViewArray a => "[" + string.Join(", ", Range(a.ValueOffsets[index], a.ValueOffsets[index] + a.Sizes[index]).Select(i => Value(a.Values, i))) + "]",
            MapArray a => "{" + string.Join(", ", Range(a.ValueOffsets[index], a.ValueOffsets[index + 1]).Select(i => Value(a.Keys, i) + ": " + Value(a.Values, i))) + "}",
            ListArray a => "[" + string.Join(", ", Range(a.ValueOffsets[index], a.ValueOffsets[index + 1]).Select(i => Value(a.Values, i))) + "]",
            LargeListArray a => "[" + string.Join(", ", Range(checked((int)a.ValueOffsets[index]), checked((int)a.ValueOffsets[index + 1])).Select(i => Value(a.Values, i))) + "]",
            FixedSizeListArray a => "[" + FixedSizeItems(a, index) + "]",
            StructArray a => "(" + string.Join(", ", a.Fields.Select(f => Value(f, index))) + ")",
            DenseUnionArray a => $"<{a.TypeIds[index]}:{Value(a.Fields[((UnionType)a.Data.DataType).TypeIds.ToList().IndexOf(a.TypeIds[index])], a.ValueOffsets[index])}>",
            SparseUnionArray a => $"<{a.TypeIds[index]}:{Value(a.Fields[((UnionType)a.Data.DataType).TypeIds.ToList().IndexOf(a.TypeIds[index])], index)}>",
            _ => throw new NotSupportedException($"No canonical text for {array.Data.DataType.Name}"),
        };
    }

    private static string FixedSizeItems(FixedSizeListArray array, int index)
    {
        var size = ((FixedSizeListType)array.Data.DataType).ListSize;
        var start = (array.Offset + index) * size;
        return string.Join(", ", Enumerable.Range(start, size).Select(i => Value(array.Values, i)));
    }

    private static IEnumerable<int> Range(int start, int end) => Enumerable.Range(start, end - start);

    private static int DictionaryIndex(IArrowArray indices, int index) => indices switch
    {
        Int8Array a => a.GetValue(index)!.Value,
        Int16Array a => a.GetValue(index)!.Value,
        Int32Array a => a.GetValue(index)!.Value,
        Int64Array a => checked((int)a.GetValue(index)!.Value),
        UInt8Array a => a.GetValue(index)!.Value,
        UInt16Array a => a.GetValue(index)!.Value,
        UInt32Array a => checked((int)a.GetValue(index)!.Value),
        _ => throw new NotSupportedException(indices.Data.DataType.Name),
    };

    private static string Invariant<T>(T? value)
        where T : struct, IFormattable => value!.Value.ToString(null, CultureInfo.InvariantCulture);

    private static string Quote(string? text) => "\"" + text + "\"";
}
