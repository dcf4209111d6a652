using System.Diagnostics;
using System.Runtime.Versioning;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// The base of fixtures whose every test gets its own temporary directory (sockets, scripts,
/// specifications), removed after the test.
/// </summary>
[UnsupportedOSPlatform("windows")]
public abstract class TempDirFixture
{
    private TempDir? _dir;

    /// <summary>The current test's directory.</summary>
    private protected TempDir Dir => _dir ?? throw new InvalidOperationException("No test is running.");

    [SetUp]
    public void CreateTempDir() => _dir = new TempDir();

    [TearDown]
    public void RemoveTempDir()
    {
        _dir?.Dispose();
        _dir = null;
    }
}

/// <summary>
/// The base of fixtures that start real worker processes with their sockets under the test's own
/// directory: a test fails when a worker process outlives it or leaves its socket directory behind
/// (and such a process is killed, so it cannot disturb the next test).
/// </summary>
[UnsupportedOSPlatform("windows")]
public abstract class WorkerProcessFixture : TempDirFixture
{
    /// <summary>The reference worker's executable.</summary>
    private protected static string ReferenceWorker => global::Engine.Client.Tests.ReferenceWorker.ReferenceWorkerProcess.ExecutablePath;

    /// <summary>
    /// A pool of reference workers with their sockets in this test's directory, protocol timeouts of
    /// minutes and a fast heartbeat (200 ms interval, 500 ms timeout, two misses), graceful
    /// termination in <paramref name="gracefulTerminationTimeoutMs"/>; <paramref name="spec"/> and
    /// <paramref name="adjust"/> change the specification and the options last.
    /// </summary>
    private protected WorkerPool ReferencePool(
        bool reuse,
        bool concurrent,
        int gracefulTerminationTimeoutMs = 1000,
        Action<WorkerPoolOptions>? adjust = null,
        Action<Engine.Client.Protocol.UDFWorkerSpecification>? spec = null)
    {
        var proto = Specs.Direct([ReferenceWorker], gracefulTerminationTimeoutMs: gracefulTerminationTimeoutMs);
        proto.Capabilities.SupportsReuse = reuse;
        proto.Capabilities.SupportsConcurrentUdfs = concurrent;
        spec?.Invoke(proto);
        var options = new WorkerPoolOptions
        {
            Process = new WorkerProcessOptions { SocketDirectory = Dir.Path },
            Session = TaskTimeouts.HugeTimeouts(),
            HeartbeatInterval = TimeSpan.FromMilliseconds(200),
            HeartbeatTimeout = TimeSpan.FromMilliseconds(500),
            MaxMissedHeartbeats = 2,
        };
        adjust?.Invoke(options);
        return WorkerPool.Create(WorkerSpecification.FromProto(proto), options);
    }

    /// <summary>Processes whose command line names this test's directory.</summary>
    private protected int[] LiveWorkers() => Processes.CommandLineNames(Dir.Path);

    [TearDown]
    public void AssertNoWorkerOutlivesTheTest()
    {
        try
        {
            Assert.That(LiveWorkers(), Is.Empty, "no worker process may outlive its test");
            Assert.That(Directory.GetDirectories(Dir.Path, "ecw-*"), Is.Empty, "no socket directory may be left behind");
        }
        finally
        {
            foreach (var pid in LiveWorkers())
            {
                Process.GetProcessById(pid).Kill(entireProcessTree: true);
            }
        }
    }
}
