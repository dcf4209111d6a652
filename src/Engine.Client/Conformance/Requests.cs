using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Conformance;

/// <summary>Builders of the engine messages the checks send.</summary>
internal static class Requests
{
    public static UdfRequest Init(Init init) => Control(new UdfControlRequest { Init = init });

    public static UdfRequest Data(ReadOnlyMemory<byte> batch) =>
        new() { Data = new DataRequest { Data = UnsafeByteOperations.UnsafeWrap(batch) } };

    public static UdfRequest Finish() => Control(new UdfControlRequest { Finish = new Finish() });

    public static UdfRequest Cancel(string reason) => Control(new UdfControlRequest { Cancel = new Cancel { Reason = reason } });

    public static UdfRequest Chunk(ReadOnlyMemory<byte> data, bool last)
    {
        var chunk = new PayloadChunk { Data = UnsafeByteOperations.UnsafeWrap(data) };
        if (last)
        {
            chunk.Last = true;
        }

        return Control(new UdfControlRequest { Payload = chunk });
    }

    private static UdfRequest Control(UdfControlRequest control) => new() { Control = control };
}
