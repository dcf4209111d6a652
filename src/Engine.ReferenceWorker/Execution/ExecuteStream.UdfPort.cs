using Engine.Client.Protocol;
using Engine.ReferenceWorker.Udfs;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.ReferenceWorker.Execution;

/// <summary>What the UDF sees of its stream: the output, and (for fault UDFs) raw wire control.</summary>
internal sealed partial class ExecuteStream
{
    private StreamOverride _override;
    private Status? _overrideStatus;

    /// <summary>
    /// Applies what a fault UDF asked for during the hook that just returned, instead of the
    /// stream's normal reaction. Returns <see langword="false"/> when nothing was asked.
    /// </summary>
    private bool ApplyOverride()
    {
        var mode = _override;
        _override = StreamOverride.None;
        switch (mode)
        {
            case StreamOverride.None:
                return false;
            case StreamOverride.AwaitCancel:
                _errorReported = true;
                _state = StreamState.AwaitingCancel;
                break;
            case StreamOverride.Terminated:
                EnterTerminated();
                break;
            case StreamOverride.EndCall:
                _state = StreamState.Ended;
                break;
            case StreamOverride.FailCall:
                _failStatus = _overrideStatus ?? new Status(StatusCode.Internal, "the UDF failed the call");
                _state = StreamState.Ended;
                break;
            default:
                _state = StreamState.Unresponsive;
                break;
        }

        return true;
    }

    private sealed class UdfPort(ExecuteStream stream) : IUdfOutput, IWireControl
    {
        public ValueTask EmitAsync(ByteString batch, long? rows = null, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(batch);
            stream._metrics.BatchOut(batch.Length, rows);
            return stream._writer.SendDataAsync(UdfResponses.Data(batch), cancellationToken.CanBeCanceled ? cancellationToken : stream._work.Token);
        }

        public void RecordInputRows(long rows) => stream._metrics.RowsIn(rows);

        public void SendRaw(UdfResponse response)
        {
            ArgumentNullException.ThrowIfNull(response);
            stream._writer.Send(response);
        }

        public void Override(StreamOverride mode, Status? status = null)
        {
            stream._override = mode;
            stream._overrideStatus = status;
        }
    }
}
