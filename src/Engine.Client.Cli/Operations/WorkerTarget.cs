namespace Engine.Client.Cli.Operations;

/// <summary>
/// Where a run's session comes from: a worker already listening at an address, or a worker
/// launched from a specification through a <see cref="WorkerPool"/> for the run and stopped after.
/// </summary>
internal abstract class WorkerTarget
{
    /// <summary>For messages: the address or the specification file.</summary>
    public abstract string Description { get; }

    /// <summary>Whether the run launches its own worker.</summary>
    public abstract bool Launches { get; }

    public static WorkerTarget At(WorkerAddress address) => new AddressTarget(address);

    public static WorkerTarget From(WorkerSpecification specification) => new SpecificationTarget(specification);

    /// <summary>Connects or launches; the returned connection opens sessions and is disposed after the run.</summary>
    public abstract WorkerConnection Connect(WorkerClientOptions clientOptions);

    private sealed class AddressTarget(WorkerAddress address) : WorkerTarget
    {
        public override string Description => address.ToString();

        public override bool Launches => false;

        public override WorkerConnection Connect(WorkerClientOptions clientOptions) =>
            new ClientConnection(WorkerClient.Create(address, clientOptions));
    }

    private sealed class SpecificationTarget(WorkerSpecification specification) : WorkerTarget
    {
        public override string Description => specification.ToString();

        public override bool Launches => true;

        public override WorkerConnection Connect(WorkerClientOptions clientOptions) =>
            new PoolConnection(WorkerPool.Create(specification, new WorkerPoolOptions
            {
                MaxIdleWorkers = 0,
                CancelSessionsOnDispose = true,
                Process = new WorkerProcessOptions { Client = clientOptions },
            }));
    }

    private sealed class ClientConnection(WorkerClient client) : WorkerConnection
    {
        public override string? Worker => client.Address?.ToString();

        public override Task<WorkerSession> OpenSessionAsync(SessionOptions options, CancellationToken cancellationToken) =>
            Task.FromResult(client.OpenSession(options));

        public override ValueTask DisposeAsync() => client.DisposeAsync();
    }

    private sealed class PoolConnection(WorkerPool pool) : WorkerConnection
    {
        private string? _worker;

        public override string? Worker => _worker;

        public override async Task<WorkerSession> OpenSessionAsync(SessionOptions options, CancellationToken cancellationToken)
        {
            var session = await pool.OpenSessionAsync(options, cancellationToken);
            _worker = session.Worker;
            return session;
        }

        public override ValueTask DisposeAsync() => pool.DisposeAsync();
    }
}

/// <summary>An open way to a worker: a client, or a pool that launched one. Disposing stops what it started.</summary>
internal abstract class WorkerConnection : IAsyncDisposable
{
    /// <summary>The worker's address once known.</summary>
    public abstract string? Worker { get; }

    public abstract Task<WorkerSession> OpenSessionAsync(SessionOptions options, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();
}
