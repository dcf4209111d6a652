using System.Diagnostics;
using System.Globalization;
using Engine.Client.Diagnostics;
using Engine.Client.Protocol;
using Engine.Client.Transport;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Engine.Client.Management;

/// <summary>
/// The unary Manage call: heartbeat and shutdown, each with a deadline on the client's
/// <see cref="TimeProvider"/>, retried only while the worker is unavailable (safe: Manage calls
/// are idempotent probes or requests the worker de-duplicates by nature).
/// </summary>
internal sealed class ManageClient
{
    private readonly CallInvoker _invoker;
    private readonly string _worker;
    private readonly WorkerClientOptions _options;
    private readonly ILogger _logger;
    private readonly EngineClientTelemetry _telemetry;
    private readonly ResiliencePipeline _pipeline;

    public ManageClient(CallInvoker invoker, string worker, WorkerClientOptions options)
    {
        _invoker = invoker;
        _worker = worker;
        _options = options;
        _telemetry = EngineClientTelemetry.For(options.MeterFactory);
        _logger = options.LoggerFactory.CreateLogger<ManageClient>();
        _pipeline = options.Connection.ManageAttempts <= 1
            ? ResiliencePipeline.Empty
            : new ResiliencePipelineBuilder { TimeProvider = options.TimeProvider }
                .AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = new PredicateBuilder().Handle<RpcException>(e => e.StatusCode == StatusCode.Unavailable),
                    MaxRetryAttempts = options.Connection.ManageAttempts - 1,
                    BackoffType = DelayBackoffType.Exponential,
                    Delay = TimeSpan.FromMilliseconds(50),
                    MaxDelay = TimeSpan.FromSeconds(1),
                    UseJitter = true,
                })
                .Build();
    }

    public async Task<HeartbeatResult> HeartbeatAsync(TimeSpan? timeout, CancellationToken cancellationToken, bool probe = false)
    {
        var time = _options.TimeProvider;
        var start = time.GetTimestamp();
        var response = await CallAsync(
            new WorkerRequest { Heartbeat = new Heartbeat() },
            WorkerResponse.ManageOneofCase.Heartbeat,
            "heartbeat",
            timeout ?? _options.HeartbeatTimeout,
            cancellationToken,
            probe).ConfigureAwait(false);
        var metrics = new Dictionary<string, string>(response.Heartbeat.Metrics, StringComparer.Ordinal);
        return new HeartbeatResult(metrics, time.GetElapsedTime(start), time.GetUtcNow());
    }

    public async Task<ShutdownResult> ShutdownAsync(string? reason, bool cancelSessions, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var request = new ShutdownRequest { CancelSessions = cancelSessions };
        if (reason is not null)
        {
            request.Reason = reason;
        }

        var start = _options.TimeProvider.GetTimestamp();
        var response = await CallAsync(
            new WorkerRequest { Shutdown = request },
            WorkerResponse.ManageOneofCase.Shutdown,
            "shutdown",
            timeout ?? _options.Connection.ShutdownTimeout,
            cancellationToken).ConfigureAwait(false);
        return new ShutdownResult(response.Shutdown.SessionsSettled, _options.TimeProvider.GetElapsedTime(start));
    }

    private async Task<WorkerResponse> CallAsync(
        WorkerRequest request,
        WorkerResponse.ManageOneofCase expected,
        string operation,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        bool probe = false)
    {
        var time = _options.TimeProvider;
        var start = time.GetTimestamp();
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var outcome = "ok";
        try
        {
            var response = await _pipeline.ExecuteAsync(
                static async (state, token) =>
                {
                    var (invoker, request) = state;
                    return await invoker.AsyncUnaryCall(WireMethods.Manage, null, new CallOptions(cancellationToken: token), request).ConfigureAwait(false);
                },
                (_invoker, request),
                linked.Token).ConfigureAwait(false);

            if (response.ManageCase != expected)
            {
                outcome = "protocol_violation";
                var got = WireMethods.ParseErrorOf(response) is { } parseError ? $"bytes that are not a valid WorkerResponse message ({parseError})"
                    : response.ManageCase == WorkerResponse.ManageOneofCase.None ? "a WorkerResponse with no branch set"
                    : $"a {response.ManageCase} response";
                throw new WorkerTransportException(
                    _worker,
                    TransportFailureReason.ProtocolViolation,
                    $"Protocol violation by the worker: it answered a {operation} request with {got}; the answer's branch must match the request's",
                    null,
                    null);
            }

            return response;
        }
        catch (Exception ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested && ex is RpcException or OperationCanceledException)
        {
            outcome = "timeout";
            throw new WorkerTransportException(
                _worker,
                TransportFailureReason.Timeout,
                string.Create(CultureInfo.InvariantCulture, $"The worker did not answer the {operation} within {timeout.TotalSeconds:0.###} s"),
                null,
                null);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            outcome = "error";
            var unreachable = TransportErrors.IsUnreachable(ex);
            throw new WorkerTransportException(
                _worker,
                unreachable ? TransportFailureReason.Unreachable : TransportFailureReason.Rpc,
                $"The {operation} call to the worker failed",
                null,
                ex);
        }
        catch (RpcException ex) when (cancellationToken.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw new OperationCanceledException($"The {operation} call was cancelled by the caller.", ex, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            // A readiness probe failing is the expected answer of a worker still starting: not an error.
            if (!probe)
            {
                var tags = new TagList
                {
                    { "operation", operation },
                    { "outcome", outcome },
                };
                if (_options.PoolName is { } pool)
                {
                    tags.Add(EngineClientTelemetry.PoolTag, pool);
                }

                _telemetry.ManageDuration.Record(time.GetElapsedTime(start).TotalSeconds, tags);
            }
            ManageLog.Call(_logger, operation, _worker, outcome, time.GetElapsedTime(start).TotalMilliseconds);
        }
    }
}
