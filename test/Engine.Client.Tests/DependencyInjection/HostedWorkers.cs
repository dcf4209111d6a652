using System.Runtime.Versioning;
using System.Text;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.Workers;
using Google.Protobuf;
using static Engine.Client.Tests.Infrastructure.Inputs;

namespace Engine.Client.Tests.DependencyInjection;

/// <summary>What the container tests share: a reference-worker specification on disk, a socket directory, and a session through a pool.</summary>
[UnsupportedOSPlatform("windows")]
internal static class HostedWorkers
{
    public static readonly string ReferenceWorker = Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    /// <summary>The reference worker's specification (reusable), written as protobuf JSON; its path.</summary>
    public static string WriteSpecification(TempDir dir, UDFWorkerSpecification? specification = null)
    {
        var spec = specification ?? Specs.Direct([ReferenceWorker], gracefulTerminationTimeoutMs: 1000);
        var path = dir.File("worker.spec.json");
        File.WriteAllText(path, JsonFormatter.Default.Format(spec));
        return path;
    }

    /// <summary>Configuration keys of a pool bound from <c>EngineClient:Pools:{name}</c>, with test-friendly heartbeats.</summary>
    public static Dictionary<string, string?> PoolConfiguration(string name, string specificationPath, string socketDirectory, bool startWithHost) => new()
    {
        [$"EngineClient:Pools:{name}:SpecificationPath"] = specificationPath,
        [$"EngineClient:Pools:{name}:StartWithHost"] = startWithHost ? "true" : "false",
        [$"EngineClient:Pools:{name}:WorkersAtStart"] = "1",
        [$"EngineClient:Pools:{name}:Pool:MaxIdleWorkers"] = "1",
        [$"EngineClient:Pools:{name}:Pool:HeartbeatInterval"] = "00:00:00.200",
        [$"EngineClient:Pools:{name}:Pool:HeartbeatTimeout"] = "00:00:05",
        [$"EngineClient:Pools:{name}:Pool:Process:SocketDirectory"] = socketDirectory,
    };

    /// <summary>An echo session of two batches on the pool; its outcome.</summary>
    public static async Task<SessionOutcome> EchoAsync(WorkerPool pool, bool cancel = false)
    {
        await using var session = await pool.OpenSessionAsync(TaskTimeouts.HugeTimeouts()).DefaultTimeout();
        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "echo")).DefaultTimeout();
        if (cancel)
        {
            session.Cancel("the test cancels");
            return await session.CloseAsync().DefaultTimeout();
        }

        var output = await session.ProcessAsync(Items("ab", "cde")).ToListAsync();
        Assert.That(output.Select(b => Encoding.UTF8.GetString(b.Span)), Is.EqualTo(new[] { "ab", "cde" }));
        return await session.CloseAsync().DefaultTimeout();
    }
}
