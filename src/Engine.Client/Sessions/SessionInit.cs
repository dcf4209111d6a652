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
public sealed partial class SessionInit
{
    /// <summary>The protocol revision this client speaks.</summary>
    public const uint CurrentProtocolVersion = 1;

    /// <summary>Creates an Init for <paramref name="payload"/> in the encoding named by <paramref name="format"/>.</summary>
    /// <param name="payload">The serialized UDF bundle, opaque to the engine.</param>
    /// <param name="format">Required, non-empty tag naming the payload encoding (for example <c>builtin</c>).</param>
    public SessionInit(ReadOnlyMemory<byte> payload, string format)
    {
        Payload = payload;
        Format = format;
    }

    /// <summary>The serialized UDF bundle.</summary>
    public ReadOnlyMemory<byte> Payload { get; set; }

    /// <summary>Tag naming the payload encoding; required and non-empty.</summary>
    public string Format { get; set; }

    /// <summary>Human-readable UDF name, or <see langword="null"/> for none.</summary>
    public string? Name { get; set; }

    /// <summary>Worker-specific dispatch hint, or <see langword="null"/>.</summary>
    public string? EvalType { get; set; }

    /// <summary>Wire format of every data message. Default and only value today: <see cref="UDFWorkerDataFormat.Arrow"/>.</summary>
    public UDFWorkerDataFormat DataFormat { get; set; } = UDFWorkerDataFormat.Arrow;

    /// <summary>Protocol revision sent in Init. Default <see cref="CurrentProtocolVersion"/>; <see langword="null"/> sends none (the initial revision).</summary>
    public uint? ProtocolVersion { get; set; } = CurrentProtocolVersion;

    /// <summary>Input schema in the data format (Arrow: an IPC stream holding only the schema), or <see langword="null"/>. See also <see cref="InputArrowSchema"/>.</summary>
    public ReadOnlyMemory<byte>? InputSchema { get; set; }

    /// <summary>Output schema, same encoding, or <see langword="null"/>. See also <see cref="OutputArrowSchema"/>.</summary>
    public ReadOnlyMemory<byte>? OutputSchema { get; set; }

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
    /// Builds the Init message and decides chunking. Throws <see cref="ArgumentException"/> for a
    /// bad Init before anything is sent.
    /// </summary>
    internal InitPlan BuildPlan(int maxMessageSize, int chunkSize)
    {
        if (string.IsNullOrEmpty(Format))
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

        var udf = new UdfPayload { Format = Format };
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

        if (WireInputSchema() is { } input)
        {
            init.InputSchema = UnsafeByteOperations.UnsafeWrap(input);
        }

        if (WireOutputSchema() is { } output)
        {
            init.OutputSchema = UnsafeByteOperations.UnsafeWrap(output);
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

        var payload = Payload;
        var envelopeWithoutPayload = UdfRequests.Init(init).CalculateSize();

        // Size and CRC fields, the chunking flag and the payload's own tag and length prefix.
        const int PayloadFieldsAllowance = 32;
        var inlineSize = envelopeWithoutPayload + PayloadFieldsAllowance + payload.Length;
        var chunk = payload.Length > 0 && (Chunking == PayloadChunking.Always || inlineSize > maxMessageSize);

        if (envelopeWithoutPayload + PayloadFieldsAllowance > maxMessageSize)
        {
            throw new ArgumentException(
                $"Init without its payload is {envelopeWithoutPayload} bytes, over the worker's message limit of {maxMessageSize} bytes: schemas, task context, session conf and parameters must fit in one message. Make them smaller or raise {nameof(WorkerClientOptions)}.{nameof(WorkerClientOptions.MaxSendMessageSize)} if the worker accepts more.");
        }

        if (chunk)
        {
            init.IsChunkingPayload = true;
            udf.PayloadSize = payload.Length;
            udf.PayloadCrc32 = UdfRequests.PayloadCrc32(payload.Span);
            return new InitPlan(
                UdfRequests.Init(init),
                payload,
                chunkSize,
                PayloadChunker.ChunkCount(payload.Length, chunkSize));
        }

        udf.Payload = UnsafeByteOperations.UnsafeWrap(payload);
        return new InitPlan(UdfRequests.Init(init), ReadOnlyMemory<byte>.Empty, chunkSize, 0);
    }
}

/// <summary>The Init message and, when chunking, the payload to send after it.</summary>
internal sealed record InitPlan(UdfRequest Init, ReadOnlyMemory<byte> ChunkedPayload, int ChunkSize, int ChunkCount);
