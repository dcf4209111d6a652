using System.Diagnostics;
using System.Threading.Channels;
using Engine.Client.Protocol;
using Grpc.Core;

namespace Engine.ReferenceWorker.Execution;

/// <summary>
/// Reads the engine's request stream on its own task, so reading never waits for the UDF or for
/// writes (the two directions are independent, docs/protocol.md). Messages go to a small bounded queue:
/// a slow UDF slows the reader, and HTTP/2 flow control slows the engine. A Cancel is signalled
/// the moment it is read, ahead of the queue, so in-flight UDF work stops at once.
/// </summary>
internal sealed class RequestReader : IDisposable
{
    // Small: enough to decouple reading from processing, small enough that a Cancel queued
    // behind data is reached quickly (queued data is discarded once Cancel is signalled), and
    // that a stream whose UDF is blocked holds few batches: with 1 MiB batches, 4 MiB per stream
    // here plus the HTTP/2 stream window, times every concurrent stream.
    private const int QueueCapacity = 4;

    private readonly IAsyncStreamReader<UdfRequest> _requests;
    private readonly StreamMetrics _metrics;
    private readonly Action _onCancel;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<StreamInput> _queue = Channel.CreateBounded<StreamInput>(
        new BoundedChannelOptions(QueueCapacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    private Task _run = Task.CompletedTask;

    public RequestReader(IAsyncStreamReader<UdfRequest> requests, StreamMetrics metrics, Action onCancel)
    {
        _requests = requests;
        _metrics = metrics;
        _onCancel = onCancel;
    }

    public void Start() => _run = Task.Run(RunAsync);

    /// <summary>
    /// The next input. After <see cref="StreamInputKind.End"/> or <see cref="StreamInputKind.Broken"/>
    /// nothing follows and this waits until <paramref name="cancellationToken"/> fires.
    /// </summary>
    public async ValueTask<StreamInput> ReadAsync(CancellationToken cancellationToken)
    {
        while (await _queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_queue.Reader.TryRead(out var input))
            {
                return input;
            }
        }

        // Input is over: a state that keeps the call open waits for an outside event.
        await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        throw new OperationCanceledException(cancellationToken);
    }

    /// <summary>
    /// Stops reading and waits for the reader task: the request stream must not be touched
    /// once the call handler returns.
    /// </summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _run.ConfigureAwait(false);
    }

    public void Dispose() => _stop.Dispose();

    private async Task RunAsync()
    {
        var token = _stop.Token;
        var outcome = StreamInput.End;
        try
        {
            while (true)
            {
                var started = Stopwatch.GetTimestamp();
                if (!await _requests.MoveNext(token).ConfigureAwait(false))
                {
                    break;
                }

                _metrics.Received(started);
                var request = _requests.Current;
                if (request.Control?.ControlCase == UdfControlRequest.ControlOneofCase.Cancel)
                {
                    _onCancel();
                }

                await _queue.Writer.WriteAsync(StreamInput.Of(request), token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The stream is ending on the worker's side: nobody reads the queue any more.
            _queue.Writer.TryComplete();
            return;
        }
        catch (Exception ex)
        {
            outcome = StreamInput.BrokenBy(ex);
        }

        try
        {
            await _queue.Writer.WriteAsync(outcome, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped while the queue was full: the stream is ending anyway.
        }

        _queue.Writer.TryComplete();
    }
}
