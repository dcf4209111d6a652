using Engine.Client.Protocol;

namespace Engine.ReferenceWorker.Execution;

/// <summary>What the request reader hands to the stream's state machine.</summary>
internal enum StreamInputKind
{
    /// <summary>One engine message.</summary>
    Request,

    /// <summary>The engine half-closed its request stream.</summary>
    End,

    /// <summary>The request stream failed (connection lost, call cancelled): docs/protocol.md rule 10, treated as Cancel.</summary>
    Broken,
}

internal readonly record struct StreamInput(StreamInputKind Kind, UdfRequest? Request, Exception? Error)
{
    public static readonly StreamInput End = new(StreamInputKind.End, null, null);

    public static StreamInput Of(UdfRequest request) => new(StreamInputKind.Request, request, null);

    public static StreamInput BrokenBy(Exception error) => new(StreamInputKind.Broken, null, error);
}
