using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using Engine.Client.Arrow;
using Engine.Client.Diagnostics;
using Engine.Client.Sessions;

namespace Engine.Client;

/// <content>
/// Arrow record batches in and out, on top of the bytes level: each data message holds one
/// complete Arrow IPC stream (see docs/arrow.md).
/// </content>
public sealed partial class WorkerSession
{
    // Set once by InitAsync, read by the Arrow ProcessAsync after it.
    private Schema? _declaredInputSchema;
    private Schema? _declaredOutputSchema;
    private string? _declaredSchemaProblem;

    /// <summary>
    /// Streams Arrow record batches to the worker and its output batches back, full duplex, then
    /// sends Finish. Enumerate the result to drive the session; it ends when the worker's
    /// FinishResponse arrives.
    /// </summary>
    /// <param name="input">
    /// The input batches. Each one is encoded as one Arrow IPC stream per DataRequest, split by
    /// rows into several DataRequests when it would not fit the worker's message limit
    /// (<see cref="WorkerClientOptions.MaxSendMessageSize"/>). The caller keeps owning every input
    /// batch: the session is done with a batch once it asks for the next one, so the source may
    /// dispose it then, never before.
    /// </param>
    /// <param name="cancellationToken">Cancels the session: Cancel is sent and the enumeration throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>
    /// The output batches, read without copying: their buffers point into the received message,
    /// which the batch keeps alive. The caller owns each batch; it stays valid after the
    /// enumeration moves on, and disposing it is optional (its memory is managed).
    /// </returns>
    /// <remarks>
    /// <para>
    /// Input batches are checked before anything of them is sent: a null batch, a batch whose
    /// memory was released by <see cref="RecordBatch.Dispose()"/>, or a batch whose schema differs
    /// from the session's input schema (<see cref="SessionInit.InputArrowSchema"/>, else the first
    /// batch's) ends the session: the enumeration throws <see cref="ArgumentException"/> naming the
    /// batch (and the field that differs) and Cancel is sent.
    /// </para>
    /// <para>
    /// Output that is not a valid Arrow IPC stream, or whose schema differs from the session's
    /// output schema (<see cref="SessionInit.OutputArrowSchema"/>, else the first output batch's),
    /// ends the session the same way with a <see cref="WorkerOutputException"/>.
    /// </para>
    /// </remarks>
    /// <exception cref="InvalidOperationException">Init has not succeeded, processing already started, the session ended, or Init declared a schema that is not an Arrow IPC stream.</exception>
    public IAsyncEnumerable<RecordBatch> ProcessAsync(IAsyncEnumerable<RecordBatch> input, CancellationToken cancellationToken = default) =>
        ProcessAsync(input, options: null, cancellationToken);

    /// <inheritdoc cref="ProcessAsync(IAsyncEnumerable{RecordBatch}, CancellationToken)"/>
    /// <param name="input">The input batches; see the other overload.</param>
    /// <param name="options">Per-call options, such as the Finish callback; <see langword="null"/> for defaults.</param>
    /// <param name="cancellationToken">Cancels the session.</param>
    public IAsyncEnumerable<RecordBatch> ProcessAsync(
        IAsyncEnumerable<RecordBatch> input,
        ProcessOptions? options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (_init.Task.IsCompletedSuccessfully && _declaredSchemaProblem is { } problem)
        {
            throw new InvalidOperationException(problem);
        }

        // The encoder gets the pump's token when the pump enumerates it; the decoder gets the
        // token of whoever enumerates the result; the bytes level already has cancellationToken.
        var frames = ProcessAsync(EncodeInputAsync(input, CancellationToken.None), options, cancellationToken);
        return DecodeOutputAsync(frames, CancellationToken.None);
    }

    /// <summary>Keeps the schemas Init declared, as Arrow schemas, for the Arrow-level checks.</summary>
    private void RememberArrowSchemas(SessionInit init, InitPlan plan)
    {
        var sent = plan.Init.Control.Init;
        var problems = new List<string>(2);
        _declaredInputSchema = init.InputArrowSchema
            ?? (sent.HasInputSchema ? ReadDeclaredSchema(sent.InputSchema.Memory, "input_schema", problems) : null);
        _declaredOutputSchema = init.OutputArrowSchema
            ?? (sent.HasOutputSchema ? ReadDeclaredSchema(sent.OutputSchema.Memory, "output_schema", problems) : null);
        _declaredSchemaProblem = problems.Count == 0
            ? null
            : $"Arrow batches cannot be processed on this session: {string.Join("; ", problems)}. Declare schemas with {nameof(SessionInit)}.{nameof(SessionInit.InputArrowSchema)} and {nameof(SessionInit.OutputArrowSchema)}, or use the bytes-level ProcessAsync.";
    }

