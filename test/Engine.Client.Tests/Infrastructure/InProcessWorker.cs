using Google.Protobuf;
using Engine.Client.Protocol;
using Grpc.Core;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// A gRPC <see cref="CallInvoker"/> whose Execute calls run a script in-process with re-entrant
/// delivery: a request written by the engine reaches the script on the writing thread, inside the
/// engine's WriteAsync, and the script's responses reach the engine's reader on that same thread.
/// This forces the interleavings a cross-thread transport makes rare.
/// </summary>
public sealed class InProcessWorker : CallInvoker
{
    private readonly Func<WorkerScript> _script;
    private readonly Func<WorkerRequest, Task<WorkerResponse>>? _manage;
    private readonly Action<InProcessStream> _onCall;

    public InProcessWorker(Func<WorkerScript> script, Action<InProcessStream> onCall, Func<WorkerRequest, Task<WorkerResponse>>? manage = null)
    {
        _script = script;
        _onCall = onCall;
        _manage = manage;
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        if (method.FullName != "/org.apache.spark.udf.worker.UdfWorker/Execute")
        {
            throw new NotSupportedException(method.FullName);
        }

        var stream = new InProcessStream();
        _onCall(stream);
        stream.Run(_script());
        var call = new AsyncDuplexStreamingCall<UdfRequest, UdfResponse>(
            stream.EngineWriter,
            stream.EngineReader,
            Task.FromResult(new Metadata()),
            stream.GetStatus,
            () => new Metadata(),
            stream.Abort);
        return (AsyncDuplexStreamingCall<TRequest, TResponse>)(object)call;
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        if (_manage is null)
        {
            throw new NotSupportedException("This in-process worker has no Manage handler.");
        }

        var response = _manage((WorkerRequest)(object)request).WaitAsync(options.CancellationToken);
        return new AsyncUnaryCall<TResponse>(
            Convert<TResponse>(response),
            Task.FromResult(new Metadata()),
            () => Status.DefaultSuccess,
            () => new Metadata(),
            () => { });
    }

    private static async Task<TResponse> Convert<TResponse>(Task<WorkerResponse> response)
    {
        try
        {
            return (TResponse)(object)await response;
        }
        catch (OperationCanceledException ex)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."), ex.Message);
        }
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        throw new NotSupportedException();

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        throw new NotSupportedException();

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw new NotSupportedException();
}

/// <summary>One in-process Execute stream: two synchronous pipes and the call's status.</summary>
public sealed class InProcessStream : ScriptedStream
{
    private readonly Lock _gate = new();
    private readonly Queue<UdfRequest?> _requests = new();
    private readonly Queue<UdfResponse> _responses = new();
    private TaskCompletionSource<UdfRequest?>? _pendingRead;
    private TaskCompletionSource<bool>? _pendingMove;
    private Reader? _pendingReader;
    private TaskCompletionSource? _space;
    private Status? _status;

    /// <summary>Requests buffered before a write waits for the worker to read, like an HTTP/2 window.</summary>
    public const int FlowControlWindow = 8;
    private bool _aborted;
    private bool _completed;
    private bool _writing;

    public InProcessStream()
    {
        EngineWriter = new Writer(this);
        EngineReader = new Reader(this);
    }

    public IClientStreamWriter<UdfRequest> EngineWriter { get; }

    public IAsyncStreamReader<UdfResponse> EngineReader { get; }

