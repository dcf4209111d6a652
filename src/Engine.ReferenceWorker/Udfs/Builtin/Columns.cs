using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Engine.ReferenceWorker.Udfs.Builtin;

/// <summary>
/// Column kernels of the builtin language. Every array they build lives in managed memory, so a
/// result never needs disposing and may share arrays with its input.
/// </summary>
internal static class Columns
{
    /// <summary>Whether <paramref name="type"/> is one <c>add</c>, <c>sum</c>, <c>min</c>, <c>max</c> and numeric comparisons accept.</summary>
    public static bool IsNumeric(IArrowType type) => type.TypeId is ArrowTypeId.Int32 or ArrowTypeId.Int64 or ArrowTypeId.Float or ArrowTypeId.Double;

    public static bool IsInteger(IArrowType type) => type.TypeId is ArrowTypeId.Int32 or ArrowTypeId.Int64;

    /// <summary>Whether <c>filter</c> can carry a column of <paramref name="type"/> (copy rows of it).</summary>
    public static bool CanTake(IArrowType type) => type switch
    {
        BooleanType or StringType or BinaryType or StringViewType or BinaryViewType => true,
        DictionaryType dictionary => CanTake(dictionary.IndexType),
        FixedWidthType { BitWidth: > 0 } fixedWidth => fixedWidth.BitWidth % 8 == 0,
        _ => false,
    };

    /// <summary>A numeric cell as a double (valid rows only).</summary>
    public static double Double(IArrowArray array, int index) => array switch
    {
        Int32Array a => a.GetValue(index)!.Value,
        Int64Array a => a.GetValue(index)!.Value,
        FloatArray a => a.GetValue(index)!.Value,
        DoubleArray a => a.GetValue(index)!.Value,
        _ => throw new InvalidOperationException($"{array.Data.DataType.Name} is not numeric."),
    };

    /// <summary>An integer cell as a long (valid rows only).</summary>
    public static long Long(IArrowArray array, int index) => array switch
    {
        Int32Array a => a.GetValue(index)!.Value,
        Int64Array a => a.GetValue(index)!.Value,
        _ => throw new InvalidOperationException($"{array.Data.DataType.Name} is not an integer type."),
    };

    /// <summary>
    /// <paramref name="array"/> plus <paramref name="constant"/>, nulls kept. Integer results that
    /// leave the column's range raise <c>OverflowError</c>.
    /// </summary>
    public static IArrowArray Add(IArrowArray array, Literal constant, Func<int, Exception> overflow)
    {
        var length = array.Length;
        byte[] values;
        switch (array)
        {
            case Int32Array ints:
                values = new byte[length * sizeof(int)];
                var intOut = MemoryMarshal.Cast<byte, int>(values.AsSpan());
                for (var i = 0; i < length; i++)
                {
                    if (ints.IsValid(i))
                    {
                        var sum = ints.Values[i] + constant.Integer;
                        intOut[i] = sum is < int.MinValue or > int.MaxValue ? throw overflow(i) : (int)sum;
                    }
                }

                break;
            case Int64Array longs:
                values = new byte[length * sizeof(long)];
                var longOut = MemoryMarshal.Cast<byte, long>(values.AsSpan());
                for (var i = 0; i < length; i++)
                {
                    if (longs.IsValid(i))
                    {
                        var value = longs.Values[i];
                        var sum = unchecked(value + constant.Integer);
                        longOut[i] = ((value ^ sum) & (constant.Integer ^ sum)) < 0 ? throw overflow(i) : sum;
                    }
                }

                break;
            case FloatArray floats:
                values = new byte[length * sizeof(float)];
                var floatOut = MemoryMarshal.Cast<byte, float>(values.AsSpan());
                for (var i = 0; i < length; i++)
                {
                    floatOut[i] = (float)(floats.Values[i] + constant.AsDouble);
                }

                break;
            case DoubleArray doubles:
                values = new byte[length * sizeof(double)];
                var doubleOut = MemoryMarshal.Cast<byte, double>(values.AsSpan());
                for (var i = 0; i < length; i++)
                {
                    doubleOut[i] = doubles.Values[i] + constant.AsDouble;
                }

                break;
            default:
                throw new InvalidOperationException($"add does not apply to {array.Data.DataType.Name}.");
        }

        return Build(array.Data.DataType, length, array.NullCount, Validity(array), new ArrowBuffer(values));
    }

    /// <summary>Each string upper-cased (invariant culture), nulls kept.</summary>
    public static IArrowArray Upper(StringArray array)
    {
        var length = array.Length;
        var offsets = new byte[(length + 1) * sizeof(int)];
        var offsetsOut = MemoryMarshal.Cast<byte, int>(offsets.AsSpan());
        var data = new List<byte>();
        var buffer = new byte[256];
        for (var i = 0; i < length; i++)
        {
            if (array.IsValid(i))
            {
                var upper = array.GetString(i).ToUpperInvariant();
                var count = Encoding.UTF8.GetByteCount(upper);
                if (count > buffer.Length)
                {
                    buffer = new byte[count];
                }

                Encoding.UTF8.GetBytes(upper, buffer);
                data.AddRange(buffer.AsSpan(0, count));
            }

            offsetsOut[i + 1] = data.Count;
        }

        return Build(StringType.Default, length, array.NullCount, Validity(array), new ArrowBuffer(offsets), new ArrowBuffer(data.ToArray()));
    }

