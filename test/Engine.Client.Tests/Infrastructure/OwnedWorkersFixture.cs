using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// The base of fixtures whose tests start their own worker processes (and servers such as a DNS
/// server): each is disposed after its test, the last started first.
/// </summary>
public abstract class OwnedWorkersFixture
{
    private readonly List<IAsyncDisposable> _owned = [];

    [TearDown]
    public async Task DisposeOwned()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        _owned.Clear();
    }

    /// <summary>Disposes <paramref name="owned"/> after the current test.</summary>
    private protected T Own<T>(T owned)
        where T : IAsyncDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    /// <summary>A reference worker for the current test, on TCP (an ephemeral port unless <paramref name="port"/>) or, with <paramref name="tcp"/> false, a Unix socket.</summary>
    private protected async Task<ReferenceWorkerProcess> StartWorkerAsync(bool tcp = true, int? port = null) =>
        Own(await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = tcp, Port = port }));
}
