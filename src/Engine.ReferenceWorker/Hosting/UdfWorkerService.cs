using Engine.Client.Protocol;
using Engine.ReferenceWorker.Execution;
using Engine.ReferenceWorker.Management;
using Engine.ReferenceWorker.Udfs;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Engine.ReferenceWorker.Hosting;

/// <summary>The gRPC service: each Execute call becomes one <see cref="ExecuteStream"/>; Manage goes to <see cref="ManageHandler"/>.</summary>
internal sealed class UdfWorkerService(
    StreamRegistry streams,
    UdfRegistry udfs,
    WorkerStats stats,
    ExecuteSettings settings,
    ManageHandler manage,
    ILogger<ExecuteStream> streamLogger) : UdfWorker.UdfWorkerBase
{
    public override async Task Execute(IAsyncStreamReader<UdfRequest> requestStream, IServerStreamWriter<UdfResponse> responseStream, ServerCallContext context)
    {
        using var stream = new ExecuteStream(requestStream, responseStream, context, udfs, stats, settings, streamLogger);
        if (!streams.TryAdd(stream))
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "worker is shutting down"));
        }

        try
        {
            await stream.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            streams.Remove(stream);
        }
    }

    public override Task<WorkerResponse> Manage(WorkerRequest request, ServerCallContext context) => manage.HandleAsync(request, context);
}
