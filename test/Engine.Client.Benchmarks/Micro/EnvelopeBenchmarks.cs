using System.Buffers;
using BenchmarkDotNet.Attributes;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Benchmarks.Micro;

/// <summary>
/// The data envelopes of the hot path: build a <c>UdfRequest</c>/<c>UdfResponse</c> around a batch
/// without copying it (<see cref="UnsafeByteOperations.UnsafeWrap"/>) and serialize it into a
/// reused buffer, as the gRPC layer does; and parse one from a <see cref="ReadOnlySequence{T}"/>,
/// contiguous or in 16 KiB segments (HTTP/2 frames), as the gRPC layer hands it over.
/// </summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    private byte[] _batch = [];
    private byte[] _buffer = [];
    private ReadOnlySequence<byte> _request;
    private ReadOnlySequence<byte> _response;
    private ReadOnlySequence<byte> _responseSegmented;

    [Params(64 * 1024, 1024 * 1024)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _batch = new byte[BatchSize];
        new Random(42).NextBytes(_batch);
        _buffer = new byte[BatchSize + 64];
        _request = new ReadOnlySequence<byte>(Request().ToByteArray());
        var response = Response().ToByteArray();
        _response = new ReadOnlySequence<byte>(response);
        _responseSegmented = Segments.Split(response, 16 * 1024);
    }

    [Benchmark]
    public int BuildAndSerializeRequest()
    {
        var message = Request();
        var size = message.CalculateSize();
        message.WriteTo(_buffer.AsSpan(0, size));
        return size;
    }

    [Benchmark]
    public int BuildAndSerializeResponse()
    {
        var message = Response();
        var size = message.CalculateSize();
        message.WriteTo(_buffer.AsSpan(0, size));
        return size;
    }

    [Benchmark]
    public int ParseRequest() => UdfRequest.Parser.ParseFrom(_request).Data.Data.Length;

    [Benchmark]
    public int ParseResponse() => UdfResponse.Parser.ParseFrom(_response).Data.Data.Length;

    [Benchmark]
    public int ParseResponseSegmented() => UdfResponse.Parser.ParseFrom(_responseSegmented).Data.Data.Length;

    private UdfRequest Request() => new() { Data = new DataRequest { Data = UnsafeByteOperations.UnsafeWrap(_batch) } };

    private UdfResponse Response() => new() { Data = new DataResponse { Data = UnsafeByteOperations.UnsafeWrap(_batch) } };
}

/// <summary>Builds multi-segment sequences.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Split(byte[] bytes, int segmentSize)
    {
        Segment? first = null, last = null;
        for (var offset = 0; offset < bytes.Length; offset += segmentSize)
        {
            var memory = bytes.AsMemory(offset, Math.Min(segmentSize, bytes.Length - offset));
            var segment = new Segment(memory, offset);
            if (last is null)
            {
                first = segment;
            }
            else
            {
                last.SetNext(segment);
            }

            last = segment;
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
