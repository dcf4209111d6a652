using System.Text;
using Engine.Client.Protocol;

namespace Engine.Client.Conformance;

/// <summary>
/// Settings of a <see cref="WorkerConformance"/> run. The defaults fit the reference worker
/// (<c>Engine.ReferenceWorker</c>); for another worker, name its echo format and the UDF that
/// raises a user error, and give batches it accepts.
/// </summary>
public sealed class WorkerConformanceOptions
{
    /// <summary>
    /// Bound on every single wait (a send, a response, a Manage call), so a broken worker fails
    /// a check instead of hanging it. Default 10 s.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The payload format of a UDF that returns every input batch unchanged, one output per
    /// input. Default <c>echo</c>.
    /// </summary>
    public string EchoFormat { get; set; } = "echo";

    /// <summary>The payload sent with <see cref="EchoFormat"/>; at least 3 bytes (it is split into three chunks). Default a short text.</summary>
    public ReadOnlyMemory<byte> EchoPayload { get; set; } = Encoding.UTF8.GetBytes("engine-client conformance echo");

    /// <summary>
    /// Input batches, in the session's data format (each <c>DataRequest.data</c>). At least 3;
    /// an echo UDF must return each unchanged. Default the bytes of "a", "b" and "c", which a
    /// worker that does not decode its input accepts.
    /// </summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Batches { get; set; } =
        [Encoding.UTF8.GetBytes("a"), Encoding.UTF8.GetBytes("b"), Encoding.UTF8.GetBytes("c")];

    /// <summary>How many batches C3 streams while reading concurrently. Default 256.</summary>
    public int DuplexBatchCount { get; set; } = 256;

    /// <summary>A payload format the worker does not know (C10, C11). Default <c>engine-client-conformance-unknown-format</c>.</summary>
    public string UnknownFormat { get; set; } = "engine-client-conformance-unknown-format";

    /// <summary>
    /// The payload format of a UDF that raises a user error on its first input batch (C8), or
    /// <see langword="null"/> to skip C8. Default <c>fault</c> (the reference worker's).
    /// </summary>
    public string? UserErrorFormat { get; set; } = "fault";

    /// <summary>The payload sent with <see cref="UserErrorFormat"/>. Default <c>user-error</c>.</summary>
    public ReadOnlyMemory<byte> UserErrorPayload { get; set; } = Encoding.UTF8.GetBytes("user-error");

    /// <summary>The message the user error must carry, exactly. Default <c>boom in UDF</c>.</summary>
    public string ExpectedUserErrorMessage { get; set; } = "boom in UDF";

    /// <summary>The error class the user error must carry, exactly, or <see langword="null"/> to accept any. Default <c>UdfError</c>.</summary>
    public string? ExpectedUserErrorClass { get; set; } = "UdfError";

    /// <summary>The traceback the user error must carry, exactly, or <see langword="null"/> (default) to accept any.</summary>
    public string? ExpectedUserErrorTraceback { get; set; }

    /// <summary>
    /// Applied to every Init the checks send (after the check set its own fields), for workers
    /// that need schemas, session settings or task context. Default <see langword="null"/>.
    /// </summary>
    public Action<Init>? ConfigureInit { get; set; }

    /// <summary>The reason sent with Manage Shutdown. Default <c>engine-client conformance check</c>.</summary>
    public string ShutdownReason { get; set; } = "engine-client conformance check";

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        WorkerClientOptions.RequirePositive(Timeout, nameof(Timeout));
        if (string.IsNullOrEmpty(EchoFormat))
        {
            throw new ArgumentException($"{nameof(EchoFormat)} must name a payload format.");
        }

        if (EchoPayload.Length < 3)
        {
            throw new ArgumentException($"{nameof(EchoPayload)} must hold at least 3 bytes: C15 splits it into three chunks.");
        }

        if (Batches is null || Batches.Count < 3)
        {
            throw new ArgumentException($"{nameof(Batches)} must hold at least 3 batches.");
        }

        if (DuplexBatchCount < 1)
        {
            throw new ArgumentException($"{nameof(DuplexBatchCount)} must be at least 1.");
        }

        if (string.IsNullOrEmpty(UnknownFormat) || string.Equals(UnknownFormat, EchoFormat, StringComparison.Ordinal))
        {
            throw new ArgumentException($"{nameof(UnknownFormat)} must name a format the worker does not know.");
        }

        if (UserErrorFormat is not null && string.IsNullOrEmpty(ExpectedUserErrorMessage))
        {
            throw new ArgumentException($"{nameof(ExpectedUserErrorMessage)} must be set when {nameof(UserErrorFormat)} is.");
        }

        ArgumentNullException.ThrowIfNull(ShutdownReason, nameof(ShutdownReason));
    }

    internal WorkerConformanceOptions Clone()
    {
        var clone = (WorkerConformanceOptions)MemberwiseClone();
        clone.Batches = [.. Batches];
        return clone;
    }
}
