using System.Globalization;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>
/// Format <c>echo</c>: every input batch comes back unchanged as one output batch, and Finish
/// answers <c>echoed &lt;n&gt; batches</c>. The bytes are opaque (any data format works) and are
/// not copied: the output message reuses the input's buffer.
/// </summary>
internal sealed class EchoUdf : Udf
{
    public const string Format = "echo";

    private long _batches;

    public override ValueTask ProcessAsync(ByteString batch, IUdfOutput output, CancellationToken cancellationToken)
    {
        _batches++;
        return output.EmitAsync(batch, cancellationToken: cancellationToken);
    }

    public override ValueTask<ByteString?> FinishAsync(IUdfOutput output, CancellationToken cancellationToken) =>
        ValueTask.FromResult<ByteString?>(ByteString.CopyFromUtf8(string.Create(CultureInfo.InvariantCulture, $"echoed {_batches} batches")));
}
