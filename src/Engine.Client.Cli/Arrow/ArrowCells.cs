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
            _ => $"<{array.Data.DataType.Name}>",
        };
        text ??= "null";
        return text.Length <= MaxChars ? text : text[..(MaxChars - 3)] + "...";
    }

    private static string? Text<T>(T? value)
        where T : struct, IFormattable => value?.ToString(null, CultureInfo.InvariantCulture);
}