    private static Schema? ReadDeclaredSchema(ReadOnlyMemory<byte> bytes, string field, List<string> problems)
    {
        try
        {
            return ArrowSchemas.Deserialize(bytes);
        }
        catch (InvalidDataException ex)
        {
            problems.Add($"Init.{field} is {ex.Message}");
            return null;
        }
    }

    /// <summary>
    /// Checks and encodes each input batch into the session's one reused buffer. The bytes level
    /// asks for the next frame only once the previous one was written, so the buffer is free again
    /// whenever this resumes.
    /// </summary>
    private async IAsyncEnumerable<ReadOnlyMemory<byte>> EncodeInputAsync(
        IAsyncEnumerable<RecordBatch> input,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var writer = new ArrowFrameWriter(_maxSendMessageSize - SessionWriter.DataFramingAllowance);
        var reference = _declaredInputSchema;
        var origin = "declared in Init";
        long index = 0;
        await foreach (var batch in input.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (reference is null && batch is not null)
            {
                reference = batch.Schema;
                origin = "taken from input batch 0; Init declared none";
            }

            CheckInputBatch(batch, index, reference!, origin);
            var frames = 0;
            foreach (var frame in writer.Frames(batch, index))
            {
                frames++;
                yield return frame;
            }

            if (frames > 1)
            {
                ArrowLog.InputBatchSplit(_logger, Id, _worker, index, batch.Length, frames, writer.MaxFrameSize);
            }

            index++;
        }
    }

    private void CheckInputBatch([NotNull] RecordBatch? batch, long index, Schema reference, string origin)
    {
        const string Consequence = "Nothing of it was sent; the session was cancelled.";
        if (batch is null)
        {
            throw new ArgumentException($"Session {Id}: input batch {index} is null. {Consequence}");
        }

        if (ArrowBatchChecks.IsReleased(batch))
        {
            throw new ArgumentException(
                $"Session {Id}: input batch {index} was disposed before the session sent it (its buffers were released). The session reads an input batch until it asks for the next one: dispose a batch only after that. {Consequence}");
        }

        if (ArrowSchemas.FindDifference(reference, batch.Schema) is { } difference)
        {
            throw new ArgumentException(
                $"Session {Id}: input batch {index} does not match the session's input schema ({origin}): {difference}. {Consequence}");
        }
    }

    /// <summary>
    /// Decodes each output frame without copying and checks its schema. A frame that cannot be
    /// used fails the session (Cancel is sent) and the enumeration throws.
    /// </summary>
    private async IAsyncEnumerable<RecordBatch> DecodeOutputAsync(
        IAsyncEnumerable<ReadOnlyMemory<byte>> frames,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var reference = _declaredOutputSchema;
        var origin = "declared in Init";
        long index = 0;
        await foreach (var frame in frames.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            List<RecordBatch> batches;
            Schema schema;
            try
            {
                (schema, batches) = ArrowFrameReader.Read(frame);
            }
            catch (InvalidDataException ex)
            {
                throw RejectOutput(index, ex.Message, ex);
            }

            if (reference is null)
            {
                reference = schema;
                origin = "taken from output batch 0; Init declared none";
            }
            else if (ArrowSchemas.FindDifference(reference, schema) is { } difference)
            {
                ArrowFrameReader.Dispose(batches);
                throw RejectOutput(index, $"does not match the session's output schema ({origin}): {difference}", null);
            }

            var next = 0;
            try
            {
                while (next < batches.Count)
                {
                    yield return batches[next++];
                }
            }
            finally
            {
                // Batches of a frame the consumer stopped before reaching.
                for (; next < batches.Count; next++)
                {
                    batches[next].Dispose();
                }
            }

            index++;
        }
    }

    private WorkerOutputException RejectOutput(long index, string problem, Exception? cause)
    {
        ArrowLog.OutputRejected(_logger, Id, _worker, index, problem);
        var failure = new WorkerOutputException(index, problem, Snapshot(), cause);
        FailLocally(failure, $"the engine rejected output batch {index}: {problem}");
        return failure;
    }
}
