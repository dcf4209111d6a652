using BenchmarkDotNet.Attributes;
using Engine.Client.Payloads;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Benchmarks.Micro;

/// <summary>
/// A 16 MiB UDF payload on its way out: the CRC-32 of the assembled payload (System.IO.Hashing),
/// the chunk messages (<see cref="PayloadChunker"/>, no copy of the payload) serialized into a
/// reused buffer as the gRPC layer would, and the whole Init plan (CRC-32 and chunk layout).
/// </summary>
[MemoryDiagnoser]
public class ChunkingBenchmarks
{
    private const int PayloadSize = 16 * 1024 * 1024;
    private const int ChunkSize = SessionOptions.DefaultPayloadChunkSize;

    private byte[] _payload = [];
    private byte[] _buffer = [];

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[PayloadSize];
        new Random(7).NextBytes(_payload);
        _buffer = new byte[ChunkSize + PayloadChunker.ChunkFramingAllowance];
    }

    [Benchmark]
    public uint Crc32() => UdfRequests.PayloadCrc32(_payload);

    [Benchmark]
    public long ChunkAndSerialize()
    {
        long total = 0;
        var count = PayloadChunker.ChunkCount(_payload.Length, ChunkSize);
        for (var index = 0; index < count; index++)
        {
            var chunk = PayloadChunker.Chunk(_payload, ChunkSize, index);
            var size = chunk.CalculateSize();
            chunk.WriteTo(_buffer.AsSpan(0, size));
            total += size;
        }

        return total;
    }

    [Benchmark]
    public int InitPlanWithCrc32()
    {
        var init = new SessionInit(_payload, "bench") { Chunking = PayloadChunking.Always };
        return init.BuildPlan(64 * 1024 * 1024, ChunkSize).ChunkCount;
    }
}
