using Apache.Arrow;
using Apache.Arrow.Scalars;
using Apache.Arrow.Types;

namespace Engine.Client.Arrow;

/// <summary>
/// Copies the view-type columns (<c>utf8_view</c>, <c>binary_view</c>, also inside struct, list,
/// large list, fixed-size list and map columns) of a batch or a row slice of it into buffers that
/// hold only the bytes its rows reference. Apache.Arrow's IPC writer writes every variadic data
/// buffer of a view array whole, so a slice of a large view column would otherwise carry all of
/// its parent's string bytes in every part.
/// </summary>
/// <remarks>
/// Other columns are kept as they are (zero copy); the writer already writes only the rows of a
/// slice for them. View columns under a dictionary, a union or a list view are kept whole too.
/// </remarks>
internal static class ArrowViewCompaction
{
    /// <summary>
    /// <paramref name="batch"/> with every view column that references fewer bytes than its data
    /// buffers hold copied into compact buffers; <paramref name="batch"/> itself when none does.
    /// The result owns only managed memory and needs no disposal of its own.
    /// </summary>
    public static RecordBatch Compact(RecordBatch batch)
    {
        IArrowArray[]? columns = null;
        for (var i = 0; i < batch.ColumnCount; i++)
        {
            var column = batch.Column(i);
            if (!NeedsCompaction(column))
            {
                continue;
            }

            columns ??= [.. batch.Arrays];
            columns[i] = Compact(column);
        }

        return columns is null ? batch : new RecordBatch(batch.Schema, columns, batch.Length);
    }

    /// <summary>
    /// The bytes the rows of a view array reference outside their 16-byte views (strings longer
    /// than 12 bytes): what a compact copy of its data buffers holds.
    /// </summary>
    public static long ReferencedBytes(BinaryViewArray array)
    {
        long total = 0;
        foreach (var view in array.Views)
        {
            if (!view.IsInline)
            {
                total += view.Length;
            }
        }

        return total;
    }

    private static bool NeedsCompaction(IArrowArray array) => array switch
    {
        BinaryViewArray views => ReferencedBytes(views) < TotalDataBytes(views),
        StructArray or ListArray or LargeListArray or FixedSizeListArray => ContainsViews(array.Data.DataType),
        _ => false,
    };

    private static bool ContainsViews(IArrowType type) => type switch
    {
        BinaryViewType or StringViewType => true,
        StructType s => s.Fields.Any(f => ContainsViews(f.DataType)),
        ListType or LargeListType or FixedSizeListType => ContainsViews(((NestedType)type).Fields[0].DataType),
        _ => false,
    };

    private static long TotalDataBytes(BinaryViewArray array)
    {
        long total = 0;
        for (var i = 0; i < array.DataBufferCount; i++)
        {
            total += array.DataBuffer(i).Length;
        }

        return total;
    }

    private static IArrowArray Compact(IArrowArray array)
    {
        var data = array.Data;
        switch (array)
        {
            case BinaryViewArray views:
                return CompactViews(views);
            case StructArray structs:
            {
                var children = new ArrayData[structs.Fields.Count];
                for (var i = 0; i < children.Length; i++)
                {
                    // Fields are already the struct's rows (sliced to its offset and length).
                    children[i] = Compact(structs.Fields[i]).Data;
                }

                return Rebuild(array, [Validity(array)], children);
            }

            case ListArray list:
            {
                var start = list.Length == 0 ? 0 : list.ValueOffsets[0];
                var end = list.Length == 0 ? 0 : list.ValueOffsets[list.Length];
                var offsets = new ArrowBuffer.Builder<int>(list.Length + 1).Append(0);
                for (var i = 1; i <= list.Length; i++)
                {
                    offsets.Append(list.ValueOffsets[i] - start);
                }

                var values = Compact(ArrowArrayFactory.Slice(list.Values, start, end - start));
                return Rebuild(array, [Validity(array), offsets.Build()], [values.Data]);
            }

            case LargeListArray large:
            {
                var start = large.Length == 0 ? 0 : large.ValueOffsets[0];
                var end = large.Length == 0 ? 0 : large.ValueOffsets[large.Length];
                var offsets = new ArrowBuffer.Builder<long>(large.Length + 1).Append(0);
                for (var i = 1; i <= large.Length; i++)
                {
                    offsets.Append(large.ValueOffsets[i] - start);
                }

                var values = Compact(ArrowArrayFactory.Slice(large.Values, checked((int)start), checked((int)(end - start))));
                return Rebuild(array, [Validity(array), offsets.Build()], [values.Data]);
            }

            case FixedSizeListArray fixedSize:
            {
                var size = ((FixedSizeListType)data.DataType).ListSize;
                var values = Compact(ArrowArrayFactory.Slice(fixedSize.Values, fixedSize.Offset * size, fixedSize.Length * size));
                return Rebuild(array, [Validity(array)], [values.Data]);
            }

            default:
                return array;
        }
    }

    private static BinaryViewArray CompactViews(BinaryViewArray array)
    {
        var referenced = ReferencedBytes(array);
        var bytes = new byte[checked((int)referenced)];
        var views = new BinaryView[array.Length];
        var source = array.Views;
        var position = 0;
        for (var i = 0; i < source.Length; i++)
        {
            var view = source[i];
            if (view.IsInline)
            {
                views[i] = view;
                continue;
            }

            array.DataBuffer(view.BufferIndex).Span.Slice(view.BufferOffset, view.Length).CopyTo(bytes.AsSpan(position));
            views[i] = new BinaryView(view.Length, view.Bytes, 0, position);
            position += view.Length;
        }

        var viewBuffer = new ArrowBuffer(System.Runtime.InteropServices.MemoryMarshal.AsBytes(views.AsSpan()).ToArray());

        // No data buffer at all when every value is inline: an empty one would still be written.
        ArrowBuffer[] buffers = referenced == 0 ? [Validity(array), viewBuffer] : [Validity(array), viewBuffer, new ArrowBuffer(bytes)];
        var data = new ArrayData(array.Data.DataType, array.Length, array.NullCount, 0, buffers);
        return (BinaryViewArray)ArrowArrayFactory.BuildArray(data);
    }

    private static IArrowArray Rebuild(IArrowArray array, ArrowBuffer[] buffers, ArrayData[] children) =>
        ArrowArrayFactory.BuildArray(new ArrayData(array.Data.DataType, array.Length, array.NullCount, 0, buffers, children));

    /// <summary>The validity bitmap of <paramref name="array"/>'s rows from bit 0; empty when it has no nulls.</summary>
    private static ArrowBuffer Validity(IArrowArray array)
    {
        if (array.NullCount == 0)
        {
            return ArrowBuffer.Empty;
        }

        var bitmap = new ArrowBuffer.BitmapBuilder(array.Length);
        for (var i = 0; i < array.Length; i++)
        {
            bitmap.Append(array.IsValid(i));
        }

        return bitmap.Build();
    }
}
