using System.Globalization;
using Engine.Client.Diagnostics;

namespace Engine.Client;

/// <content>
/// The progress deadline (<see cref="SessionOptions.ProgressTimeout"/>): a worker that stops taking
/// input while producing no output fails the session instead of holding it forever.
/// </content>
public sealed partial class WorkerSession
{
    private ITimer? _progressTimer;

    // When the pending write of a batch or of Finish started; 0 while no write is pending.
    private long _progressWaitSince;

    /// <summary>The writer is about to write a batch or Finish: the worker must take it, or answer.</summary>
    private void ProgressWaitStarted()
    {
        if (_options.ProgressTimeout is not { } timeout)
        {
            return;
        }

        Volatile.Write(ref _progressWaitSince, _time.GetTimestamp());
        if (Volatile.Read(ref _progressTimer) is null)
        {
            StartProgressTimer(timeout);
        }
    }

    /// <summary>The worker took the input (the write completed).</summary>
    private void ProgressWaitEnded()
    {
        if (_options.ProgressTimeout is not null)
        {
            Volatile.Write(ref _progressWaitSince, 0);
        }
    }

    private void StartProgressTimer(TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_progressTimer is not null || _state.IsSettled)
            {
                return;
            }

            _progressTimer = _time.CreateTimer(static state => ((WorkerSession)state!).OnProgressDeadline(), this, timeout, Timeout.InfiniteTimeSpan);
        }

        // The deadline ends with the input: at the outcome, or when Cancel was requested (the
        // Cancel acknowledgement deadline takes over).
        _stopInput.Token.UnsafeRegister(static state => ((WorkerSession)state!).StopProgressTimer(), this);
    }

    private void StopProgressTimer()
    {
        ITimer? timer;
        lock (_gate)
        {
            timer = _progressTimer;
        }

        timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private void OnProgressDeadline()
    {
        var timeout = _options.ProgressTimeout!.Value;
        if (_state.IsSettled || _stopInput.IsCancellationRequested)
        {
            return;
        }

        // The clock runs only while a write waits for the worker, counts from the later of that
        // write's start and the worker's last message, and stops while the output buffer is full:
        // then the engine, not the worker, holds the session up.
        var since = Math.Max(Volatile.Read(ref _progressWaitSince), Volatile.Read(ref _lastWorkerMessageTimestamp));
        var waiting = Volatile.Read(ref _progressWaitSince) != 0 && _output.Reader.Count < _options.OutputBufferCapacity;
        var elapsed = waiting ? _time.GetElapsedTime(since) : TimeSpan.Zero;
        if (elapsed < timeout)
        {
            lock (_gate)
            {
                _progressTimer?.Change(timeout - elapsed, Timeout.InfiniteTimeSpan);
            }

            return;
        }

        SessionLog.TimedOut(_logger, Id, _worker, nameof(SessionOptions.ProgressTimeout), timeout.TotalSeconds);
        var seconds = string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalSeconds:0.###} s");
        SettleTransport(
            TransportFailureReason.Timeout,
            $"timed out: the worker accepted no input and sent nothing for {seconds} while processing ({nameof(SessionOptions)}.{nameof(SessionOptions.ProgressTimeout)}); the call was aborted",
            null);
        lock (_gate)
        {
            _progressTimer?.Dispose();
        }
    }
}
