using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using BenchmarkDotNet.Attributes;

namespace Engine.Client.Benchmarks.Micro;

/// <summary>
/// Arrow encode and decode of a typical batch (10,000 rows: int64, double, a short string and a
/// nullable int32) in the SDK's wire framing: one complete IPC stream per data message (schema,
/// the batch, end-of-stream), read back without copying from <see cref="ReadOnlyMemory{T}"/>.
/// </summary>
/// <remarks>
/// Until the SDK's Arrow layer (<c>Engine.Client.Arrow</c>) is on this branch, these measure the
/// Apache.Arrow calls that layer is built on, as the baseline it must not fall behind. When it
/// lands, <see cref="Encode"/> and <see cref="Decode"/> switch to its encoder and decoder and the
/// baselines stay as they are.
/// </remarks>
[MemoryDiagnoser]
public class ArrowBenchmarks
{
    private const int Rows = 10_000;

    private RecordBatch _batch = null!;
    private MemoryStream _stream = null!;
    private ReadOnlyMemory<byte> _encoded;

    [GlobalSetup]
    public void Setup()
    {
        _batch = TypicalBatch(Rows);
        _stream = new MemoryStream(capacity: 1024 * 1024);
        _encoded = EncodeToArray(_batch);
    }

    [GlobalCleanup]
    public void Cleanup() => _batch.Dispose();

    [Benchmark(Baseline = true)]
    public long Encode()
    {
        _stream.Position = 0;
        _stream.SetLength(0);
        using (var writer = new ArrowStreamWriter(_stream, _batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(_batch);
            writer.WriteEnd();
        }

        return _stream.Length;
    }

    [Benchmark]
    public int Decode()
    {
        using var reader = new ArrowStreamReader(_encoded);
        using var batch = reader.ReadNextRecordBatch();
        return batch.Length;
    }

    public static RecordBatch TypicalBatch(int rows)
    {
        var ids = new Int64Array.Builder();
        var values = new DoubleArray.Builder();
        var names = new StringArray.Builder();
        var counts = new Int32Array.Builder();
        for (var i = 0; i < rows; i++)
        {
            ids.Append(i);
            values.Append(i * 0.5);
            names.Append("name-" + (i % 1000).ToString("D4", System.Globalization.CultureInfo.InvariantCulture));
            if (i % 10 == 0)
            {
                counts.AppendNull();
            }
            else
            {
                counts.Append(i % 97);
            }
        }

        var schema = new Schema.Builder()
            .Field(f => f.Name("id").DataType(Int64Type.Default).Nullable(false))
            .Field(f => f.Name("value").DataType(DoubleType.Default).Nullable(false))
            .Field(f => f.Name("name").DataType(StringType.Default).Nullable(false))
            .Field(f => f.Name("count").DataType(Int32Type.Default).Nullable(true))
            .Build();
        return new RecordBatch(schema, [ids.Build(), values.Build(), names.Build(), counts.Build()], rows);
    }

    private static byte[] EncodeToArray(RecordBatch batch)
    {
        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return stream.ToArray();
    }
}
