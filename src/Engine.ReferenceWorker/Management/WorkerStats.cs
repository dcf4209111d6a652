using System.Diagnostics;

namespace Engine.ReferenceWorker.Management;

/// <summary>Worker-wide counters reported by the Manage heartbeat. Thread-safe; updated by every stream.</summary>
internal sealed class WorkerStats
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _sessionsTotal;
    private long _sessionsFinished;
    private long _sessionsCancelled;
    private long _batchesIn;
    private long _batchesOut;
    private long _bytesIn;
    private long _bytesOut;

    public TimeSpan Uptime => Stopwatch.GetElapsedTime(_started);

    public long SessionsTotal => Interlocked.Read(ref _sessionsTotal);

    public long SessionsFinished => Interlocked.Read(ref _sessionsFinished);

    public long SessionsCancelled => Interlocked.Read(ref _sessionsCancelled);

    public long BatchesIn => Interlocked.Read(ref _batchesIn);

    public long BatchesOut => Interlocked.Read(ref _batchesOut);

    public long BytesIn => Interlocked.Read(ref _bytesIn);

    public long BytesOut => Interlocked.Read(ref _bytesOut);

    public void SessionStarted() => Interlocked.Increment(ref _sessionsTotal);

    /// <summary>A stream ended with FinishResponse.</summary>
    public void SessionFinished() => Interlocked.Increment(ref _sessionsFinished);

    /// <summary>A stream ended any other way: Cancel, error, shutdown or a broken stream.</summary>
    public void SessionCancelled() => Interlocked.Increment(ref _sessionsCancelled);

    public void BatchIn(long bytes)
    {
        Interlocked.Increment(ref _batchesIn);
        Interlocked.Add(ref _bytesIn, bytes);
    }

    public void BatchOut(long bytes)
    {
        Interlocked.Increment(ref _batchesOut);
        Interlocked.Add(ref _bytesOut, bytes);
    }
}
