using Grpc.Core;

namespace Engine.Client.Transport;

/// <summary>Reads what a transport exception chain says.</summary>
internal static class TransportErrors
{
    /// <summary>Whether the chain says nothing listens at the worker's address.</summary>
    public static bool IsUnreachable(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is WorkerUnreachableException || (e is RpcException { Status.DebugException: { } debug } && IsUnreachable(debug)))
            {
                return true;
            }
        }

        return false;
    }
}
