using System.Threading.Tasks.Sources;

namespace Engine.Client.Sessions;

/// <summary>
/// A reusable, allocation-free signal from the writer to the input pump: the batch in flight was
/// written (true) or dropped (false). Exactly one batch is in flight at a time, so the pump can
/// hand the caller's memory back (ask for the next item) only once the bytes left it.
/// </summary>
/// <remarks>
/// The pump's continuation runs inline, on the thread that completes the signal (the writer):
/// the pump then asks for the next item and queues it before the writer looks at its queue again,
/// so a batch costs no thread hop on the way out. Nothing is lost by running them on one thread:
/// the writer has nothing to write until the pump hands it the next item, and the pump may not
/// ask for that item before the write finished. <see cref="Complete"/> is never called under a lock.
/// </remarks>
internal sealed class WriteAck : IValueTaskSource<bool>
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };
    private int _pending;

    /// <summary>Prepares for the next batch; returns the task the pump awaits.</summary>
    public ValueTask<bool> Arm()
    {
        _core.Reset();
        Volatile.Write(ref _pending, 1);
        return new ValueTask<bool>(this, _core.Version);
    }

    /// <summary>Completes the pending signal once; later calls do nothing.</summary>
    public void Complete(bool written)
    {
        if (Interlocked.Exchange(ref _pending, 0) == 1)
        {
            _core.SetResult(written);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
