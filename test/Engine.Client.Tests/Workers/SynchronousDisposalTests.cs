using System.Collections.Concurrent;
using System.Runtime.Versioning;
using Engine.Client.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Client.Tests.Workers;

/// <summary>
/// Synchronous disposal of the root objects: a dependency-injection container that owns a pool
/// stops its worker on <c>Dispose()</c>, and <see cref="WorkerPool.Dispose"/> neither deadlocks
/// under a single-threaded <see cref="SynchronizationContext"/> nor on a thread pool thread.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class SynchronousDisposalTests : TempDirFixture
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static readonly string ReferenceWorker = Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    private WorkerPool Pool() => WorkerPool.Create(
        WorkerSpecification.FromProto(Specs.Direct([ReferenceWorker], initializationTimeoutMs: 20_000, gracefulTerminationTimeoutMs: 1000)),
        new WorkerPoolOptions { Process = new WorkerProcessOptions { SocketDirectory = Dir.Path } });

    private static void AssertStopped(PooledWorkerInfo worker)
    {
        Assert.Multiple(() =>
        {
            Assert.That(Processes.IsAlive(worker.ProcessId), Is.False, "the worker process is gone");
            Assert.That(Directory.Exists(Path.GetDirectoryName(worker.Address.SocketPath)), Is.False, "its socket directory is removed");
        });
    }

    [Test]
    public async Task Disposing_a_service_provider_that_holds_a_pool_stops_its_worker()
    {
        var services = new ServiceCollection();
        services.AddSingleton(_ => Pool());
        var provider = services.BuildServiceProvider();
        var worker = (await provider.GetRequiredService<WorkerPool>().StartWorkersAsync(1).WaitAsync(Bound)).Single();

        provider.Dispose();

        AssertStopped(worker);
    }

    [Test]
    public async Task Dispose_under_a_single_threaded_synchronization_context_does_not_deadlock()
    {
        var pool = Pool();
        var worker = (await pool.StartWorkersAsync(1).WaitAsync(Bound)).Single();
        Exception? failure = null;

        // The context runs what is posted to it only after Dispose returns, on the thread that
        // blocks in Dispose: a continuation posted to it would never run.
        var thread = new Thread(() =>
        {
            var context = new DeferringContext();
            SynchronizationContext.SetSynchronizationContext(context);
            try
            {
                pool.Dispose();
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            context.RunPosted();
        });
        thread.Start();

        Assert.That(thread.Join(Bound), Is.True, "Dispose returned");
        Assert.That(failure, Is.Null, failure?.ToString());
        AssertStopped(worker);
    }

    [Test]
    public async Task Dispose_on_thread_pool_threads_stops_every_pool()
    {
        var pools = Enumerable.Range(0, 3).Select(_ => Pool()).ToList();
        var workers = new List<PooledWorkerInfo>();
        foreach (var pool in pools)
        {
            workers.AddRange(await pool.StartWorkersAsync(1).WaitAsync(Bound));
        }

        await Task.WhenAll(pools.Select(pool => Task.Run(pool.Dispose))).WaitAsync(Bound);

        foreach (var worker in workers)
        {
            AssertStopped(worker);
        }
    }

    [Test]
    public async Task Dispose_after_DisposeAsync_and_twice_is_harmless()
    {
        var pool = Pool();
        var worker = (await pool.StartWorkersAsync(1).WaitAsync(Bound)).Single();

        await pool.DisposeAsync().AsTask().WaitAsync(Bound);
        pool.Dispose();
        pool.Dispose();

        AssertStopped(worker);
    }

    [Test]
    public void A_client_disposed_synchronously_in_a_container_is_closed()
    {
        var services = new ServiceCollection();
        services.AddSingleton(_ => WorkerClient.Create("unix:///tmp/nobody-listens.sock"));
        var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<WorkerClient>();

        provider.Dispose();

        Assert.ThrowsAsync<ObjectDisposedException>(async () => await client.OpenSessionAsync());
    }

    /// <summary>Keeps posted callbacks until <see cref="RunPosted"/>.</summary>
    private sealed class DeferringContext : SynchronizationContext
    {
        private readonly ConcurrentQueue<(SendOrPostCallback Callback, object? State)> _posted = new();

        public override void Post(SendOrPostCallback d, object? state) => _posted.Enqueue((d, state));

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("Send would block this context's thread.");

        public void RunPosted()
        {
            while (_posted.TryDequeue(out var item))
            {
                item.Callback(item.State);
            }
        }
    }
}
