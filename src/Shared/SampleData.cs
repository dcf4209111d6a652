using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Engine.Samples;

/// <summary>
/// A deterministic sample dataset for demos, tests and the reference worker's <c>generate</c>
/// statement: any number of rows in six columns of common types, with strings (some non-ASCII)
/// and nulls in every nullable column. Row <c>r</c> always holds the same values, so a check
/// can recompute any expected result from the row number alone.
/// </summary>
/// <remarks>
/// Compiled into each project that needs it (linked source, <c>src/Shared/SampleData.cs</c>), so
/// it is not part of any public API.
/// </remarks>
internal static class SampleData
{
    /// <summary>The first row's timestamp; row <c>r</c> is <c>r</c> seconds later.</summary>
    public static readonly DateTimeOffset Epoch = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly string[] Words = ["alpha", "beta", "gamma", "délta", "epsilon", "zêta", "eta", "theta"];

    private static readonly TimestampType TimestampType = new(TimeUnit.Microsecond, "UTC");

    /// <summary>
    /// <c>id</c> int64 (not null), <c>x</c> int32, <c>score</c> double, <c>name</c> utf8,
    /// <c>flag</c> bool, <c>ts</c> timestamp[us, UTC].
    /// </summary>
    public static Schema Schema { get; } = new Schema.Builder()
        .Field(f => f.Name("id").DataType(Int64Type.Default).Nullable(false))
        .Field(f => f.Name("x").DataType(Int32Type.Default).Nullable(true))
        .Field(f => f.Name("score").DataType(DoubleType.Default).Nullable(true))
        .Field(f => f.Name("name").DataType(StringType.Default).Nullable(true))
        .Field(f => f.Name("flag").DataType(BooleanType.Default).Nullable(true))
        .Field(f => f.Name("ts").DataType(TimestampType).Nullable(true))
        .Build();

    /// <summary>Column <c>id</c> of row <paramref name="row"/>: the row number itself.</summary>
    public static long Id(long row) => row;

    /// <summary>Column <c>x</c>: <c>row % 100</c>, null when <c>row % 7 == 3</c>.</summary>
    public static int? X(long row) => row % 7 == 3 ? null : (int)(row % 100);

    /// <summary>Column <c>score</c>: <c>(row % 1000) / 8</c> (exact in binary), null when <c>row % 11 == 5</c>.</summary>
    public static double? Score(long row) => row % 11 == 5 ? null : (row % 1000) / 8.0;

    /// <summary>Column <c>name</c>: a word and the row number (for example <c>délta-3</c>), null when <c>row % 13 == 7</c>.</summary>
    public static string? Name(long row) =>
        row % 13 == 7 ? null : string.Create(CultureInfo.InvariantCulture, $"{Words[row % Words.Length]}-{row}");

    /// <summary>Column <c>flag</c>: whether the row number is even, null when <c>row % 17 == 0</c>.</summary>
    public static bool? Flag(long row) => row % 17 == 0 ? null : row % 2 == 0;

    /// <summary>Column <c>ts</c>: <see cref="Epoch"/> plus <c>row</c> seconds, null when <c>row % 19 == 1</c>.</summary>
    public static DateTimeOffset? Timestamp(long row) => row % 19 == 1 ? null : Epoch.AddSeconds(row);

    /// <summary>
    /// The rows <c>[0, rows)</c> in batches of <paramref name="batchSize"/> rows (the last one may
    /// be shorter), built lazily one at a time. The caller owns (and disposes) each batch.
    /// </summary>
    public static IEnumerable<RecordBatch> CreateBatches(long rows, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        for (long first = 0; first < rows; first += batchSize)
        {
            yield return CreateBatch(first, (int)Math.Min(batchSize, rows - first));
        }
    }

    /// <summary>The <paramref name="rows"/> rows starting at row <paramref name="firstRow"/>, as one batch.</summary>
    public static RecordBatch CreateBatch(long firstRow, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        var id = new Int64Array.Builder().Reserve(rows);
        var x = new Int32Array.Builder().Reserve(rows);
        var score = new DoubleArray.Builder().Reserve(rows);
        var name = new StringArray.Builder().Reserve(rows);
        var flag = new BooleanArray.Builder().Reserve(rows);
        var ts = new TimestampArray.Builder(TimestampType).Reserve(rows);
        for (var row = firstRow; row < firstRow + rows; row++)
        {
            id.Append(Id(row));
            x.Append(X(row));
            score.Append(Score(row));
            name.Append(Name(row));
            if (Flag(row) is { } set)
            {
                flag.Append(set);
            }
            else
            {
                flag.AppendNull();
            }

            if (Timestamp(row) is { } value)
            {
                ts.Append(value);
            }
            else
            {
                ts.AppendNull();
            }
        }

        return new RecordBatch(Schema, [id.Build(), x.Build(), score.Build(), name.Build(), flag.Build(), ts.Build()], rows);
    }
}
