using System.Globalization;
using Apache.Arrow;
using Engine.Client.Cli.Operations;

namespace Engine.Client.Cli.Arrow;

/// <summary>Arrow values as short text, for the output table.</summary>
internal static class ArrowCells
{
    public const int MaxChars = 40;

    public static string Format(IArrowArray array, int index)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.IsNull(index))
        {
            return "null";
        }

        var text = array switch
        {
            StringArray strings => strings.GetString(index),
            StringViewArray views => views.GetString(index),
            LargeStringArray large => large.GetString(index),
            DictionaryArray dictionary => Format(dictionary.Dictionary, DictionaryIndex(dictionary.Indices, index)),
            BooleanArray booleans => booleans.GetValue(index) is true ? "true" : "false",
            TimestampArray timestamps => timestamps.GetTimestamp(index)?.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
            Date32Array dates => dates.GetDateOnly(index)?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            Date64Array dates => dates.GetDateOnly(index)?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            Int8Array a => Text(a.GetValue(index)),
            Int16Array a => Text(a.GetValue(index)),
            Int32Array a => Text(a.GetValue(index)),
            Int64Array a => Text(a.GetValue(index)),
            UInt8Array a => Text(a.GetValue(index)),
            UInt16Array a => Text(a.GetValue(index)),
            UInt32Array a => Text(a.GetValue(index)),
            UInt64Array a => Text(a.GetValue(index)),
            FloatArray a => a.GetValue(index)?.ToString("R", CultureInfo.InvariantCulture),
            DoubleArray a => a.GetValue(index)?.ToString("R", CultureInfo.InvariantCulture),
            BinaryArray binary => BytePreview.Describe(binary.GetBytes(index)),
            BinaryViewArray binary => BytePreview.Describe(binary.GetBytes(index)),
            _ => $"<{array.Data.DataType.Name}>",
        };
        text ??= "null";
        return text.Length <= MaxChars ? text : text[..(MaxChars - 3)] + "...";
    }

    /// <summary>The dictionary position row <paramref name="index"/> refers to.</summary>
    private static int DictionaryIndex(IArrowArray indices, int index) => indices switch
    {
        Int8Array a => a.GetValue(index) ?? 0,
        Int16Array a => a.GetValue(index) ?? 0,
        Int32Array a => a.GetValue(index) ?? 0,
        Int64Array a => checked((int)(a.GetValue(index) ?? 0)),
        UInt8Array a => a.GetValue(index) ?? 0,
        UInt16Array a => a.GetValue(index) ?? 0,
        UInt32Array a => checked((int)(a.GetValue(index) ?? 0)),
        UInt64Array a => checked((int)(a.GetValue(index) ?? 0)),
        _ => throw new NotSupportedException($"Dictionary indices of type {indices.Data.DataType.Name}."),
    };

    private static string? Text<T>(T? value)
        where T : struct, IFormattable => value?.ToString(null, CultureInfo.InvariantCulture);
}
