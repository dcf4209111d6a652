using System.Diagnostics;
using Engine.Client.Protocol;
using Engine.ReferenceWorker.Management;

namespace Engine.ReferenceWorker.Execution;

/// <summary>
/// The <see cref="ExecutionMetrics"/> of one stream. The reader, the writer and the UDF loop
/// update it from different tasks, hence the interlocked counters. Also feeds the worker-wide
/// <see cref="WorkerStats"/>.
/// </summary>
internal sealed class StreamMetrics(WorkerStats stats)
{
    private long _bytesIn;
    private long _bytesOut;
    private long _batchesIn;
    private long _batchesOut;
    private long _rowsIn;
    private long _rowsOut;
    private int _rowsInReported;
    private int _rowsOutUnknown;
    private long _receiveTicks;
    private long _sendTicks;
    private long _workTicks;
    private long _initStarted;
    private long _initCompleted;

    /// <summary>The first Init arrived: the init handshake starts.</summary>
    public void InitStarted() => _initStarted = Stopwatch.GetTimestamp();

    /// <summary>InitResponse (success) was queued: the processing phase starts.</summary>
    public void InitCompleted() => _initCompleted = Stopwatch.GetTimestamp();

    public void BatchIn(int bytes)
    {
        Interlocked.Increment(ref _batchesIn);
        Interlocked.Add(ref _bytesIn, bytes);
        stats.BatchIn(bytes);
    }

    public void BatchOut(int bytes, long? rows)
    {
        Interlocked.Increment(ref _batchesOut);
        Interlocked.Add(ref _bytesOut, bytes);
        if (rows is { } known)
        {
            Interlocked.Add(ref _rowsOut, known);
        }
        else
        {
            // One batch of unknown size makes the total unknown: absent beats wrong.
            Volatile.Write(ref _rowsOutUnknown, 1);
        }

        stats.BatchOut(bytes);
    }

    public void RowsIn(long rows)
    {
        Interlocked.Add(ref _rowsIn, rows);
        Volatile.Write(ref _rowsInReported, 1);
    }

    public void Received(long startTimestamp) => Interlocked.Add(ref _receiveTicks, Stopwatch.GetElapsedTime(startTimestamp).Ticks);

    public void Sent(long startTimestamp) => Interlocked.Add(ref _sendTicks, Stopwatch.GetElapsedTime(startTimestamp).Ticks);

    public void Worked(long startTimestamp) => Interlocked.Add(ref _workTicks, Stopwatch.GetElapsedTime(startTimestamp).Ticks);

    /// <summary>The totals so far, for a terminator. Opaque batches have no row count, so rows stay absent unless a UDF reported them.</summary>
    public ExecutionMetrics Snapshot()
    {
        var now = Stopwatch.GetTimestamp();
        var metrics = new ExecutionMetrics
        {
            BytesIn = (ulong)Interlocked.Read(ref _bytesIn),
            BytesOut = (ulong)Interlocked.Read(ref _bytesOut),
            BatchesIn = (ulong)Interlocked.Read(ref _batchesIn),
            BatchesOut = (ulong)Interlocked.Read(ref _batchesOut),
            ReceiveWallNanos = TicksToNanos(Interlocked.Read(ref _receiveTicks)),
            SendWallNanos = TicksToNanos(Interlocked.Read(ref _sendTicks)),
            WorkWallNanos = TicksToNanos(Interlocked.Read(ref _workTicks)),
        };

        if (Volatile.Read(ref _rowsInReported) != 0)
        {
            metrics.RowsIn = (ulong)Interlocked.Read(ref _rowsIn);
        }

        if (Volatile.Read(ref _rowsOutUnknown) == 0 && (Interlocked.Read(ref _batchesOut) > 0 || Volatile.Read(ref _rowsInReported) != 0))
        {
            metrics.RowsOut = (ulong)Interlocked.Read(ref _rowsOut);
        }

        if (_initStarted != 0)
        {
            var initEnd = _initCompleted != 0 ? _initCompleted : now;
            metrics.InitWallNanos = TicksToNanos(Stopwatch.GetElapsedTime(_initStarted, initEnd).Ticks);
        }

        if (_initCompleted != 0)
        {
            metrics.ProcessingWallNanos = TicksToNanos(Stopwatch.GetElapsedTime(_initCompleted, now).Ticks);
        }

        return metrics;
    }

    private static ulong TicksToNanos(long ticks) => (ulong)Math.Max(0, ticks) * 100;
}
