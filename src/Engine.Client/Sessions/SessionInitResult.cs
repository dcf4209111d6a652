namespace Engine.Client;

/// <summary>The worker's answer to Init.</summary>
public sealed class SessionInitResult
{
    internal SessionInitResult(ReadOnlyMemory<byte>? data, TimeSpan elapsed)
    {
        Data = data;
        Elapsed = elapsed;
    }

    /// <summary><c>InitResponse.data</c>: the answer to <see cref="SessionInit.Parameters"/>, or <see langword="null"/> when the worker sent none.</summary>
    public ReadOnlyMemory<byte>? Data { get; }

    /// <summary>From the start of <see cref="WorkerSession.InitAsync"/> to the InitResponse.</summary>
    public TimeSpan Elapsed { get; }
}
