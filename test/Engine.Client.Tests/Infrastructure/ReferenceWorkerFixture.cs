using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>The base of fixtures whose tests share one reference worker process, started once per fixture.</summary>
public abstract class ReferenceWorkerFixture
{
    /// <summary>The fixture's worker, listening on a Unix domain socket.</summary>
    protected ReferenceWorkerProcess Worker { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartWorker() => Worker = await ReferenceWorkerProcess.StartAsync();

    [OneTimeTearDown]
    public async Task StopWorker() => await Worker.DisposeAsync();
}