    /// <summary>For each row, whether <paramref name="condition"/> holds; a null never matches.</summary>
    public static bool[] Matches(IArrowArray array, Condition condition)
    {
        var length = array.Length;
        var result = new bool[length];
        var value = condition.Value;
        for (var i = 0; i < length; i++)
        {
            if (array.IsNull(i))
            {
                continue;
            }

            int order;
            switch (array)
            {
                case StringArray strings:
                    order = string.CompareOrdinal(strings.GetString(i), value.String);
                    break;
                case BooleanArray booleans:
                    order = booleans.GetValue(i) == value.Boolean ? 0 : 1;
                    break;
                default:
                    if (IsInteger(array.Data.DataType) && value.Kind == LiteralKind.Integer)
                    {
                        order = Long(array, i).CompareTo(value.Integer);
                    }
                    else
                    {
                        var cell = Double(array, i);
                        if (double.IsNaN(cell))
                        {
                            continue;
                        }

                        order = cell.CompareTo(value.AsDouble);
                    }

                    break;
            }

            result[i] = condition.Op switch
            {
                Comparison.Equal => order == 0,
                Comparison.NotEqual => order != 0,
                Comparison.Less => order < 0,
                Comparison.LessOrEqual => order <= 0,
                Comparison.Greater => order > 0,
                _ => order >= 0,
            };
        }

        return result;
    }

    /// <summary>The rows of <paramref name="array"/> at <paramref name="rows"/>, in that order.</summary>
    public static IArrowArray Take(IArrowArray array, int[] rows)
    {
        // A dictionary column keeps its dictionary: only its indices are taken.
        if (array is DictionaryArray dictionary)
        {
            return new DictionaryArray((DictionaryType)dictionary.Data.DataType, Take(dictionary.Indices, rows), dictionary.Dictionary);
        }

        if (array is BinaryViewArray views)
        {
            return TakeViews(views, rows);
        }

        var type = array.Data.DataType;
        var count = rows.Length;
        var validity = new byte[(count + 7) / 8];
        var nulls = 0;
        for (var i = 0; i < count; i++)
        {
            if (array.IsValid(rows[i]))
            {
                BitUtility.SetBit(validity, i);
            }
            else
            {
                nulls++;
            }
        }

        var validityBuffer = nulls == 0 ? ArrowBuffer.Empty : new ArrowBuffer(validity);
        switch (array)
        {
            case BooleanArray booleans:
                var bits = new byte[(count + 7) / 8];
                for (var i = 0; i < count; i++)
                {
                    if (booleans.GetValue(rows[i]) == true)
                    {
                        BitUtility.SetBit(bits, i);
                    }
                }

                return Build(type, count, nulls, validityBuffer, new ArrowBuffer(bits));

            case BinaryArray binary:
                var offsets = new byte[(count + 1) * sizeof(int)];
                var offsetsOut = MemoryMarshal.Cast<byte, int>(offsets.AsSpan());
                var total = 0;
                for (var i = 0; i < count; i++)
                {
                    total += binary.GetValueLength(rows[i]);
                    offsetsOut[i + 1] = total;
                }

                var data = new byte[total];
                for (var i = 0; i < count; i++)
                {
                    binary.GetBytes(rows[i]).CopyTo(data.AsSpan(offsetsOut[i]));
                }

                return Build(type, count, nulls, validityBuffer, new ArrowBuffer(offsets), new ArrowBuffer(data));

            default:
                var width = ((FixedWidthType)type).BitWidth / 8;
                var source = array.Data.Buffers[1].Span;
                var values = new byte[count * width];
                for (var i = 0; i < count; i++)
                {
                    source.Slice((array.Offset + rows[i]) * width, width).CopyTo(values.AsSpan(i * width));
                }

                return Build(type, count, nulls, validityBuffer, new ArrowBuffer(values));
        }
    }

    /// <summary>The rows of a view column, their bytes copied into one data buffer.</summary>
    private static IArrowArray TakeViews(BinaryViewArray views, int[] rows)
    {
        if (views is StringViewArray)
        {
            var strings = new StringViewArray.Builder();
            foreach (var row in rows)
            {
                _ = views.IsNull(row) ? strings.AppendNull() : strings.Append(views.GetBytes(row));
            }

            return strings.Build();
        }

        var binary = new BinaryViewArray.Builder();
        foreach (var row in rows)
        {
            _ = views.IsNull(row) ? binary.AppendNull() : binary.Append(views.GetBytes(row));
        }

        return binary.Build();
    }

    /// <summary>A nullable int64 or double column from managed values (the aggregate results).</summary>
    public static IArrowArray FromValues(IArrowType type, IReadOnlyList<object?> cells)
    {
        var count = cells.Count;
        var validity = new byte[(count + 7) / 8];
        var values = new byte[count * 8];
        var nulls = 0;
        for (var i = 0; i < count; i++)
        {
            switch (cells[i])
            {
                case null:
                    nulls++;
                    continue;
                case long integer:
                    MemoryMarshal.Write(values.AsSpan(i * 8), integer);
                    break;
                case double number:
                    MemoryMarshal.Write(values.AsSpan(i * 8), number);
                    break;
            }

            BitUtility.SetBit(validity, i);
        }

        return Build(type, count, nulls, nulls == 0 ? ArrowBuffer.Empty : new ArrowBuffer(validity), new ArrowBuffer(values));
    }

    /// <summary>The validity bitmap of <paramref name="array"/> rebased to offset 0, or none when it has no nulls.</summary>
    private static ArrowBuffer Validity(IArrowArray array)
    {
        if (array.NullCount == 0)
        {
            return ArrowBuffer.Empty;
        }

        var bits = new byte[(array.Length + 7) / 8];
        for (var i = 0; i < array.Length; i++)
        {
            if (array.IsValid(i))
            {
                BitUtility.SetBit(bits, i);
            }
        }

        return new ArrowBuffer(bits);
    }

    private static IArrowArray Build(IArrowType type, int length, int nulls, params ArrowBuffer[] buffers) =>
        ArrowArrayFactory.BuildArray(new ArrayData(type, length, nulls, 0, buffers));
}
