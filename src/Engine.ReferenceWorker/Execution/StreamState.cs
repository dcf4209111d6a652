namespace Engine.ReferenceWorker.Execution;

/// <summary>Where one Execute stream is in the protocol (docs/protocol.md, "Rules of one Execute stream").</summary>
internal enum StreamState
{
    /// <summary>Nothing received yet: only Init or Cancel is valid.</summary>
    AwaitingInit,

    /// <summary>Init said <c>is_chunking_payload</c>: only PayloadChunk or Cancel is valid.</summary>
    Chunking,

    /// <summary>InitResponse went out: DataRequest, Finish and Cancel are valid.</summary>
    DataPhase,

    /// <summary>An error went out (InitResponse.error or ErrorResponse): only the engine's Cancel gets an answer.</summary>
    AwaitingCancel,

    /// <summary>The terminator went out: nothing more is sent; the call ends when the engine half-closes (or after a grace).</summary>
    Terminated,

    /// <summary>A fault made the stream deaf: nothing is sent; the call ends when the engine breaks it.</summary>
    Unresponsive,

    /// <summary>The handler is returning.</summary>
    Ended,
}
