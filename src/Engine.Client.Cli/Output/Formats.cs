using System.Globalization;
using System.Text;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Output;

/// <summary>Numbers, sizes and times for people.</summary>
internal static class Formats
{
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Bytes(long value) => ByteSizes.Format(value);

    public static string Nanos(ulong nanos) => Durations.Format(TimeSpan.FromTicks((long)Math.Min(nanos / 100, (ulong)TimeSpan.MaxValue.Ticks)));

    public static string Seconds(TimeSpan value) => string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.000} s");

    public static string Milliseconds(TimeSpan value) => string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds:0.###} ms");

    /// <summary>For example <c>3 batches, 300 rows, 12.1 KiB</c>; rows left out when unknown.</summary>
    public static string Traffic(long batches, long? rows, long bytes, long? rowsOfBatches = null)
    {
        var text = new StringBuilder();
        text.Append(Count(batches)).Append(batches == 1 ? " batch" : " batches");
        if (rows is { } r && rowsOfBatches is { } read && read < batches)
        {
            // Rows are known only for the batches read: never present them as those of all.
            text.Append(", ").Append(Bytes(bytes))
                .Append("; ").Append(Count(r)).Append(r == 1 ? " row" : " rows")
                .Append(" in the ").Append(Count(read)).Append(read == 1 ? " batch" : " batches").Append(" read");
            return text.ToString();
        }

        if (rows is { } all)
        {
            text.Append(", ").Append(Count(all)).Append(all == 1 ? " row" : " rows");
        }

        text.Append(", ").Append(Bytes(bytes));
        return text.ToString();
    }

    /// <summary>Opaque bytes from the worker (init or finish data): the text when printable, hex otherwise, with the size.</summary>
    public static string Data(ReadOnlyMemory<byte>? data) => data switch
    {
        null => "(none)",
        { IsEmpty: true } => "(empty)",
        { } bytes => $"{Operations.BytePreview.Describe(bytes.Span)} ({Bytes(bytes.Length)})",
    };
}
