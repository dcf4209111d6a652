using System.Globalization;
using Engine.Client.Protocol;
using Engine.ReferenceWorker.Execution;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Engine.ReferenceWorker.Management;

/// <summary>
/// The Manage call: heartbeat and shutdown. Neither ever waits on an Execute stream's work, so
/// the worker stays manageable however busy it is (docs/protocol.md, Manage rules).
/// </summary>
internal sealed class ManageHandler
{
    /// <summary>How long a cancelling shutdown waits for the streams to settle before it answers anyway.</summary>
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Unique to this process: a worker restarted with the same id is told apart by it (a fleet's new incarnation).</summary>
    private static readonly string Incarnation = Guid.NewGuid().ToString("N");

    private readonly string _workerId;
    private readonly bool _echoAuthorization;
    private readonly StreamRegistry _streams;
    private readonly WorkerStats _stats;
    private readonly WorkerLifetime _lifetime;
    private readonly ILogger _logger;

    public ManageHandler(WorkerIdentity identity, StreamRegistry streams, WorkerStats stats, WorkerLifetime lifetime, ILogger<ManageHandler> logger)
    {
        _workerId = identity.Id;
        _echoAuthorization = identity.EchoAuthorization;
        _streams = streams;
        _stats = stats;
        _lifetime = lifetime;
        _logger = logger;
    }

    public Task<WorkerResponse> HandleAsync(WorkerRequest request, ServerCallContext context) => request.ManageCase switch
    {
        WorkerRequest.ManageOneofCase.Heartbeat => Task.FromResult(new WorkerResponse { Heartbeat = Heartbeat(context) }),
        WorkerRequest.ManageOneofCase.Shutdown => ShutdownAsync(request.Shutdown, context),
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, "a WorkerRequest with no branch set; expected heartbeat or shutdown")),
    };

    private HeartbeatResponse Heartbeat(ServerCallContext context)
    {
        var response = new HeartbeatResponse();
        var metrics = response.Metrics;
        metrics["worker_id"] = _workerId;
        metrics["incarnation"] = Incarnation;
        metrics["pid"] = Text(Environment.ProcessId);
        metrics["uptime_ms"] = Text((long)_stats.Uptime.TotalMilliseconds);
        metrics["active_sessions"] = Text(_streams.LiveCount);
        metrics["sessions_total"] = Text(_stats.SessionsTotal);
        metrics["sessions_finished"] = Text(_stats.SessionsFinished);
        metrics["sessions_cancelled"] = Text(_stats.SessionsCancelled);
        metrics["batches_in"] = Text(_stats.BatchesIn);
        metrics["batches_out"] = Text(_stats.BatchesOut);
        metrics["bytes_in"] = Text(_stats.BytesIn);
        metrics["bytes_out"] = Text(_stats.BytesOut);
        metrics["working_set_bytes"] = Text(Environment.WorkingSet);
        metrics["gc_heap_bytes"] = Text(GC.GetTotalMemory(forceFullCollection: false));
        metrics["gc_committed_bytes"] = Text(GC.GetGCMemoryInfo().TotalCommittedBytes);
        if (_echoAuthorization)
        {
            // Diagnostic only (--echo-authorization): proves which credentials reached the worker.
            metrics["authorization"] = context.RequestHeaders.GetValue("authorization") ?? string.Empty;
            metrics["tls_client_certificate"] = context.GetHttpContext().Connection.ClientCertificate?.Subject ?? string.Empty;
        }

        return response;
    }

    private async Task<WorkerResponse> ShutdownAsync(ShutdownRequest request, ServerCallContext context)
    {
        var live = _streams.StopAccepting();
        var reason = request.HasReason && request.Reason.Length > 0 ? request.Reason : "shutdown requested";
        var cancelSessions = request.HasCancelSessions && request.CancelSessions;
        WorkerLog.ShutdownRequested(_logger, reason, cancelSessions, live.Count);

        bool settled;
        if (cancelSessions)
        {
            foreach (var stream in live)
            {
                stream.RequestShutdown(reason);
            }

            try
            {
                await Task.WhenAll(live.Select(static s => s.Settled)).WaitAsync(SettleTimeout, context.CancellationToken).ConfigureAwait(false);
                settled = true;
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                settled = false;
            }
        }
        else
        {
            settled = live.Count == 0;
        }

        // Exit only after this answer went out: the engine must see it.
        context.GetHttpContext().Response.OnCompleted(() =>
        {
            _lifetime.ExitWhenIdle();
            return Task.CompletedTask;
        });

        return new WorkerResponse { Shutdown = new ShutdownResponse { SessionsSettled = settled } };
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The id the engine gave this worker (<c>--id</c>), and whether its heartbeat echoes the caller's credentials (<c>--echo-authorization</c>).</summary>
internal sealed record WorkerIdentity(string Id, bool EchoAuthorization = false);
