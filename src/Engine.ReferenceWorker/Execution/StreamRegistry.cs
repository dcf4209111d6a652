namespace Engine.ReferenceWorker.Execution;

/// <summary>
/// The live Execute streams, and whether new ones are accepted. Manage Shutdown and the host's
/// stop use it to cancel every stream and to learn when the last one ended.
/// </summary>
internal sealed class StreamRegistry
{
    private readonly Lock _lock = new();
    private readonly HashSet<ExecuteStream> _live = [];
    private TaskCompletionSource? _idle;
    private bool _accepting = true;

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
        lock (_lock)
        {
            if (_live.Remove(stream) && _live.Count == 0)
            {
                idle = _idle;
            }
        }

        idle?.TrySetResult();
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
