using Engine.Client.Protocol;

namespace Engine.Client;

/// <summary>Options of one <see cref="WorkerSession.ProcessAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, ProcessOptions?, CancellationToken)"/> call.</summary>
public sealed class ProcessOptions
{
    /// <summary>
    /// Called once, after the input is exhausted and before Finish is sent, to build the Finish
    /// message (for example to flush engine-side state first, or to fill fields a later protocol
    /// revision adds). <see langword="null"/> (default) sends an empty Finish. If it throws, or
    /// returns <see langword="null"/>, the session sends Cancel instead and the error surfaces
    /// from the output.
    /// </summary>
    public Func<CancellationToken, ValueTask<Finish?>>? BuildFinish { get; set; }
}
