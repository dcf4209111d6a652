using Apache.Arrow;
using Apache.Arrow.Ipc;
using BenchmarkDotNet.Attributes;
using Engine.Client.Arrow;
using Engine.Samples;

namespace Engine.Client.Benchmarks.Micro;

/// <summary>
/// Arrow encode and decode of a typical batch (the sample dataset: int64, int32, double, a short
/// UTF-8 string, bool and a timestamp, with nulls) in the SDK's wire framing: one complete IPC
/// stream per data message. The SDK's frame writer (into its reused pooled buffer) and frame
/// reader (no copy, from <see cref="ReadOnlyMemory{T}"/>) next to the bare Apache.Arrow calls into
/// a <see cref="MemoryStream"/>, the baseline they must not fall behind.
/// </summary>
[MemoryDiagnoser]
public class ArrowBenchmarks
{
    private RecordBatch _batch = null!;
    private ArrowFrameWriter _writer = null!;
    private MemoryStream _stream = null!;
    private ReadOnlyMemory<byte> _frame;

    /// <summary>Rows per batch: 10,000 makes a frame of about 300 KB.</summary>
    [Params(10_000)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _batch = SampleData.CreateBatch(0, Rows);
        _writer = new ArrowFrameWriter(maxFrameSize: 64 * 1024 * 1024);
        _stream = new MemoryStream(capacity: 1024 * 1024);
        _frame = _writer.Encode(_batch).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer.Dispose();
        _batch.Dispose();
    }

    [Benchmark]
    public int SdkEncode() => _writer.Encode(_batch).Length;

    [Benchmark]
    public int SdkDecode()
    {
        var (_, batches) = ArrowFrameReader.Read(_frame);
        var rows = batches[0].Length;
        ArrowFrameReader.Dispose(batches);
        return rows;
    }

    [Benchmark]
    public long ApacheArrowEncode()
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
    public int ApacheArrowDecode()
    {
        using var reader = new ArrowStreamReader(_frame);
        using var batch = reader.ReadNextRecordBatch();
        return batch.Length;
    }
}
