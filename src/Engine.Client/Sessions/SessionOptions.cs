namespace Engine.Client;

/// <summary>
/// Timeouts and buffer bounds of one session. Defaults suit production; tests that prove a fast
/// path set the timeouts to minutes so a regression hangs instead of passing by timing out. Each
/// timeout must be positive and at most 24.8 days (2^31 - 1 ms, the longest wait of a timer),
/// checked when the client, pool or fleet is created or the session opened.
/// </summary>
public sealed class SessionOptions
{
    /// <summary>1 MiB.</summary>
    internal const int DefaultPayloadChunkSize = 1024 * 1024;

    /// <summary>
    /// How long to wait for the worker's InitResponse, counted from the start of
    /// <see cref="WorkerSession.InitAsync"/>. Default 30 s. On expiry the session ends with a
    /// transport failure.
    /// </summary>
    public TimeSpan InitResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Once nothing is left to send (Finish went out), the longest silence allowed between two
    /// worker messages. Default 30 s. On expiry the session ends with a transport failure.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long to wait for the terminator after a Cancel was requested (or after a send failed)
    /// before the call is aborted. Default 2 s. An unacknowledged Cancel ends the session as
    /// <see cref="SessionOutcomeKind.Interrupted"/> when the caller cancelled, otherwise as a
    /// transport failure; either way the worker is not reused.
    /// </summary>
    public TimeSpan CancelAcknowledgementTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// While processing, the longest time a worker may go without accepting input the engine is
    /// sending (a batch, or Finish) and without sending anything. On expiry the session ends with
    /// a transport failure (<see cref="TransportFailureReason.Timeout"/>): the call is aborted (the
    /// worker sees the stream reset, which the protocol treats as Cancel; a Cancel message cannot
    /// pass a worker that stopped reading) and the worker is not reused. The clock runs only while
    /// a write waits for the worker, restarts at each message from the worker, and stops while the
    /// session's output buffer is full (the engine is not consuming). <see langword="null"/>
    /// (default): off, because a UDF may legitimately compute for long without taking input or
    /// producing output (a large batch, a sink or an aggregate), and a dead or frozen worker is
    /// already caught by the pool's heartbeats; set it to more than the slowest batch a UDF may
    /// take, for example minutes.
    /// </summary>
    public TimeSpan? ProgressTimeout { get; set; }

    /// <summary>
    /// Size of each <c>PayloadChunk</c> when the UDF payload is chunked. <see langword="null"/>
    /// (default) uses 1 MiB, or less when the worker's message limit is smaller. When set, it must be
    /// positive and leave room for framing under the worker's message limit.
    /// </summary>
    public int? PayloadChunkSize { get; set; }

    /// <summary>
    /// Output batches buffered between the gRPC reader and the consumer. Default 4. When full, the
    /// reader stops reading and HTTP/2 flow control stops the worker: memory stays bounded.
    /// </summary>
    public int OutputBufferCapacity { get; set; } = 4;

    /// <summary>
    /// Receive output batches into pooled buffers instead of a new array per batch. Default
    /// <see langword="false"/>. With it, <see cref="WorkerSession.ProcessPooledAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, ProcessOptions?, CancellationToken)"/>
    /// hands out each batch as a <see cref="PooledOutput"/> whose disposal returns its buffer, and
    /// the Arrow <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{Apache.Arrow.RecordBatch}, CancellationToken)"/>
    /// yields record batches that own their buffer (disposing the batch returns it). The
    /// <see cref="ReadOnlyMemory{T}"/> output of <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, CancellationToken)"/>
    /// works as without it (its batches are never returned to the pool). Large batches gain the most:
    /// without it every batch of 85,000 bytes or more is a new large-object-heap array.
    /// </summary>
    public bool PooledOutput { get; set; }

    internal void Validate(int maxSendMessageSize)
    {
        WorkerClientOptions.RequirePositive(InitResponseTimeout, nameof(InitResponseTimeout));
        WorkerClientOptions.RequirePositive(IdleTimeout, nameof(IdleTimeout));
        WorkerClientOptions.RequirePositive(CancelAcknowledgementTimeout, nameof(CancelAcknowledgementTimeout));
        if (ProgressTimeout is { } progress)
        {
            WorkerClientOptions.RequirePositive(progress, nameof(ProgressTimeout));
        }

        if (PayloadChunkSize < 1)
        {
            throw new ArgumentException($"{nameof(PayloadChunkSize)} is {PayloadChunkSize}; it must be positive.");
        }

        if (PayloadChunkSize is { } chunkSize && chunkSize > maxSendMessageSize - Payloads.PayloadChunker.ChunkFramingAllowance)
        {
            throw new ArgumentException(
                $"{nameof(PayloadChunkSize)} is {PayloadChunkSize} bytes; with framing it must fit the worker's message limit of {maxSendMessageSize} bytes. Use at most {maxSendMessageSize - Payloads.PayloadChunker.ChunkFramingAllowance}.");
        }

        if (OutputBufferCapacity < 1)
        {
            throw new ArgumentException($"{nameof(OutputBufferCapacity)} is {OutputBufferCapacity}; it must be at least 1.");
        }
    }

    internal int EffectiveChunkSize(int maxSendMessageSize) =>
        PayloadChunkSize ?? Math.Min(DefaultPayloadChunkSize, maxSendMessageSize - Payloads.PayloadChunker.ChunkFramingAllowance);

    internal SessionOptions Clone() => (SessionOptions)MemberwiseClone();
}
