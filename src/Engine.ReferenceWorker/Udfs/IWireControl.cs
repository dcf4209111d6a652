using Engine.Client.Protocol;
using Grpc.Core;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>
/// What the stream does once a UDF hook that called <see cref="IWireControl.Override"/> returns.
/// Fault UDFs use it to reproduce broken workers; the stream skips the response it would
/// normally send for that hook.
/// </summary>
internal enum StreamOverride
{
    /// <summary>Normal protocol behaviour.</summary>
    None,

    /// <summary>Stop processing; answer only the engine's Cancel (with CancelResponse).</summary>
    AwaitCancel,

    /// <summary>The UDF sent a terminator itself: behave as after any terminator.</summary>
    Terminated,

    /// <summary>End the call at once with OK status, whatever was sent so far.</summary>
    EndCall,

    /// <summary>End the call at once with the given gRPC status.</summary>
    FailCall,

    /// <summary>Send nothing more and ignore every message; the call stays open until the engine breaks it.</summary>
    Unresponsive,
}

/// <summary>
/// Raw access to one stream's wire, for fault-injection UDFs only: it bypasses the rules the
/// stream otherwise enforces.
/// </summary>
internal interface IWireControl
{
    /// <summary>Queues <paramref name="response"/> as it is, in order with everything else the stream sends.</summary>
    void SendRaw(UdfResponse response);

    /// <summary>Replaces the stream's normal reaction to the current hook; see <see cref="StreamOverride"/>.</summary>
    /// <param name="mode">What to do instead.</param>
    /// <param name="status">The status for <see cref="StreamOverride.FailCall"/>.</param>
    void Override(StreamOverride mode, Status? status = null);
}
