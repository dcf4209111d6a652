using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;

namespace Engine.Client.Arrow;

/// <summary>
/// Encodes record batches as data-message frames: each frame is one complete Arrow IPC stream
/// (schema message, one record batch, end-of-stream marker). Every frame is written into the same
/// reused pooled buffer, so a frame is valid only until the next one is asked for. A batch whose
/// frame would exceed the size limit is split by rows (zero-copy slices; view columns are copied
/// down to the bytes of their rows) into frames that fit.
/// </summary>
/// <remarks>Not thread-safe: one writer per input stream.</remarks>
internal sealed class ArrowFrameWriter : IDisposable
{
    /// <summary>A split aims this far under the limit, so a part rarely needs splitting again.</summary>
    private const double SplitTarget = 0.9;

    // Not `null`: a null literal would convert to an empty ReadOnlyMemory<byte> through byte[].
    private static ReadOnlyMemory<byte>? NoFrame => null;

    private readonly FrameBuffer _buffer;

    /// <param name="maxFrameSize">Largest frame allowed, in bytes.</param>
    /// <param name="initialCapacity">Initial size of the reused buffer.</param>
    public ArrowFrameWriter(int maxFrameSize, int initialCapacity = 64 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameSize);
        MaxFrameSize = maxFrameSize;
        _buffer = new FrameBuffer(Math.Min(initialCapacity, maxFrameSize));
    }

    /// <summary>Largest frame this writer produces, in bytes.</summary>
    public int MaxFrameSize { get; }

    /// <summary>The reused buffer (for tests that prove reuse).</summary>
    internal FrameBuffer Buffer => _buffer;

    /// <summary>
    /// Encodes <paramref name="batch"/> as one frame, whatever its size. The returned memory is the
    /// reused buffer: valid until the next call.
    /// </summary>
    public ReadOnlyMemory<byte> Encode(RecordBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        _buffer.Reset();
        using (var writer = new ArrowStreamWriter(_buffer, batch.Schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return _buffer.Written;
    }

    /// <summary>
    /// The frames of <paramref name="batch"/>, in row order: one frame when it fits
    /// <see cref="MaxFrameSize"/>, else consecutive row ranges that each fit. Each frame is valid
    /// until the enumeration moves on. Throws <see cref="ArgumentException"/> when a single row
    /// does not fit (nothing of that row is returned).
    /// </summary>
    /// <param name="batch">The batch; the caller keeps it alive (and undisposed) while enumerating.</param>
    /// <param name="batchIndex">The batch's index in its input, for error messages.</param>
    public IEnumerable<ReadOnlyMemory<byte>> Frames(RecordBatch batch, long batchIndex)
    {
        ArgumentNullException.ThrowIfNull(batch);

        // Row ranges still to send, next one on top.
        var pending = new Stack<(int Offset, int Length)>();
        pending.Push((0, batch.Length));
        while (pending.Count > 0)
        {
            var (offset, length) = pending.Pop();
            var (frame, size) = EncodeRange(batch, offset, length);
            if (frame is { } fits)
            {
                yield return fits;
                continue;
            }

            if (length <= 1)
            {
                throw TooLarge(batch, batchIndex, offset, length, size);
            }

            PushParts(pending, offset, length, size);
        }
    }

    /// <summary>
    /// A lower bound of the encoded size of <paramref name="batch"/>'s data, computed from the
    /// value, offset and view buffers of the common column types without encoding anything (a view
    /// column counts the bytes its rows reference, which is what its frame carries). Column types
    /// it does not know count zero; the real encoding decides for them.
    /// </summary>
    public static long EstimateDataBytes(RecordBatch batch)
    {
        long total = 0;
        foreach (var column in batch.Arrays)
        {
            total += EstimateDataBytes(column);
        }

        return total;
    }

    public void Dispose() => _buffer.Dispose();

    private static long EstimateDataBytes(IArrowArray array)
    {
        var length = array.Length;
        var bitmap = (length + 7L) / 8;
        switch (array)
        {
            case BooleanArray:
                return 2 * bitmap;
            case BinaryArray binary when length > 0:
                var offsets = binary.ValueOffsets;
                return bitmap + (4L * (length + 1)) + (offsets[length] - offsets[0]);
            case BinaryViewArray views:
                return bitmap + (16L * length) + ArrowViewCompaction.ReferencedBytes(views);
            case LargeBinaryArray large when length > 0:
                var largeOffsets = large.ValueOffsets;
                return bitmap + (8L * (length + 1)) + (largeOffsets[length] - largeOffsets[0]);
            default:
                if (array.Data.DataType is FixedWidthType { BitWidth: > 0 } fixedWidth
                    and not DictionaryType
                    && array.Data.Children is null or { Length: 0 })
                {
                    return bitmap + (length * (long)fixedWidth.BitWidth / 8);
                }

                return 0;
        }
    }

    /// <summary>
    /// Encodes rows [offset, offset + length) when they can fit: returns the frame, or no frame and
    /// the (estimated or encoded) size when they cannot.
    /// </summary>
    private (ReadOnlyMemory<byte>? Frame, long Size) EncodeRange(RecordBatch batch, int offset, int length)
    {
        var whole = offset == 0 && length == batch.Length;

        // A shared slice keeps the parent's buffers alive on its own and is disposed here; a
        // plain Slice would free the caller's buffers when disposed.
        var part = whole ? batch : batch.SliceShared(offset, length);
        try
        {
            if (length > 1)
            {
                var estimate = EstimateDataBytes(part);
                if (estimate > MaxFrameSize)
                {
                    return (NoFrame, estimate);
                }
            }

            // View columns are copied down to the bytes these rows reference: the IPC writer
            // writes a view array's data buffers whole, whatever the rows.
            var frame = Encode(ArrowViewCompaction.Compact(part));
            return frame.Length <= MaxFrameSize ? (frame, frame.Length) : (NoFrame, frame.Length);
        }
        finally
        {
            if (!whole)
            {
                part.Dispose();
            }
        }
    }

    private void PushParts(Stack<(int Offset, int Length)> pending, int offset, int length, long size)
    {
        var parts = (int)Math.Clamp((long)Math.Ceiling(size / (MaxFrameSize * SplitTarget)), 2, length);
        var rows = (length + parts - 1) / parts;

        // Last part first, so the first part is on top.
        for (var start = offset + ((parts - 1) * rows); start >= offset; start -= rows)
        {
            var count = Math.Min(rows, offset + length - start);
            if (count > 0)
            {
                pending.Push((start, count));
            }
        }
    }

    private ArgumentException TooLarge(RecordBatch batch, long batchIndex, int offset, int length, long size)
    {
        var what = length == 0
            ? string.Create(CultureInfo.InvariantCulture, $"Input batch {batchIndex} has no rows, yet its schema alone encodes to {size} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"Row {offset} of input batch {batchIndex} encodes to {size} bytes on its own (with the batch's {batch.ColumnCount}-column schema)");
        return new ArgumentException(string.Create(
            CultureInfo.InvariantCulture,
            $"{what}, over the worker's message limit ({MaxFrameSize} bytes for one Arrow IPC stream after DataRequest framing). Batches are split by rows, never within a row: make the row smaller, or raise {nameof(WorkerClientOptions)}.{nameof(WorkerClientOptions.Connection)}.{nameof(WorkerConnectionOptions.MaxSendMessageSize)} if the worker accepts larger messages."));
    }
}
