using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>What a UDF sees of the init handshake.</summary>
internal sealed class UdfInitContext
{
    public UdfInitContext(Init init, ByteString payload, IWireControl wire)
    {
        Init = init;
        Payload = payload;
        Wire = wire;
    }

    /// <summary>The engine's Init message, as received (schemas, task context, session conf, ...).</summary>
    public Init Init { get; }

    /// <summary>The assembled UDF payload: inline bytes followed by every chunk, verified.</summary>
    public ByteString Payload { get; }

    /// <summary><c>Init.parameters</c>, or <see langword="null"/> when unset.</summary>
    public ByteString? Parameters => Init.HasParameters ? Init.Parameters : null;

    /// <summary>The payload format tag (<c>udf.format</c>).</summary>
    public string Format => Init.Udf.Format;

    /// <summary>
    /// Raw access to the wire, for fault-injection UDFs only: a correct UDF never needs it.
    /// </summary>
    public IWireControl Wire { get; }
}
