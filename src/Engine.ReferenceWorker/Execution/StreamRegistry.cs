namespace Engine.ReferenceWorker.Execution;

/// <summary>
/// The live Execute streams, and whether new ones are accepted. Manage Shutdown and the host's
/// stop use it to cancel every stream and to learn when the last one ended.
/// </summary>
internal sealed class StreamRegistry
{
    /// <summary>How long the worker must stay without streams before it gives memory back.</summary>
    private static readonly TimeSpan TrimDelay = TimeSpan.FromSeconds(1);

    /// <summary>Committed GC memory below which an idle worker keeps what it has.</summary>
    private const long TrimThreshold = 96L * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly HashSet<ExecuteStream> _live = [];
    private TaskCompletionSource? _idle;
    private bool _accepting = true;
    private long _idleEpoch;

    public int LiveCount
    {
        get
        {
            lock (_lock)
            {
                return _live.Count;
            }
        }
    }

    /// <summary>Adds a starting stream; <see langword="false"/> once the worker stopped accepting streams.</summary>
    public bool TryAdd(ExecuteStream stream)
    {
        lock (_lock)
        {
            if (!_accepting)
            {
                return false;
            }

            _live.Add(stream);
            return true;
        }
    }

    public void Remove(ExecuteStream stream)
    {
        TaskCompletionSource? idle = null;
        long epoch = -1;
        lock (_lock)
        {
            if (_live.Remove(stream) && _live.Count == 0)
            {
                idle = _idle;
                epoch = ++_idleEpoch;
            }
        }

        idle?.TrySetResult();
        if (epoch >= 0)
        {
            _ = TrimWhenStillIdleAsync(epoch);
        }
    }

    /// <summary>
    /// After a burst of streams the garbage collector keeps the memory it grew to, and with no
    /// allocation no collection ever runs to give it back: a worker that stays idle for
    /// <see cref="TrimDelay"/> with more than <see cref="TrimThreshold"/> committed runs one
    /// aggressive collection, which compacts and returns the free memory to the system.
    /// </summary>
    private async Task TrimWhenStillIdleAsync(long epoch)
    {
        await Task.Delay(TrimDelay).ConfigureAwait(false);
        lock (_lock)
        {
            if (_idleEpoch != epoch || _live.Count != 0)
            {
                return;
            }
        }

        if (GC.GetGCMemoryInfo().TotalCommittedBytes > TrimThreshold)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    /// <summary>Refuses new streams from now on; returns the streams live at that moment.</summary>
    public IReadOnlyList<ExecuteStream> StopAccepting()
    {
        lock (_lock)
        {
            _accepting = false;
            return [.. _live];
        }
    }

    /// <summary>Completes once no stream is live (at once when none is). Call after <see cref="StopAccepting"/>.</summary>
    public Task WhenIdleAsync()
    {
        lock (_lock)
        {
            if (_live.Count == 0)
            {
                return Task.CompletedTask;
            }

            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }
}
