using System.Runtime.ExceptionServices;
using Engine.Client.Protocol;
using Engine.Client.Transport;
using Grpc.Core;

namespace Engine.Client.Fleets;

/// <summary>
/// The Execute call of one fleet session, retried on another worker while nothing but Init went
/// out. The session writes and reads it as one call; underneath, each attempt is a real call on one
/// worker's channel.
/// </summary>
/// <remarks>
/// <para>
/// Before commit, the Init and payload chunks written are kept. An attempt that fails before the
/// worker's first response (connection refused, <c>Unavailable</c> such as a worker shutting down,
/// no response within <see cref="WorkerFleetOptions.AttemptTimeout"/>, its worker restarted) is
/// dropped; the fleet's retry pipeline (Polly: attempts, exponential backoff with jitter) places
/// the session on another worker, and the kept messages are written there again, in order, before
/// anything the session writes next.
/// </para>
/// <para>
/// Commit: the worker's first response (the InitResponse, or an error answering Init), or any
/// message past Init the session writes (a DataRequest, Finish, Cancel, the half-close). From then
/// on the call is the current attempt's call, as a plain call would be: nothing is retried.
/// </para>
/// </remarks>
internal sealed class FleetCall : IDisposable
{
    private readonly WorkerFleet _fleet;
    private readonly FleetLease _lease;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Lock _gate = new();
    private readonly List<UdfRequest> _kept = [];
    private readonly CancellationTokenSource _disposing = new();
    private readonly TaskCompletionSource _settledAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Attempt _current;
    private bool _committed;
    private bool _responded;
    private bool _disposed;

    public FleetCall(WorkerFleet fleet, FleetLease lease)
    {
        _fleet = fleet;
        _lease = lease;
        _current = Start(lease.Worker);
    }

    public AsyncDuplexStreamingCall<UdfRequest, UdfResponse> AsCall() =>
        new(new Writer(this), new Reader(this), HeadersAsync(), () => Current.Call.GetStatus(), () => Current.Call.GetTrailers(), Dispose);

    private Attempt Current => Volatile.Read(ref _current);

    /// <summary>Abandons the current attempt when it is uncommitted (its worker restarted): it is retried elsewhere.</summary>
    public void AbandonUncommitted(string reason)
    {
        Attempt attempt;
        lock (_gate)
        {
            if (_committed || _disposed)
            {
                return;
            }

            attempt = _current;
        }

        attempt.Abandon(reason);
    }

