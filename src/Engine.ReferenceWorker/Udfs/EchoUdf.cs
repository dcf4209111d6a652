using System.Globalization;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>
/// Format <c>echo</c>: every input batch comes back unchanged as one output batch, and Finish
/// answers <c>echoed &lt;n&gt; batches</c>. The bytes are opaque (any data format works) and are
/// not copied: the output message reuses the input's buffer. Its output schema is its input
/// schema: when the engine declares <c>Init.input_schema</c> (and sends no <c>Init.parameters</c>,
/// which are echoed instead), <c>InitResponse.data</c> answers it as the output schema, the same
/// schema-only Arrow IPC stream, as the <c>builtin</c> format does; so an engine knows the schema
/// of an output that has no batch.
/// </summary>
internal sealed class EchoUdf : Udf
{
    public const string Format = "echo";

    private long _batches;

    public override ValueTask<ByteString?> InitAsync(UdfInitContext context, CancellationToken cancellationToken) =>
        context.Parameters is null && context.Init.HasInputSchema
            ? ValueTask.FromResult<ByteString?>(context.Init.InputSchema)
            : base.InitAsync(context, cancellationToken);

    public override ValueTask ProcessAsync(ByteString batch, IUdfOutput output, CancellationToken cancellationToken)
    {
        _batches++;
        return output.EmitAsync(batch, cancellationToken: cancellationToken);
    }

    public override ValueTask<ByteString?> FinishAsync(IUdfOutput output, CancellationToken cancellationToken) =>
        ValueTask.FromResult<ByteString?>(ByteString.CopyFromUtf8(string.Create(CultureInfo.InvariantCulture, $"echoed {_batches} batches")));
}
