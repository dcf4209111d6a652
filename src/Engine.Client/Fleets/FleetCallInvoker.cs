using Engine.Client.Protocol;
using Grpc.Core;

namespace Engine.Client.Fleets;

/// <summary>
/// The call invoker of one fleet session: its Execute call is a <see cref="FleetCall"/>, which may
/// move to another worker before commit. Manage calls go through a worker's own client, not here.
/// </summary>
internal sealed class FleetCallInvoker(WorkerFleet fleet, FleetLease lease) : CallInvoker
{
    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        if (typeof(TRequest) != typeof(UdfRequest) || typeof(TResponse) != typeof(UdfResponse))
        {
            throw new NotSupportedException($"A fleet session opens only the Execute call, not {method.FullName}.");
        }

        var call = new FleetCall(fleet, lease);
        lease.Call = call;
        return (AsyncDuplexStreamingCall<TRequest, TResponse>)(object)call.AsCall();
    }

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        throw new NotSupportedException("A fleet session opens only the Execute call.");

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        throw new NotSupportedException("A fleet session opens only the Execute call.");

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        throw new NotSupportedException("A fleet session opens only the Execute call.");

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        throw new NotSupportedException("A fleet session opens only the Execute call.");
}