    private Attempt Start(FleetWorker worker)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_disposing.Token);
        AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call;
        try
        {
            call = worker.Client.Invoker.AsyncDuplexStreamingCall(WireMethods.Execute, null, new CallOptions(cancellationToken: cancel.Token));
        }
        catch
        {
            cancel.Dispose();
            throw;
        }

        var attempt = new Attempt(worker, call, cancel);
        if (_fleet.Options.AttemptTimeout is { } timeout)
        {
            attempt.Timer = _fleet.Time.CreateTimer(
                static state => ((Attempt)state!).Abandon(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"no response within {((Attempt)state!).Timeout.TotalSeconds:0.###} s")),
                attempt,
                timeout,
                Timeout.InfiniteTimeSpan);
            attempt.Timeout = timeout;
        }

        return attempt;
    }

    private static bool IsInitPart(UdfRequest message) =>
        message.RequestCase == UdfRequest.RequestOneofCase.Control
        && message.Control.ControlCase is UdfControlRequest.ControlOneofCase.Init or UdfControlRequest.ControlOneofCase.Payload;

    /// <summary>Commits, under <see cref="_gate"/>: nothing is retried from now on.</summary>
    private void CommitLocked()
    {
        if (_committed)
        {
            return;
        }

        _committed = true;
        _kept.Clear();
        _current.Timer?.Dispose();
        _fleet.OnCommitted(_lease);
    }

    private async Task WriteAsync(UdfRequest message)
    {
        Attempt attempt;
        ExceptionDispatchInfo failure;
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            bool retryable;
            lock (_gate)
            {
                if (!IsInitPart(message))
                {
                    CommitLocked();
                }

                retryable = !_committed;
                if (retryable)
                {
                    _kept.Add(message);
                }

                attempt = _current;
            }

            try
            {
                await attempt.Call.RequestStream.WriteAsync(message).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (retryable)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
            }
        }
        finally
        {
            _writeLock.Release();
        }

        // The attempt broke before commit: the reader's retry writes the kept messages (this one
        // among them) on the next attempt, or gives up.
        if (await attempt.Replaced.Task.ConfigureAwait(false) is null)
        {
            failure.Throw();
        }
    }

    private async Task CompleteAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            Attempt attempt;
            lock (_gate)
            {
                CommitLocked();
                attempt = _current;
            }

            await attempt.Call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task<bool> MoveNextAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _responded))
        {
            return await Current.Call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false);
        }

        var first = true;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
            return await _fleet.RetryPipeline.ExecuteAsync(
                async token =>
                {
                    var attempt = first ? Current : await StartNextAsync(token).ConfigureAwait(false);
                    first = false;
                    bool more;
                    try
                    {
                        more = await attempt.Call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (Retryable(attempt, ex, cancellationToken) is { } why)
                    {
                        bool retryable;
                        lock (_gate)
                        {
                            retryable = !_committed && !_disposed;
                        }

                        _fleet.OnAttemptFailed(_lease, attempt.Worker, why);
                        throw new AttemptFailedException(why, ex, attempt, retryable);
                    }

                    lock (_gate)
                    {
                        Volatile.Write(ref _responded, true);
                        CommitLocked();
                    }

                    _settledAttempt.TrySetResult();
                    return more;
                },
                linked.Token).ConfigureAwait(false);
        }
        catch (AttemptFailedException failed)
        {
            // No attempt left (or no other worker): the session sees the last attempt's own failure.
            failed.Attempt.Replaced.TrySetResult(null);
            Current.Replaced.TrySetResult(null);
            _settledAttempt.TrySetResult();
            ExceptionDispatchInfo.Throw(failed.InnerException!);
            throw;
        }
    }

    /// <summary>Why a failed attempt may be retried, or <see langword="null"/> when it may not.</summary>
    private string? Retryable(Attempt attempt, Exception error, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_committed || _disposed || cancellationToken.IsCancellationRequested)
            {
                return null;
            }
        }

        if (attempt.AbandonReason is { } abandoned)
        {
            return abandoned;
        }

        return error switch
        {
            RpcException { StatusCode: StatusCode.Unavailable } rpc => $"gRPC status Unavailable: {rpc.Status.Detail}",
            ObjectDisposedException => "the worker left the fleet",
            _ => null,
        };
    }

    /// <summary>Places the session on the next worker and writes the kept messages there first.</summary>
    private async Task<Attempt> StartNextAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Attempt previous;
            lock (_gate)
            {
                previous = _current;
            }

            var failure = previous.Failure ?? "failed";
            if (_fleet.PlaceRetry(_lease, previous.Worker, failure) is not { } worker)
            {
                throw new AttemptFailedException(failure, previous.Error!, previous, retryable: false);
            }

            Attempt next;
            try
            {
                next = Start(worker);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
            {
                // Its client closed meanwhile (it left the fleet): one more failed attempt.
                var stand = new Attempt(worker, null!, null!) { Failure = "the worker left the fleet", Error = ex };
                throw new AttemptFailedException("the worker left the fleet", ex, stand, retryable: true);
            }

            UdfRequest[] kept;
            lock (_gate)
            {
                if (_committed || _disposed)
                {
                    next.Dispose();
                    throw new AttemptFailedException(failure, previous.Error!, previous, retryable: false);
                }

                kept = [.. _kept];
                _current = next;
            }

            previous.Replaced.TrySetResult(next);
            previous.Dispose();
            foreach (var message in kept)
            {
                try
                {
                    await next.Call.RequestStream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException or OperationCanceledException)
                {
                    // The new attempt broke too: its read says how, and may retry again.
                    break;
                }
            }

            return next;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task<Metadata> HeadersAsync()
    {
        await _settledAttempt.Task.ConfigureAwait(false);
        return await Current.Call.ResponseHeadersAsync.ConfigureAwait(false);
    }

    /// <summary>Ends the call (the session's abort or cleanup): the current attempt's call is disposed and nothing is retried.</summary>
    public void Dispose()
    {
        Attempt attempt;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            attempt = _current;
        }

        _disposing.Cancel();
        attempt.Dispose();
        attempt.Replaced.TrySetResult(null);
        _settledAttempt.TrySetResult();
    }

    /// <summary>One attempt: a real call on one worker.</summary>
    private sealed class Attempt(FleetWorker worker, AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call, CancellationTokenSource cancel)
    {
        public FleetWorker Worker { get; } = worker;

        public AsyncDuplexStreamingCall<UdfRequest, UdfResponse> Call { get; } = call;

        public ITimer? Timer { get; set; }

        public TimeSpan Timeout { get; set; }

        /// <summary>Why the fleet abandoned it (no response in time, its worker restarted), when it did.</summary>
        public string? AbandonReason { get; private set; }

        /// <summary>Why it failed, once it did.</summary>
        public string? Failure { get; set; }

        public Exception? Error { get; set; }

        /// <summary>Completes with the attempt that replaced this one, or <see langword="null"/> when none will.</summary>
        public TaskCompletionSource<Attempt?> Replaced { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Abandon(string reason)
        {
            AbandonReason ??= reason;
            try
            {
                cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            Timer?.Dispose();
            Call?.Dispose();
            cancel?.Dispose();
        }
    }

    private sealed class AttemptFailedException(string failure, Exception inner, Attempt attempt, bool retryable) : Exception(failure, inner)
    {
        public Attempt Attempt { get; } = Init(attempt, failure, inner);

        public bool Retryable { get; } = retryable;

        private static Attempt Init(Attempt attempt, string failure, Exception inner)
        {
            attempt.Failure ??= failure;
            attempt.Error ??= inner;
            return attempt;
        }
    }

    private sealed class Writer(FleetCall call) : IClientStreamWriter<UdfRequest>
    {
        public WriteOptions? WriteOptions
        {
            get => call.Current.Call.RequestStream.WriteOptions;
            set => call.Current.Call.RequestStream.WriteOptions = value;
        }

        public Task WriteAsync(UdfRequest message) => call.WriteAsync(message);

        public Task CompleteAsync() => call.CompleteAsync();
    }

    private sealed class Reader(FleetCall call) : IAsyncStreamReader<UdfResponse>
    {
        public UdfResponse Current => call.Current.Call.ResponseStream.Current;

        public Task<bool> MoveNext(CancellationToken cancellationToken) => call.MoveNextAsync(cancellationToken);
    }

    /// <summary>The retry pipeline retries an attempt failure only while the session is uncommitted.</summary>
    internal static bool ShouldRetry(Exception? error) => error is AttemptFailedException { Retryable: true };
}
