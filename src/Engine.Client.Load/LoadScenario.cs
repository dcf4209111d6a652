namespace Engine.Client.Load;

/// <summary>
/// One kind of session in a load test: the UDF (format and payload), its input, its Init settings,
/// how often it is picked (<see cref="Weight"/>) and how often it is cancelled on purpose.
/// </summary>
public sealed class LoadScenario
{
    /// <summary>A scenario running <paramref name="format"/> with <paramref name="payload"/>.</summary>
    /// <param name="name">The scenario's name in reports; not empty.</param>
    /// <param name="format">The payload format tag, <c>Init.udf.format</c>; not empty.</param>
    /// <param name="payload">The UDF payload bytes.</param>
    public LoadScenario(string name, string format, ReadOnlyMemory<byte> payload)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(format);
        Name = name;
        Format = format;
        Payload = payload;
    }

    /// <summary>The scenario's name in reports.</summary>
    public string Name { get; }

    /// <summary>The payload format tag.</summary>
    public string Format { get; }

    /// <summary>The UDF payload.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>The relative weight with which sessions pick this scenario. Default 1; positive.</summary>
    public double Weight { get; set; } = 1;

    /// <summary>The input every session sends. Default none.</summary>
    public LoadInput Input { get; set; } = LoadInput.None;

    /// <summary>
    /// <c>Init.task_context</c> values sent by every session. In values, <c>{session}</c> is
    /// replaced by the session's sequence number in the run and <c>{scenario}</c> by the scenario's name.
    /// </summary>
    public IDictionary<string, string> TaskContext { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary><c>Init.session_conf</c> values sent by every session.</summary>
    public IDictionary<string, string> SessionConf { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The share of this scenario's sessions cancelled on purpose at a random point (after Init,
    /// or before one of the input batches, picked uniformly), from 0 to 1. Default 0. Such sessions
    /// load the cancel path; they count as cancelled, not failed, and their Cancel-to-acknowledgement
    /// time is recorded.
    /// </summary>
    public double CancelShare { get; set; }

    /// <summary>The payload chunk size; <see langword="null"/> chunks only when Init would not fit one message.</summary>
    public int? ChunkSize { get; set; }

    /// <summary>The worker's inbound message limit assumed when planning the payload chunks (default 4 MiB); used to report Init's chunk count.</summary>
    public int MaxMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// How many PayloadChunk messages Init sends with this scenario's payload: 0 when the payload
    /// travels inside Init.
    /// </summary>
    public int InitChunks
    {
        get
        {
            var chunk = ChunkSize ?? Math.Min(DefaultChunkSize, MaxMessageSize - 64);
            var chunked = ChunkSize is { } size ? Payload.Length > size : Payload.Length + 1024 > MaxMessageSize;
            return chunked ? (int)((Payload.Length + (long)chunk - 1) / chunk) : 0;
        }
    }

    /// <summary>The session's payload chunk size when none is set: 1 MiB, as the SDK's.</summary>
    private const int DefaultChunkSize = 1024 * 1024;

    internal SessionInit BuildInit(long sequence)
    {
        var init = Input.Schema is { } schema
            ? SessionInit.ForArrow(Payload, Format, schema)
            : new SessionInit(Payload, Format);
        foreach (var (key, value) in SessionConf)
        {
            init.SessionConf[key] = value;
        }

        foreach (var (key, value) in TaskContext)
        {
            init.TaskContext[key] = value.Contains('{', StringComparison.Ordinal)
                ? value.Replace("{session}", sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                    .Replace("{scenario}", Name, StringComparison.Ordinal)
                : value;
        }

        if (ChunkSize is { } chunk && Payload.Length > chunk)
        {
            init.Chunking = PayloadChunking.Always;
        }

        return init;
    }
}
