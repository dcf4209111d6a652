using Grpc.Core;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// Decorates a call invoker to observe what the engine does to its Execute calls (disposes,
/// half-closes, the order of the two) and to inject a transport failure on a given write. An
/// injected failure behaves like a lost connection: the write throws, the response stream fails
/// with the same error, and the worker sees the call aborted.
/// </summary>
public sealed class CallProbe(CallInvoker inner) : CallInvoker
{
    private int _disposes;
    private int _completes;
    private int _completesAfterDispose;
    private int _writes;

    public int Disposes => Volatile.Read(ref _disposes);

    public int Completes => Volatile.Read(ref _completes);

    public int CompletesAfterDispose => Volatile.Read(ref _completesAfterDispose);

    /// <summary>1-based index of the write that fails; 0 = none.</summary>
    public int FailWrite { get; set; }

    /// <summary>Throws from the call's dispose (cleanup failure), after disposing the inner call.</summary>
    public bool ThrowOnDispose { get; set; }

    public RpcException InjectedFailure { get; } = new(new Status(StatusCode.Unavailable, "injected: connection lost"));

    /// <summary>Runs when the engine creates an Execute call, before it writes anything.</summary>
    public Action? OnCall { get; set; }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        var call = inner.AsyncDuplexStreamingCall(method, host, options);
        OnCall?.Invoke();
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var disposed = 0;
        var writer = new Writer<TRequest>(this, call.RequestStream, failed, () => { call.Dispose(); });
        var reader = new Reader<TResponse>(call.ResponseStream, failed, InjectedFailure);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(
            writer,
            reader,
            call.ResponseHeadersAsync,
            call.GetStatus,
            call.GetTrailers,
            () =>
            {
                Interlocked.Increment(ref _disposes);
                Volatile.Write(ref disposed, 1);
                writer.Disposed = true;
                call.Dispose();
                if (ThrowOnDispose)
                {
                    throw new InvalidOperationException("injected: dispose failed");
                }
            });
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        inner.AsyncUnaryCall(method, host, options, request);

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        inner.BlockingUnaryCall(method, host, options, request);

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        inner.AsyncServerStreamingCall(method, host, options, request);

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        inner.AsyncClientStreamingCall(method, host, options);

    private sealed class Writer<T>(CallProbe probe, IClientStreamWriter<T> inner, TaskCompletionSource failed, Action breakConnection) : IClientStreamWriter<T>
    {
        public volatile bool Disposed;

        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public Task WriteAsync(T message)
        {
            var index = Interlocked.Increment(ref probe._writes);
            if (index == probe.FailWrite)
            {
                failed.TrySetResult();
                breakConnection();
                return Task.FromException(probe.InjectedFailure);
            }

            return inner.WriteAsync(message);
        }

        public Task CompleteAsync()
        {
            Interlocked.Increment(ref probe._completes);
            if (Disposed)
            {
                Interlocked.Increment(ref probe._completesAfterDispose);
            }

            return inner.CompleteAsync();
        }
    }

    private sealed class Reader<T>(IAsyncStreamReader<T> inner, TaskCompletionSource failed, RpcException failure) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (failed.Task.IsCompleted)
            {
                throw failure;
            }

            try
            {
                return await inner.MoveNext(cancellationToken);
            }
            catch when (failed.Task.IsCompleted)
            {
                throw failure;
            }
        }
    }
}
