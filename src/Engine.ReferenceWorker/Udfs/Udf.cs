using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>
/// One UDF execution: the worker creates one instance per Execute stream (through
/// <see cref="UdfRegistry"/>) and calls its hooks in protocol order, one at a time, never
/// concurrently: <see cref="InitAsync"/>, then <see cref="StartAsync"/>, then
/// <see cref="ProcessAsync"/> per input batch, then <see cref="FinishAsync"/> or
/// <see cref="CancelAsync"/>. The stream (not the UDF) owns the wire: it sends InitResponse,
/// ErrorResponse and the terminator, with metrics.
/// </summary>
/// <remarks>
/// Errors: throw <see cref="UdfException"/> to report a structured error; it lands in
/// InitResponse.error, ErrorResponse, FinishResponse.error or CancelResponse.error depending on the
/// hook. Any other exception is reported as a WorkerError. An <see cref="OperationCanceledException"/>
/// thrown because the hook's token was cancelled is not an error: the engine cancelled, the
/// worker is shutting down, or the stream broke.
/// </remarks>
internal abstract class Udf : IAsyncDisposable
{
    /// <summary>
    /// The init handshake. Returns the opaque <c>InitResponse.data</c>; the default echoes the
    /// engine's <c>Init.parameters</c> back (none when unset).
    /// </summary>
    public virtual ValueTask<ByteString?> InitAsync(UdfInitContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(context.Parameters);

    /// <summary>
    /// Runs once InitResponse went out, before any input: a generator UDF emits its output here
    /// (docs/protocol.md rule 4: output may precede the first input).
    /// </summary>
    public virtual ValueTask StartAsync(IUdfOutput output, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>One input batch (<c>DataRequest.data</c>, in the session's data format).</summary>
    public abstract ValueTask ProcessAsync(ByteString batch, IUdfOutput output, CancellationToken cancellationToken);

    /// <summary>All input was sent. Returns the opaque <c>FinishResponse.data</c>, or <see langword="null"/>.</summary>
    public virtual ValueTask<ByteString?> FinishAsync(IUdfOutput output, CancellationToken cancellationToken) =>
        ValueTask.FromResult<ByteString?>(null);

    /// <summary>The execution is being cancelled (engine Cancel, broken stream or worker shutdown).</summary>
    public virtual ValueTask CancelAsync(string? reason, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Releases the UDF's resources; called once when the stream ends, whatever happened.</summary>
    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