    internal void Run(WorkerScript script)
    {
        Task task;
        try
        {
            task = script(this);
        }
        catch (Exception ex)
        {
            task = Task.FromException(ex);
        }

        task.ContinueWith(
            t => End(t.IsCompletedSuccessfully ? Status.DefaultSuccess
                : t.Exception?.InnerException is RpcException rpc ? rpc.Status
                : t.Exception?.InnerException is StreamAbortedException ? new Status(StatusCode.Cancelled, "aborted")
                : new Status(StatusCode.Unknown, t.Exception?.InnerException?.Message ?? "cancelled")),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    internal Status GetStatus()
    {
        lock (_gate)
        {
            return _status ?? throw new InvalidOperationException("Unable to get the status because the call is not complete.");
        }
    }

    // ---- the script's side ----

    public override ValueTask<UdfRequest?> ReadAsync()
    {
        TaskCompletionSource? space = null;
        try
        {
            lock (_gate)
            {
                if (_requests.TryDequeue(out var request))
                {
                    space = _space;
                    _space = null;
                    return ValueTask.FromResult(request);
                }

                return ReadSlowPath();
            }
        }
        finally
        {
            space?.TrySetResult();
        }
    }

    private ValueTask<UdfRequest?> ReadSlowPath()
    {
        if (_aborted)
        {
            return ValueTask.FromException<UdfRequest?>(new StreamAbortedException());
        }

        // Synchronous continuations: the script resumes inside the engine's WriteAsync.
        _pendingRead = new TaskCompletionSource<UdfRequest?>();
        return new ValueTask<UdfRequest?>(_pendingRead.Task);
    }

    public override Task WriteAsync(UdfResponse response)
    {
        TaskCompletionSource<bool>? move;
        lock (_gate)
        {
            if (_aborted)
            {
                return Task.FromException(new StreamAbortedException());
            }

            move = _pendingMove;
            _pendingMove = null;
            if (move is null)
            {
                _responses.Enqueue(response);
            }
            else
            {
                _pendingReader!.Set(response);
                _pendingReader = null;
            }
        }

        // Synchronous continuations: the engine's reader handles the response on this thread.
        move?.TrySetResult(true);
        return Task.CompletedTask;
    }

    private void End(Status status)
    {
        TaskCompletionSource<bool>? move;
        lock (_gate)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _status ??= status;
            move = _pendingMove;
            _pendingMove = null;
        }

        Complete(move);
    }

    private void Complete(TaskCompletionSource<bool>? move)
    {
        if (move is null)
        {
            return;
        }

        Status status;
        lock (_gate)
        {
            status = _status ?? new Status(StatusCode.Cancelled, "aborted");
        }

        if (status.StatusCode == StatusCode.OK)
        {
            move.TrySetResult(false);
        }
        else
        {
            move.TrySetException(new RpcException(status));
        }
    }

    internal void Abort()
    {
        TaskCompletionSource<UdfRequest?>? read;
        TaskCompletionSource<bool>? move;
        lock (_gate)
        {
            if (_aborted)
            {
                return;
            }

            _aborted = true;
            _status ??= new Status(StatusCode.Cancelled, "Call canceled by the client.");
            _completed = true;
            read = _pendingRead;
            _pendingRead = null;
            move = _pendingMove;
            _pendingMove = null;
        }

        TaskCompletionSource? space;
        lock (_gate)
        {
            space = _space;
            _space = null;
        }

        MarkAborted();
        space?.TrySetException(new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client.")));
        read?.TrySetException(new StreamAbortedException());
        Complete(move);
    }

    // ---- the engine's side ----

    private sealed class Writer(InProcessStream stream) : IClientStreamWriter<UdfRequest>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(UdfRequest message) => stream.EngineWrite(message);

        public Task CompleteAsync() => stream.EngineComplete();
    }

    private Task EngineWrite(UdfRequest original)
    {
        // The message crosses a boundary as a real transport would: serialized and parsed, so the
        // worker never aliases the engine's memory.
        var message = UdfRequest.Parser.ParseFrom(original.ToByteArray());
        TaskCompletionSource<UdfRequest?>? read;
        TaskCompletionSource? space = null;
        lock (_gate)
        {
            if (_writing)
            {
                return Task.FromException(new InvalidOperationException("Can't write the message because the previous write is in progress."));
            }

            if (_aborted || _completed)
            {
                return Task.FromException(new RpcException(new Status(StatusCode.Cancelled, "the call is complete")));
            }

            if (WasHalfClosed)
            {
                return Task.FromException(new InvalidOperationException("Request stream has already been completed."));
            }

            _writing = true;
            read = _pendingRead;
            _pendingRead = null;
            if (read is null)
            {
                _requests.Enqueue(message);
                if (_requests.Count >= FlowControlWindow)
                {
                    // Flow control: the write completes once the worker reads.
                    space = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _space = space;
                }
            }
        }

        Record(message);
        read?.TrySetResult(message);
        if (space is null)
        {
            lock (_gate)
            {
                _writing = false;
            }

            return Task.CompletedTask;
        }

        return WaitForSpaceAsync(space.Task);
    }

    private async Task WaitForSpaceAsync(Task space)
    {
        try
        {
            await space;
        }
        finally
        {
            lock (_gate)
            {
                _writing = false;
            }
        }
    }

    private Task EngineComplete()
    {
        TaskCompletionSource<UdfRequest?>? read;
        lock (_gate)
        {
            if (_aborted)
            {
                return Task.FromException(new RpcException(new Status(StatusCode.Cancelled, "aborted")));
            }

            read = _pendingRead;
            _pendingRead = null;
            if (read is null)
            {
                _requests.Enqueue(null);
            }
        }

        MarkHalfClosed();
        read?.TrySetResult(null);
        return Task.CompletedTask;
    }

    private sealed class Reader(InProcessStream stream) : IAsyncStreamReader<UdfResponse>
    {
        public UdfResponse Current { get; private set; } = null!;

        public Task<bool> MoveNext(CancellationToken cancellationToken) => stream.EngineMoveNext(this);

        internal void Set(UdfResponse response) => Current = response;
    }

    private Task<bool> EngineMoveNext(Reader reader)
    {
        lock (_gate)
        {
            if (_responses.TryDequeue(out var response))
            {
                reader.Set(response);
                return Task.FromResult(true);
            }

            if (_completed)
            {
                var status = _status ?? Status.DefaultSuccess;
                return status.StatusCode == StatusCode.OK ? Task.FromResult(false) : Task.FromException<bool>(new RpcException(status));
            }

            // Synchronous continuations: the engine's reader resumes inside the script's WriteAsync.
            var move = new TaskCompletionSource<bool>();
            _pendingMove = move;
            _pendingReader = reader;
            return move.Task;
        }
    }
}
