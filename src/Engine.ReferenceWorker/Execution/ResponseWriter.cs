using System.Diagnostics;
using System.Threading.Channels;
using Engine.Client.Protocol;
using Grpc.Core;

namespace Engine.ReferenceWorker.Execution;

/// <summary>
/// The only code that writes to the response stream: gRPC allows one pending write at a time,
/// so every response goes through one FIFO queue drained by one task. Queuing never waits on
/// the engine reading (writes never wait on reads); only data output waits, and only when more
/// than the configured number of bytes is queued, so memory stays bounded.
/// </summary>
internal sealed class ResponseWriter
{
    private readonly IServerStreamWriter<UdfResponse> _responses;
    private readonly StreamMetrics _metrics;
    private readonly long _bufferBytes;
    private readonly Channel<Outgoing> _queue = Channel.CreateUnbounded<Outgoing>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    private readonly Lock _roomLock = new();
    private TaskCompletionSource? _roomWaiter;
    private long _queuedBytes;
    private Task _run = Task.CompletedTask;
    private volatile Exception? _failure;

    public ResponseWriter(IServerStreamWriter<UdfResponse> responses, StreamMetrics metrics, long bufferBytes)
    {
        _responses = responses;
        _metrics = metrics;
        _bufferBytes = bufferBytes;
    }

    /// <summary>The write error, once a write failed (the call is broken); later responses are dropped.</summary>
    public Exception? Failure => _failure;

    public void Start() => _run = Task.Run(RunAsync);

    /// <summary>Queues a response without waiting; the order of calls is the order on the wire.</summary>
    /// <param name="response">The response.</param>
    /// <param name="written">Completed once the response was written (or could not be: the call broke or the writer stopped).</param>
    public void Send(UdfResponse response, TaskCompletionSource? written = null)
    {
        if (response.ResponseCase == UdfResponse.ResponseOneofCase.Data)
        {
            Interlocked.Add(ref _queuedBytes, response.Data.Data.Length);
        }

        if (!_queue.Writer.TryWrite(new Outgoing(response, written)))
        {
            // The writer stopped: nothing is ever sent after that.
            written?.TrySetResult();
        }
    }

    /// <summary>Queues one output batch, first waiting for room when the engine is not keeping up.</summary>
    public async ValueTask SendDataAsync(UdfResponse response, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task room;
            lock (_roomLock)
            {
                if (Interlocked.Read(ref _queuedBytes) < _bufferBytes || _failure is not null)
                {
                    Send(response);
                    return;
                }

                _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _roomWaiter.Task;
            }

            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes everything queued so far, then stops. Returns once the last write finished (or failed).</summary>
    public Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        return _run;
    }

    private async Task RunAsync()
    {
        await foreach (var (response, written) in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (_failure is null)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await _responses.WriteAsync(response).ConfigureAwait(false);
                    _metrics.Sent(started);
                }
                catch (Exception ex)
                {
                    // The call is broken; the reader sees it too and the stream treats it as Cancel.
                    _failure = ex;
                }
            }

            written?.TrySetResult();
            if (response.ResponseCase == UdfResponse.ResponseOneofCase.Data)
            {
                ReleaseRoom(response.Data.Data.Length);
            }
        }
    }

    private void ReleaseRoom(int bytes)
    {
        if (Interlocked.Add(ref _queuedBytes, -bytes) >= _bufferBytes && _failure is null)
        {
            return;
        }

        TaskCompletionSource? waiter;
        lock (_roomLock)
        {
            waiter = _roomWaiter;
            _roomWaiter = null;
        }

        waiter?.TrySetResult();
    }

    private readonly record struct Outgoing(UdfResponse Response, TaskCompletionSource? Written);
}
