using Engine.Client.Protocol;

namespace Engine.ReferenceWorker.Wire;

/// <summary>Short names of engine messages, for protocol errors and logs (never payload bytes).</summary>
internal static class WireText
{
    public static string Describe(UdfRequest request) => request.RequestCase switch
    {
        UdfRequest.RequestOneofCase.Data => "DataRequest",
        UdfRequest.RequestOneofCase.Control => request.Control.ControlCase switch
        {
            UdfControlRequest.ControlOneofCase.Init => "Init",
            UdfControlRequest.ControlOneofCase.Payload => "PayloadChunk",
            UdfControlRequest.ControlOneofCase.Finish => "Finish",
            UdfControlRequest.ControlOneofCase.Cancel => "Cancel",
            _ => "a UdfControlRequest with no branch set",
        },
        _ => "a UdfRequest with no branch set",
    };
}
