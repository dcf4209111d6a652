namespace Engine.Client;

/// <summary>
/// Where sessions come from: one worker at an address (<see cref="WorkerClient"/>), workers this
/// process launches from a worker specification (<see cref="WorkerPool"/>), and any later
/// source. Code that runs sessions takes a <see cref="WorkerSessionSource"/> and does not care which,
/// as code on ADO.NET takes a <c>DbDataSource</c>.
/// </summary>
/// <remarks>
/// A source is long-lived and thread-safe: create one, open many sessions on it, dispose it when
/// done. Disposing closes what the source owns (its channels; the workers it launched); sessions
/// still open then end with a transport failure.
/// </remarks>
public abstract class WorkerSessionSource : IAsyncDisposable, IDisposable
{
    private protected WorkerSessionSource()
    {
    }

    /// <summary>The source's name in errors and logs: the worker's address, or the pool's name.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Opens a session on a worker of this source. Nothing goes on the wire until
    /// <see cref="WorkerSession.InitAsync"/>; a pool may launch a worker first.
    /// </summary>
    /// <param name="options">Session settings; <see langword="null"/> uses the source's defaults
    /// (<see cref="WorkerClientOptions.Session"/> or <see cref="WorkerPoolOptions.Session"/>).</param>
    /// <param name="cancellationToken">Abandons the request.</param>
    /// <returns>The session, not yet initialized; the caller disposes it.</returns>
    /// <exception cref="ObjectDisposedException">The source was disposed.</exception>
    /// <exception cref="WorkerException">The source could not provide a worker (a launch or environment
    /// failure for a pool); the concrete type says which.</exception>
    public abstract ValueTask<WorkerSession> OpenSessionAsync(SessionOptions? options = null, CancellationToken cancellationToken = default);

    /// <inheritdoc cref="IAsyncDisposable.DisposeAsync"/>
    public abstract ValueTask DisposeAsync();

    /// <inheritdoc cref="IDisposable.Dispose"/>
    public abstract void Dispose();
}
