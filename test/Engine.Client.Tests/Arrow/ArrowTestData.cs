using System.Runtime.CompilerServices;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Engine.Samples;

namespace Engine.Client.Tests.Arrow;

/// <summary>Batches, rows and IPC bytes for the Arrow tests.</summary>
internal static class ArrowTestData
{
    /// <summary>Every cell of <paramref name="batch"/> as a plain value (null for nulls), row by row.</summary>
    public static List<object?[]> Rows(RecordBatch batch)
    {
        var rows = new List<object?[]>(batch.Length);
        for (var row = 0; row < batch.Length; row++)
        {
            var cells = new object?[batch.ColumnCount];
            for (var column = 0; column < batch.ColumnCount; column++)
            {
                cells[column] = Cell(batch.Column(column), row);
            }

            rows.Add(cells);
        }

        return rows;
    }

    /// <summary>Every row of every batch, in order.</summary>
    public static List<object?[]> Rows(IEnumerable<RecordBatch> batches) => [.. batches.SelectMany(Rows)];

    /// <summary>The sample rows [first, first + count) as plain values, computed from the row numbers.</summary>
    public static List<object?[]> SampleRows(long first, long count)
    {
        var rows = new List<object?[]>();
        for (var row = first; row < first + count; row++)
        {
            rows.Add([SampleData.Id(row), SampleData.X(row), SampleData.Score(row), SampleData.Name(row), SampleData.Flag(row), SampleData.Timestamp(row)]);
        }

        return rows;
    }

    /// <summary>
    /// Asserts <paramref name="actual"/> holds exactly the rows of <paramref name="expected"/>, cell
    /// types included; fast on 100 000 rows, and on failure names the first differing row.
    /// </summary>
    public static void AssertRows(IReadOnlyList<object?[]> actual, IReadOnlyList<object?[]> expected, string? what = null)
    {
        for (var i = 0; i < Math.Min(actual.Count, expected.Count); i++)
        {
            if (!actual[i].SequenceEqual(expected[i]))
            {
                Assert.Fail($"{what ?? "rows"}: row {i} is [{Show(actual[i])}], expected [{Show(expected[i])}]");
            }
        }

        Assert.That(actual, Has.Count.EqualTo(expected.Count), $"{what ?? "rows"}: row count");
    }

    private static string Show(object?[] row) =>
        string.Join(", ", row.Select(c => c is null ? "null" : $"{c} ({c.GetType().Name})"));

    public static object? Cell(IArrowArray array, int index)
    {
        if (array.IsNull(index))
        {
            return null;
        }

        return array switch
        {
            Int32Array a => a.GetValue(index),
            Int64Array a => a.GetValue(index),
            DoubleArray a => a.GetValue(index),
            StringArray a => a.GetString(index),
            BooleanArray a => a.GetValue(index),
            TimestampArray a => a.GetTimestamp(index),
            _ => throw new NotSupportedException($"No test reader for {array.Data.DataType.Name}."),
        };
    }

    /// <summary>One IPC stream of <paramref name="batch"/>, written with a plain Apache.Arrow stream writer.</summary>
    public static byte[] Ipc(RecordBatch batch)
    {
        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return stream.ToArray();
    }

    /// <summary>A batch of <paramref name="rows"/> rows with one int32 column <paramref name="name"/>.</summary>
    public static RecordBatch Ints(string name, int rows, int first = 0) =>
        new RecordBatch.Builder().Append(name, true, c => c.Int32(b => b.AppendRange(Enumerable.Range(first, rows)))).Build();

    /// <summary>The sample schema with column <c>x</c> as int64 instead of int32.</summary>
    public static Schema SampleWithWideX() => SampleData.Schema.SetField(1, new Field("x", Int64Type.Default, nullable: true));

    /// <summary>The sample rows as batches, for <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{RecordBatch}, CancellationToken)"/>; each disposed once the session asks for the next.</summary>
    public static async IAsyncEnumerable<RecordBatch> SampleBatches(long rows, int batchSize, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var batch in SampleData.CreateBatches(rows, batchSize))
        {
            using (batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return batch;
            }
        }

        await Task.CompletedTask;
    }

    /// <summary>The given batches, asynchronously, without disposing them.</summary>
    public static async IAsyncEnumerable<RecordBatch> Batches(params RecordBatch?[] batches)
    {
        foreach (var batch in batches)
        {
            await Task.Yield();
            yield return batch!;
        }
    }
}
