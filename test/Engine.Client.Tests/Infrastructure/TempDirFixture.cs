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
