using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using Engine.Client.Diagnostics;

namespace Engine.Client.Arrow;

/// <summary>
/// Arrow record batches in and out, on top of a session's bytes level: each data message holds one
/// complete Arrow IPC stream (see docs/arrow.md). Keeps the schemas Init declared; checks and
/// encodes input batches, decodes and checks output frames. The bytes-level session knows nothing
/// of Arrow.
/// </summary>
internal sealed class ArrowSessionLayer
{
    private readonly WorkerSession _session;
    private readonly Schema? _declaredInputSchema;
    private readonly Schema? _declaredOutputSchema;
    private readonly int _maxFrameSize;

    /// <param name="session">The bytes-level session.</param>
    /// <param name="declaredInputSchema">The input schema Init declared, or <see langword="null"/>.</param>
    /// <param name="declaredOutputSchema">The output schema Init declared, or <see langword="null"/>.</param>
    /// <param name="maxFrameSize">The largest input frame, in bytes, that fits one DataRequest.</param>
    public ArrowSessionLayer(WorkerSession session, Schema? declaredInputSchema, Schema? declaredOutputSchema, int maxFrameSize)
    {
        _session = session;
        _declaredInputSchema = declaredInputSchema;
        _declaredOutputSchema = declaredOutputSchema;
        _maxFrameSize = maxFrameSize;
    }

    /// <summary>Streams <paramref name="input"/> through the bytes level and decodes its output (see <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{RecordBatch}, ProcessOptions?, CancellationToken)"/>).</summary>
    public IAsyncEnumerable<RecordBatch> ProcessAsync(IAsyncEnumerable<RecordBatch> input, ProcessOptions? options, CancellationToken cancellationToken)
    {
        // The encoder gets the pump's token when the pump enumerates it; the decoder gets the
        // token of whoever enumerates the result; the bytes level already has cancellationToken.
        var frames = _session.ProcessAsync(EncodeInputAsync(input, CancellationToken.None), options, cancellationToken);
        return DecodeOutputAsync(frames, CancellationToken.None);
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
        using var writer = new ArrowFrameWriter(_maxFrameSize);
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
                ArrowLog.InputBatchSplit(_session.Logger, _session.Id, _session.Worker, index, batch.Length, frames, writer.MaxFrameSize);
            }

            index++;
        }
    }

    private void CheckInputBatch([NotNull] RecordBatch? batch, long index, Schema reference, string origin)
    {
        const string Consequence = "Nothing of it was sent; the session was cancelled.";
        if (batch is null)
        {
            throw new ArgumentException($"Session {_session.Id}: input batch {index} is null. {Consequence}");
        }

        if (ArrowBatchChecks.IsReleased(batch))
        {
            throw new ArgumentException(
                $"Session {_session.Id}: input batch {index} was disposed before the session sent it (its buffers were released). The session reads an input batch until it asks for the next one: dispose a batch only after that. {Consequence}");
        }

        if (ArrowSchemas.FindDifference(reference, batch.Schema) is { } difference)
        {
            throw new ArgumentException(
                $"Session {_session.Id}: input batch {index} does not match the session's input schema ({origin}): {difference}. {Consequence}");
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
        ArrowLog.OutputRejected(_session.Logger, _session.Id, _session.Worker, index, problem);
        var failure = new WorkerOutputException(index, problem, _session.Diagnostics, cause);
        _session.FailLocally(failure, $"the engine rejected output batch {index}: {problem}");
        return failure;
    }
}
