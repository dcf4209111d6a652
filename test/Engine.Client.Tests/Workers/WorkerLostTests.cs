using System.Runtime.Versioning;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Workers;

namespace Engine.Client.Tests.Workers;

/// <summary>
/// How a lost worker shows: <see cref="WorkerPool.WorkerLost"/> fires once with the reason, and
/// the worker reads <see cref="PooledWorkerState.Unhealthy"/> (not Stopping) while it is stopped.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class WorkerLostTests : TempDirFixture
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static readonly string ReferenceWorker = Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    private WorkerSpecification Spec() =>
        WorkerSpecification.FromProto(Specs.Direct([ReferenceWorker], initializationTimeoutMs: 20_000, gracefulTerminationTimeoutMs: 1000));

    [Test]
    public async Task A_worker_killed_from_outside_raises_WorkerLost_once_with_its_reason_and_the_pool_stops_it()
    {
        await using var pool = WorkerPool.Create(Spec(), new WorkerPoolOptions { Process = new WorkerProcessOptions { SocketDirectory = Dir.Path } });
        var lost = new List<PooledWorkerInfo>();
        var first = new TaskCompletionSource<PooledWorkerInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        pool.WorkerLost += (sender, worker) =>
        {
            Assert.That(sender, Is.SameAs(pool));
            lock (lost)
            {
                lost.Add(worker);
            }

            first.TrySetResult(worker);
        };
        var started = (await pool.StartWorkersAsync(1).WaitAsync(Bound)).Single();

        Assert.That(NativeMethods.Kill(started.ProcessId, NativeMethods.SIGKILL), Is.Zero);
        var info = await first.Task.WaitAsync(Bound);
        await pool.DisposeAsync().AsTask().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(info.Id, Is.EqualTo(started.Id));
            Assert.That(info.State, Is.EqualTo(PooledWorkerState.Unhealthy));
            Assert.That(info.UnhealthyReason, Does.Contain("SIGKILL"));
            Assert.That(lost, Has.Count.EqualTo(1), "once, and not for the workers the pool stops itself");
        });
    }

    [Test]
    public async Task An_unhealthy_worker_being_stopped_reads_Unhealthy()
    {
        await using var process = await WorkerProcess.StartAsync(Spec(), new WorkerProcessOptions { SocketDirectory = Dir.Path }).WaitAsync(Bound);
        var worker = new PooledWorker(process, TimeProvider.System) { Healthy = false, UnhealthyReason = "lost", Stopping = true };
        var stopping = new PooledWorker(process, TimeProvider.System) { Stopping = true };

        Assert.Multiple(() =>
        {
            Assert.That(worker.Describe().State, Is.EqualTo(PooledWorkerState.Unhealthy));
            Assert.That(stopping.Describe().State, Is.EqualTo(PooledWorkerState.Stopping));
        });
    }
}
