using Apache.Arrow;
using Engine.Client.Arrow;
using Engine.Client.Payloads;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client;

/// <summary>When the UDF payload travels in <c>PayloadChunk</c> messages.</summary>
public enum PayloadChunking
{
    /// <summary>Chunk only when the Init message would not fit the worker's message limit (default).</summary>
    Auto,

    /// <summary>Always chunk a non-empty payload (inline payload empty), even when it would fit.</summary>
    Always,
}

/// <summary>
/// Everything the engine sends in <c>Init</c>: the UDF payload and the session's settings.
/// The payload memory is sent without copying; keep it unchanged until
/// <see cref="WorkerSession.InitAsync"/> completes.
/// </summary>
public sealed class SessionInit
{
    /// <summary>The protocol revision this client speaks.</summary>
    public const uint CurrentProtocolVersion = 1;

    /// <summary>Creates an Init for <paramref name="payload"/> in the encoding named by <paramref name="payloadFormat"/>.</summary>
    /// <param name="payload">The serialized UDF bundle, opaque to the engine.</param>
    /// <param name="payloadFormat">Required, non-empty tag naming the payload encoding (for example <c>builtin</c>); sent in <c>udf.format</c>.</param>
    public SessionInit(ReadOnlyMemory<byte> payload, string payloadFormat)
    {
        Payload = payload;
        PayloadFormat = payloadFormat;
    }

    /// <summary>The serialized UDF bundle.</summary>
    public ReadOnlyMemory<byte> Payload { get; set; }

    /// <summary>Tag naming the payload encoding (<c>udf.format</c>); required and non-empty. Not to be confused with <see cref="DataFormat"/>, the wire format of the data.</summary>
    public string PayloadFormat { get; set; }

    /// <summary>Human-readable UDF name, or <see langword="null"/> for none.</summary>
    public string? Name { get; set; }

    /// <summary>Worker-specific dispatch hint, or <see langword="null"/>.</summary>
    public string? EvalType { get; set; }

    /// <summary>Wire format of every data message. Default and only value today: <see cref="UDFWorkerDataFormat.Arrow"/>.</summary>
    public UDFWorkerDataFormat DataFormat { get; set; } = UDFWorkerDataFormat.Arrow;

    /// <summary>Protocol revision sent in Init. Default <see cref="CurrentProtocolVersion"/>; <see langword="null"/> sends none (the initial revision).</summary>
    public uint? ProtocolVersion { get; set; } = CurrentProtocolVersion;

    /// <summary>
    /// The schema of every input batch; sent in <c>Init.input_schema</c> as an Arrow IPC stream
    /// holding the schema only. <see langword="null"/> (default) declares none.
    /// </summary>
    /// <remarks>
    /// With <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{RecordBatch}, ProcessOptions?, CancellationToken)"/>,
    /// every input batch must match it (field names and types, in order) or the session rejects the
    /// batch before sending anything of it. Without a declared schema, the first input batch's schema
    /// is the one every later batch must match.
    /// </remarks>
    public Schema? InputSchema { get; set; }

    /// <summary>
    /// The schema the worker's output must have; sent in <c>Init.output_schema</c> as an Arrow IPC
    /// stream holding the schema only. <see langword="null"/> (default) declares none.
    /// </summary>
    /// <remarks>
    /// With <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{RecordBatch}, ProcessOptions?, CancellationToken)"/>,
    /// an output batch with another schema fails the session (<see cref="WorkerOutputException"/>)
    /// and Cancel is sent. Without a declared schema, the first output batch's schema is the one
    /// every later output batch must match.
    /// </remarks>
    public Schema? OutputSchema { get; set; }

    /// <summary>Per-task identifiers (partition id, attempt id, stage id, ...).</summary>
    public IDictionary<string, string> TaskContext { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Free-form worker-private settings.</summary>
    public IDictionary<string, string> SessionConf { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Session time zone, passed verbatim (IANA id or fixed offset), or <see langword="null"/>.</summary>
    public string? Timezone { get; set; }

    /// <summary>Opaque engine parameters; the worker's answer comes back in <see cref="SessionInitResult.Data"/>.</summary>
    public ReadOnlyMemory<byte>? Parameters { get; set; }

    /// <summary>When to chunk the payload. Default <see cref="PayloadChunking.Auto"/>.</summary>
    public PayloadChunking Chunking { get; set; } = PayloadChunking.Auto;

    /// <summary>
    /// Creates an Init for an Arrow session: the payload, its format tag and the Arrow schemas to
    /// declare in <c>Init.input_schema</c> and <c>Init.output_schema</c>.
    /// </summary>
    /// <param name="payload">The serialized UDF bundle, opaque to the engine.</param>
    /// <param name="payloadFormat">Required, non-empty tag naming the payload encoding (for example <c>builtin</c>).</param>
    /// <param name="inputSchema">The schema of every input batch, or <see langword="null"/> to declare none.</param>
    /// <param name="outputSchema">The schema the output must have, or <see langword="null"/> to declare none.</param>
    public static SessionInit ForArrow(ReadOnlyMemory<byte> payload, string payloadFormat, Schema? inputSchema, Schema? outputSchema = null) =>
        new(payload, payloadFormat) { InputSchema = inputSchema, OutputSchema = outputSchema };

    /// <summary>
    /// Builds the Init message and decides chunking. Throws <see cref="ArgumentException"/> for a
    /// bad Init before anything is sent.
    /// </summary>
    internal InitPlan BuildPlan(int maxMessageSize, int chunkSize)
    {
        if (string.IsNullOrEmpty(PayloadFormat))
        {
            throw new ArgumentException("The payload format is empty; Init requires a non-empty tag naming the payload encoding (for example \"builtin\").");
        }

        if (DataFormat == UDFWorkerDataFormat.Unspecified || !Enum.IsDefined(DataFormat))
        {
            throw new ArgumentException($"The data format {DataFormat} is not valid; use {nameof(UDFWorkerDataFormat)}.{nameof(UDFWorkerDataFormat.Arrow)}.");
        }

        foreach (var (map, name) in new[] { (TaskContext, nameof(TaskContext)), (SessionConf, nameof(SessionConf)) })
        {
            foreach (var (key, value) in map)
            {
                if (key is null || value is null)
                {
                    throw new ArgumentException($"{name} holds a null key or value; protobuf maps carry strings only.");
                }
            }
        }

        var udf = new UdfPayload { Format = PayloadFormat };
        if (Name is not null)
        {
            udf.Name = Name;
        }

        if (EvalType is not null)
        {
            udf.EvalType = EvalType;
        }

        var init = new Init { DataFormat = DataFormat, Udf = udf };
        if (ProtocolVersion is { } version)
        {
            init.ProtocolVersion = version;
        }

        if (InputSchema is { } input)
        {
            init.InputSchema = UnsafeByteOperations.UnsafeWrap(ArrowSchemas.Serialize(input));
        }

        if (OutputSchema is { } output)
        {
            init.OutputSchema = UnsafeByteOperations.UnsafeWrap(ArrowSchemas.Serialize(output));
        }

        if (Timezone is not null)
        {
            init.Timezone = Timezone;
        }

        if (Parameters is { } parameters)
        {
            init.Parameters = UnsafeByteOperations.UnsafeWrap(parameters);
        }

        init.TaskContext.Add(TaskContext);
        init.SessionConf.Add(SessionConf);

        return InitPlan.Create(init, Payload, Chunking == PayloadChunking.Always, maxMessageSize, chunkSize);
    }
}
