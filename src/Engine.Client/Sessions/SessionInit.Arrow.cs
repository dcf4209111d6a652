using Apache.Arrow;
using Engine.Client.Arrow;

namespace Engine.Client;

/// <content>Arrow schemas for <c>Init.input_schema</c> and <c>Init.output_schema</c>.</content>
public sealed partial class SessionInit
{
    /// <summary>
    /// The schema of every input batch, as an Arrow <see cref="Schema"/>; sent in
    /// <c>Init.input_schema</c> as an Arrow IPC stream holding the schema only. <see langword="null"/>
    /// (default) declares none. Set this or <see cref="InputSchema"/> (the same thing as raw bytes), not both.
    /// </summary>
    /// <remarks>
    /// With <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{RecordBatch}, ProcessOptions?, CancellationToken)"/>,
    /// every input batch must match it (field names and types, in order) or the session rejects the
    /// batch before sending anything of it. Without a declared schema, the first input batch's schema
    /// is the one every later batch must match.
    /// </remarks>
    public Schema? InputArrowSchema { get; set; }

    /// <summary>
    /// The schema the worker's output must have, as an Arrow <see cref="Schema"/>; sent in
    /// <c>Init.output_schema</c> as an Arrow IPC stream holding the schema only. <see langword="null"/>
    /// (default) declares none. Set this or <see cref="OutputSchema"/>, not both.
    /// </summary>
    /// <remarks>
    /// With <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{RecordBatch}, ProcessOptions?, CancellationToken)"/>,
    /// an output batch with another schema fails the session (<see cref="WorkerOutputException"/>)
    /// and Cancel is sent. Without a declared schema, the first output batch's schema is the one
    /// every later output batch must match.
    /// </remarks>
    public Schema? OutputArrowSchema { get; set; }

    /// <summary>
    /// Creates an Init for an Arrow session: the payload, its format tag and the Arrow schemas to
    /// declare in <c>Init.input_schema</c> and <c>Init.output_schema</c>.
    /// </summary>
    /// <param name="payload">The serialized UDF bundle, opaque to the engine.</param>
    /// <param name="format">Required, non-empty tag naming the payload encoding (for example <c>builtin</c>).</param>
    /// <param name="inputSchema">The schema of every input batch, or <see langword="null"/> to declare none.</param>
    /// <param name="outputSchema">The schema the output must have, or <see langword="null"/> to declare none.</param>
    public static SessionInit ForArrow(ReadOnlyMemory<byte> payload, string format, Schema? inputSchema, Schema? outputSchema = null) =>
        new(payload, format) { InputArrowSchema = inputSchema, OutputArrowSchema = outputSchema };

    /// <summary>The <c>input_schema</c> bytes to send: the Arrow schema serialized, the raw bytes, or none.</summary>
    private ReadOnlyMemory<byte>? WireInputSchema() =>
        WireSchema(InputArrowSchema, InputSchema, nameof(InputArrowSchema), nameof(InputSchema));

    /// <summary>The <c>output_schema</c> bytes to send.</summary>
    private ReadOnlyMemory<byte>? WireOutputSchema() =>
        WireSchema(OutputArrowSchema, OutputSchema, nameof(OutputArrowSchema), nameof(OutputSchema));

    private static ReadOnlyMemory<byte>? WireSchema(Schema? arrow, ReadOnlyMemory<byte>? raw, string arrowName, string rawName)
    {
        if (arrow is null)
        {
            return raw;
        }

        if (raw is not null)
        {
            throw new ArgumentException(
                $"Both {arrowName} and {rawName} are set; they are the same Init field. Set {arrowName} (an Arrow Schema) or {rawName} (its IPC bytes), not both.");
        }

        return ArrowSchemas.Serialize(arrow);
    }
}
